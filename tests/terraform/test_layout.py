"""Module layout and conventions: typed, described variables; described outputs; dev and prod roots
with a GCS backend; per-function settings complete and consistent in topology.json."""

import re

from shared.topology import topology
from tests.terraform.hcl import TERRAFORM, blocks, one, parse, resources

INGRESS = {"ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"}


def test_every_variable_is_typed_and_described():
    for module, block in blocks("variable"):
        for name, body in block.items():
            assert body.get("type") and body.get("description"), f"{module}: variable {name}"


def test_every_output_is_described():
    for module, block in blocks("output"):
        for name, body in block.items():
            assert body.get("description"), f"{module}: output {name}"


def test_each_module_declares_its_providers():
    for module in sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir()):
        versions = parse(module / "versions.tf")["terraform"][0]
        assert "google" in versions["required_providers"][0], module.name


def test_envs_dev_and_prod_use_the_stack_with_a_gcs_backend():
    for env in ("dev", "prod"):
        root = TERRAFORM / "envs" / env
        backend = parse(root / "backend.tf")["terraform"][0]["backend"][0]["gcs"]
        assert backend["prefix"] == f"ledgerline/{env}" and "bucket" not in backend, env
        stack = parse(root / "main.tf")["module"][0]["ledgerline"]
        assert stack["source"] == "../../modules/stack" and stack["env"] == env
        assert stack["livemode"] is (env == "prod")
        assert "project_id" in parse(root / "variables.tf")["variable"][0]
        outputs = {name for block in parse(root / "outputs.tf")["output"] for name in block}
        assert {"function_urls", "topics", "webhook_url"} <= outputs


def test_function_settings_are_complete_and_valid():
    topo = topology()
    topics = {t["name"] for t in topo["pubsub"]["topics"]}
    queues = {q["name"] for q in topo["tasks"]["queues"]}
    tables = {t["name"] for t in topo["bigquery"]["tables"]}
    for name, fn in topo["functions"].items():
        c = fn["cloud"]
        assert re.fullmatch(r"\d+(Mi|Gi|M|G)", c["memory"]), name
        assert c["ingress"] in INGRESS, name
        assert 1 <= c["timeout_seconds"] <= 3600 and 1 <= c["max_instances"], name
        assert set(c["min_instances"]) == {"dev", "prod"}, name
        assert all(0 <= n <= c["max_instances"] for n in c["min_instances"].values()), name
        assert 1 <= c["concurrency"] <= 1000, name
        if c["concurrency"] > 1:
            assert float(c["cpu"]) >= 1, f"{name}: concurrency > 1 needs at least 1 CPU"
        a = c["access"]
        assert a["datastore"] in (None, "user", "viewer"), name
        assert set(a["publishes"]) <= topics and set(a["enqueues"]) <= queues, name
        assert set(a["tables_write"]) <= tables and set(a["tables_read"]) <= tables, name
    service = one("google_cloudfunctions2_function").body["service_config"][0]
    for arg, key in (
        ("available_memory", "memory"),
        ("available_cpu", "cpu"),
        ("timeout_seconds", "timeout_seconds"),
        ("max_instance_count", "max_instances"),
        ("max_instance_request_concurrency", "concurrency"),
        ("ingress_settings", "ingress"),
    ):
        if arg != "ingress_settings":  # switched by the edge: tests/terraform/test_edge.py
            assert service[arg] == f"${{each.value.cloud.{key}}}", arg
    assert service["min_instance_count"] == "${each.value.cloud.min_instances[var.env]}"


def test_sources_are_content_addressed_and_built_by_make_build():
    """The zip `make build` writes (reproducible: tests/unit/test_build.py), named by its sha256."""
    obj = one("google_storage_bucket_object").body
    assert obj["source"] == "${var.build_dir}/${each.key}.zip"
    assert obj["name"] == '${each.key}/${filesha256("${var.build_dir}/${each.key}.zip")}.zip'
    assert not [b for _, b in blocks("data") if "archive_file" in b]  # no zips made by Terraform


def test_prod_is_protected():
    assert one("google_bigquery_table").body["deletion_protection"] == "${var.protect}"
    db = one("google_firestore_database").body
    assert "var.protect" in db["delete_protection_state"] and "var.protect" in db["point_in_time_recovery_enablement"]
    stack = TERRAFORM / "modules" / "stack" / "main.tf"
    assert 'protect   = var.env == "prod"' in stack.read_text()


def test_functions_egress_directly_without_a_vpc():
    # terraform/README.md (Egress): no VPC connector, so a tenant's webhook URL can reach no private
    # range through the network; the SSRF guard in code is the rest.
    service = one("google_cloudfunctions2_function").body["service_config"][0]
    assert "vpc_connector" not in service and "vpc_connector_egress_settings" not in service
    assert not [r for r in resources() if r.type.startswith(("google_vpc_access", "google_compute_network"))]
