"""Least privilege: one runtime identity per function, no primitive roles, invoker grants only where a
caller exists, and every role the configuration grants is on a reviewed list."""

import re

from shared.topology import topology
from tests.terraform.hcl import module_call, one, resources, source_text, sub_blocks

PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}
# Every role Terraform may grant. Adding one is a review decision: put it here with its reason.
REVIEWED_ROLES = {
    "roles/datastore.user": "functions that read and write the ledger / inbox (project-level only)",
    "roles/datastore.viewer": "read-only Datastore access (topology access.datastore = viewer)",
    "roles/bigquery.jobUser": "running queries (reconciliation); data access is per table",
    "roles/bigquery.dataEditor": "streaming inserts, granted per table",
    "roles/bigquery.dataViewer": "reading a table, granted per table",
    "roles/pubsub.publisher": "per topic; and the Pub/Sub service agent on dead-letter topics",
    "roles/pubsub.subscriber": "the Pub/Sub service agent on dead-lettering subscriptions",
    "roles/cloudtasks.enqueuer": "per queue",
    "roles/iam.serviceAccountUser": "enqueuers act as the tasks invoker (OIDC in tasks), on that SA only",
    "roles/iam.serviceAccountTokenCreator": "the Pub/Sub service agent mints push OIDC tokens, on the push SA only",
    "roles/secretmanager.secretAccessor": "per secret, per function that lists it",
    "roles/run.invoker": "per function, per caller identity; allUsers on public functions",
    "roles/storage.objectViewer": "reports bucket readers; the builder on the sources bucket",
    "roles/storage.objectCreator": "report uploaders (write-only)",
    "roles/storage.objectAdmin": "the builder, on gcf-v2-* staging buckets only (IAM condition)",
    "roles/logging.logWriter": "the builder's build logs",
    "roles/artifactregistry.writer": "the builder's images",
    "roles/cloudkms.cryptoKeyEncrypter": "the payments key only: the functions that seal account numbers (api)",
    "roles/cloudkms.cryptoKeyDecrypter": "the payments key only: the one function that pays out (payments)",
}


def granted_roles() -> set[str]:
    code = "\n".join(line for line in source_text().splitlines() if not line.strip().startswith("#"))
    return set(re.findall(r"roles/[A-Za-z0-9_.]+", code))


def test_no_primitive_role_anywhere():
    assert not granted_roles() & PRIMITIVE


def test_every_granted_role_is_reviewed():
    unreviewed = granted_roles() - set(REVIEWED_ROLES)
    assert not unreviewed, f"new role(s) {unreviewed}: add them to REVIEWED_ROLES with the reason"


def test_every_function_runs_as_its_own_service_account():
    function_sas = [r for r in resources("google_service_account") if r.body.get("for_each")]
    assert [r.name for r in function_sas] == ["function"], "only the runtime identities are per function"
    assert function_sas[0].body["for_each"] == "${var.functions}"
    assert "${each.key}" in function_sas[0].body["account_id"]
    service = one("google_cloudfunctions2_function").body["service_config"][0]
    assert service["service_account_email"] == "${var.service_account_emails[each.key]}"
    call = module_call("functions")
    assert call["service_account_emails"] == "${module.identity.function_emails}"
    assert call["functions"] == "${local.functions}"
    assert module_call("identity")["functions"] == "${local.functions}"


def test_account_ids_are_valid_and_distinct():
    names = [f"fn-{name}" for name in topology()["functions"]]
    fixed = [r.body["account_id"] for r in resources("google_service_account") if not r.body.get("for_each")]
    for account_id in names + fixed:
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id), account_id
    assert len(set(names + fixed)) == len(names + fixed)


def test_project_level_grants_are_few():
    allowed = {"roles/datastore.user", "roles/datastore.viewer", "roles/bigquery.jobUser", "roles/storage.objectAdmin"}
    for r in resources("google_project_iam_member"):
        role = r.body["role"]
        if role == "${each.key}" or role == "${each.value}":
            continue  # datastore map / builder set, checked below through their sources
        assert role in allowed, r.address
        if role == "roles/storage.objectAdmin":
            assert "gcf-v2-" in r.body["condition"][0]["expression"], "objectAdmin only with the gcf-v2-* condition"


def test_invokers_only_where_a_caller_exists():
    topo = topology()
    run_iam = {r.name: r for r in resources("google_cloud_run_v2_service_iam_member")}
    assert set(run_iam) == {"invoker", "public"}
    assert run_iam["public"].body["member"] == "allUsers"
    assert run_iam["public"].body["for_each"] == "${local.public}"
    public = {name for name, fn in topo["functions"].items() if fn["public"]}
    assert public == {"intake", "api"}, "public functions are partner webhooks and the customer API only"

    callers = {
        "pubsub-push": {s["push_to"] for s in topo["pubsub"]["subscriptions"] if s.get("push_to")},
        "tasks": {q["target"] for q in topo["tasks"]["queues"]},
        "scheduler": {j["target"] for j in topo["scheduler"]["jobs"]},
    }
    called = set().union(*callers.values())
    for name, fn in topo["functions"].items():
        ingress = fn["cloud"]["ingress"]
        if fn["public"]:
            assert ingress == "ALLOW_ALL", name
        else:
            assert ingress == "ALLOW_INTERNAL_ONLY", f"{name}: not public, so internal only"
            assert name in called, f"{name} is neither public nor called by anything"
    stack = source_text()
    for caller, source in (
        ("pubsub-push", "local.topology.pubsub.subscriptions : s.push_to"),
        ("tasks", "local.topology.tasks.queues : q.target"),
        ("scheduler", "local.topology.scheduler.jobs : j.target"),
    ):
        assert f'"{caller}"' in stack and source in stack, f"invoker {caller} must derive its targets from topology"


def test_pubsub_agent_and_tasks_grants():
    grants = {r.name: r.body for r in resources("google_service_account_iam_member")}
    agent = grants["pubsub_agent_token_creator"]
    assert agent["role"] == "roles/iam.serviceAccountTokenCreator"
    assert agent["service_account_id"] == "${google_service_account.pubsub_push.name}"
    acts_as = grants["task_enqueuer_acts_as_invoker"]
    assert acts_as["role"] == "roles/iam.serviceAccountUser"
    assert acts_as["service_account_id"] == "${google_service_account.tasks.name}"
    enqueuers = {n for n, fn in topology()["functions"].items() if fn["cloud"]["access"]["enqueues"]}
    # reconciliation: fee bookings stream; payments: its own steps, and its postings stream; every
    # function that commits customer events asks the webhooks queue for a fan-out; webhooks: its own
    # deliveries and replays
    assert enqueuers == {"intake", "ledger", "retries", "api", "reconciliation", "payments", "webhooks"}


def test_secrets_reach_only_the_functions_that_list_them():
    reader = one("google_secret_manager_secret_iam_member").body
    assert reader["for_each"] == "${local.secret_readers}"
    assert reader["member"] == "serviceAccount:${var.service_account_emails[each.value.function]}"
    fn = one("google_cloudfunctions2_function").body
    secret_env = sub_blocks(fn["service_config"][0], "secret_environment_variables")
    assert secret_env and secret_env[0]["version"] == "latest"


def test_account_numbers_open_only_in_the_payments_function():
    access = {name: fn["cloud"]["access"].get("kms") for name, fn in topology()["functions"].items()}
    assert {name for name, kms in access.items() if kms == "decrypt"} == {"payments"}
    assert {name for name, kms in access.items() if kms == "encrypt"} == {"api"}
    assert set(access.values()) <= {None, "encrypt", "decrypt"}
    members = {r.name: r.body for r in resources("google_kms_crypto_key_iam_member")}
    assert members["encrypter"]["for_each"] == "${var.encrypters}"
    assert members["decrypter"]["for_each"] == "${var.decrypters}"
    assert members["decrypter"]["role"] == "roles/cloudkms.cryptoKeyDecrypter"
    key = one("google_kms_crypto_key").body
    assert key["lifecycle"][0]["prevent_destroy"] is True and key["rotation_period"]
