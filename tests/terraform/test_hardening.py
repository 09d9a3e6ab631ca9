"""Hardening of the Terraform that structural tests can see: Data Access audit logs in prod
(docs/operations.md: Cloud Storage, the ledger's Datastore — every principal but the functions' own
service accounts — and Secret Manager, each its own google_project_iam_audit_config, never one
authoritative over other services), and provider bounds."""

from tests.terraform.hcl import resources


def test_prod_logs_data_access_to_storage_datastore_and_secret_manager():
    configs = {r.body["service"]: r.body for r in resources("google_project_iam_audit_config")}
    assert set(configs) >= {"storage.googleapis.com", "datastore.googleapis.com", "secretmanager.googleapis.com"}
    for body in configs.values():
        assert body["count"] == "${local.protect ? 1 : 0}"  # prod only (dev stays cheap)
    datastore = {c["log_type"]: c for c in configs["datastore.googleapis.com"]["audit_log_config"]}
    assert set(datastore) == {"DATA_READ", "DATA_WRITE"}
    assert all(c["exempted_members"] == "${sort(values(local.sa))}" for c in datastore.values())
    secrets = configs["secretmanager.googleapis.com"]["audit_log_config"]
    assert [c["log_type"] for c in secrets] == ["DATA_READ"] and "exempted_members" not in secrets[0]
    assert not resources("google_project_iam_audit_configs")  # no authoritative project-wide form


def test_every_module_bounds_the_google_provider_to_one_major_version():
    """A module that allows any future major version breaks on the day 7.0 changes an argument."""
    from tests.terraform.hcl import MODULES, parse

    for versions in sorted(MODULES.glob("*/versions.tf")):
        (required,) = parse(versions)["terraform"]
        google = required["required_providers"][0]["google"]
        assert google["version"] == ">= 6.0, < 7.0", versions
