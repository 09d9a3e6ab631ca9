"""Least privilege: one runtime identity per function, no primitive roles, invoker grants only where a
caller exists, and every role the configuration grants is on a reviewed list."""

import ast
import re

from shared.config import REPO_ROOT
from shared.topology import topology
from tests.terraform.hcl import blocks, locals_of, module_call, one, resources, source_text, sub_blocks

PINNED_OR_LATEST = '${lookup(var.secret_versions, secret_environment_variables.value, "latest")}'  # rotation: a pin

PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}
DEPLOYER = "the CI deployer (modules/delivery), project-level: docs/deploy.md's list (tests/terraform/test_delivery.py)"
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
    "roles/iam.serviceAccountTokenCreator": "the Pub/Sub service agent mints push OIDC tokens, on the push SA only; "
    "the api signs statement-export URLs (signBlob), on its own SA only",
    "roles/secretmanager.secretAccessor": "per secret, per function that lists it",
    "roles/run.invoker": "per function, per caller identity; allUsers on public functions; the IAP service agent "
    "on the function that serves the console (when edge.console is set)",
    "roles/iap.httpsResourceAccessor": "edge.console.operators, on the console's IAP backend only",
    "roles/storage.objectViewer": "reports bucket readers; the builder on the sources bucket",
    "roles/storage.objectCreator": "report uploaders (write-only)",
    "roles/storage.objectAdmin": "the builder, on gcf-v2-* staging buckets only (IAM condition)",
    "roles/logging.logWriter": "the builder's build logs",
    "roles/artifactregistry.writer": "the builder's images",
    "roles/cloudkms.cryptoKeyEncrypter": "per key: functions that seal but must not open (api: account numbers)",
    "roles/cloudkms.cryptoKeyDecrypter": "per key: functions that only open (payments: accounts; webhooks: secrets)",
    "roles/cloudkms.cryptoKeyEncrypterDecrypter": "per key: api on webhook secrets (seals, shows them to the tenant)",
    "roles/artifactregistry.admin": DEPLOYER,
    "roles/bigquery.admin": DEPLOYER,
    "roles/cloudfunctions.admin": DEPLOYER,
    "roles/cloudkms.admin": DEPLOYER,
    "roles/cloudscheduler.admin": DEPLOYER,
    "roles/cloudtasks.admin": DEPLOYER,
    "roles/datastore.owner": DEPLOYER,
    "roles/iam.serviceAccountAdmin": DEPLOYER,
    "roles/logging.configWriter": DEPLOYER,
    "roles/monitoring.editor": DEPLOYER,
    "roles/pubsub.admin": DEPLOYER,
    "roles/resourcemanager.projectIamAdmin": DEPLOYER,
    "roles/run.admin": DEPLOYER,
    "roles/secretmanager.admin": DEPLOYER,
    "roles/serviceusage.serviceUsageAdmin": DEPLOYER,
    "roles/storage.admin": DEPLOYER,
    "roles/iam.workloadIdentityUser": "GitHub Actions of this repository act as the deployer (WIF), on it only",
}
# topology cloud.access.kms modes and the one role each grants on its key (terraform/modules/keys)
KMS_ROLES = {
    "encrypt": "roles/cloudkms.cryptoKeyEncrypter",
    "decrypt": "roles/cloudkms.cryptoKeyDecrypter",
    "encrypt_decrypt": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
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
    assert set(run_iam) == {"invoker", "public", "iap_console"}
    iap = run_iam["iap_console"].body  # IAP reaches the console's function as its service agent
    assert iap["count"] == "${var.edge.enabled && var.edge.console != null ? 1 : 0}"
    assert iap["member"] == "serviceAccount:service-${local.project_number}@gcp-sa-iap.iam.gserviceaccount.com"
    assert iap["name"] == "${module.functions.services[local.console_function]}"
    assert run_iam["public"].body["member"] == "allUsers"
    # allUsers on the public functions unless public_invoker is off (Domain Restricted Sharing: test_edge.py)
    assert run_iam["public"].body["for_each"] == "${var.public_invoker ? local.public : toset([])}"
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


# topology caller (modules/stack local.callers) => the Settings attribute a function admits it by
CALLER_SETTINGS = {"pubsub-push": "push_invoker_sa", "tasks": "tasks_invoker_sa", "scheduler": "scheduler_invoker_sa"}


def admitted_callers(function: str) -> set[str] | None:
    """The Settings attributes functions/<function>/main.py passes to verify_invoker (None: no call)."""
    tree = ast.parse((REPO_ROOT / "functions" / function / "main.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "verify_invoker":
            allowed = node.args[3]
            assert isinstance(allowed, ast.Tuple), f"{function}: verify_invoker's allowed callers are a literal tuple"
            return {e.attr for e in allowed.elts if isinstance(e, ast.Attribute)}
    return None


def test_functions_admit_exactly_the_callers_terraform_lets_invoke_them():
    # Cloud Run IAM lets a caller in (run.invoker); the function checks the token's identity again. A
    # caller granted in IAM but not admitted in code is refused in the cloud only (no OIDC locally).
    topo = topology()
    callers = {
        "pubsub-push": {s["push_to"] for s in topo["pubsub"]["subscriptions"] if s.get("push_to")},
        "tasks": {q["target"] for q in topo["tasks"]["queues"]},
        "scheduler": {j["target"] for j in topo["scheduler"]["jobs"]},
    }
    for name, fn in topo["functions"].items():
        admitted = admitted_callers(name)
        if fn["public"]:
            assert admitted is None, f"{name} is public: it authenticates its callers itself"
            continue
        granted = {CALLER_SETTINGS[caller] for caller, targets in callers.items() if name in targets}
        if admitted is None:  # the ledger: Cloud Run IAM alone (run.invoker for the push identity only)
            assert name == "ledger" and granted == {"push_invoker_sa"}, f"{name} checks no caller identity"
            continue
        assert admitted == granted, f"{name}: code admits {admitted}, Terraform grants {granted}"


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
    # function that commits customer events asks the webhooks-control queue for a fan-out; webhooks:
    # its own deliveries and replays; exports: the next attempt of a failed export
    assert enqueuers == {"intake", "ledger", "retries", "api", "reconciliation", "payments", "webhooks", "exports"}
    access = {n: set(fn["cloud"]["access"]["enqueues"]) for n, fn in topology()["functions"].items()}
    # deliveries are enqueued by the webhooks function, and by api for an operator's dead-letter replay
    assert {n for n, queues in access.items() if "webhooks" in queues} == {"webhooks", "api"}
    # exports commit no customer event (an export's record is not money)
    assert {n for n, queues in access.items() if "webhooks-control" in queues} == set(access) - {"intake", "exports"}
    # exports run on their own function; api enqueues them, the function its own retries
    assert {n for n, queues in access.items() if "exports" in queues} == {"api", "exports"}


def test_secrets_reach_only_the_functions_that_list_them():
    reader = one("google_secret_manager_secret_iam_member").body
    assert reader["for_each"] == "${local.secret_readers}"
    assert reader["member"] == "serviceAccount:${var.service_account_emails[each.value.function]}"
    fn = one("google_cloudfunctions2_function").body
    secret_env = sub_blocks(fn["service_config"][0], "secret_environment_variables")
    assert secret_env and secret_env[0]["version"] == PINNED_OR_LATEST


def kms_access() -> dict[str, dict[str, str]]:
    """function => {key name => mode}, from topology cloud.access.kms."""
    return {name: fn["cloud"]["access"].get("kms", {}) for name, fn in topology()["functions"].items()}


def users_of(key: str) -> set[tuple[str, str]]:
    return {(name, access[key]) for name, access in kms_access().items() if key in access}


def test_kms_access_names_declared_keys_and_known_modes():
    keys = [k["name"] for k in topology()["kms"]["keys"]]
    assert len(keys) == len(set(keys))
    for name, access in kms_access().items():
        assert isinstance(access, dict), f"{name}: cloud.access.kms is a map, key name => mode"
        assert set(access) <= set(keys), f"{name}: unknown key(s) {set(access) - set(keys)}"
        assert set(access.values()) <= set(KMS_ROLES), name
    for key in keys:  # a key that nobody seals with, or nobody opens, is a mistake
        modes = {mode for _, mode in users_of(key)}
        assert modes & {"encrypt", "encrypt_decrypt"} and modes & {"decrypt", "encrypt_decrypt"}, key


def test_account_numbers_open_only_in_the_payments_function():
    # api seals a payout destination and can never read it back; payments opens it to pay out.
    assert users_of("account-numbers") == {("api", "encrypt"), ("payments", "decrypt")}


def test_webhook_secrets_are_sealed_by_api_and_opened_by_api_and_webhooks_only():
    # api seals a secret when an endpoint is created or rotated and shows it to its tenant
    # (GET /v1/webhook-endpoints/{id}/secret); webhooks signs deliveries with it and never seals.
    assert users_of("webhook-secrets") == {("api", "encrypt_decrypt"), ("webhooks", "decrypt")}


def test_kms_grants_are_one_role_per_key_and_function():
    member = one("google_kms_crypto_key_iam_member").body
    assert member["for_each"] == "${var.grants}"
    assert member["crypto_key_id"] == "${google_kms_crypto_key.this[each.value.key].id}"
    assert member["role"] == "${local.roles[each.value.access]}" and member["member"] == "${each.value.member}"
    assert locals_of("modules/keys")["roles"] == KMS_ROLES
    assert module_call("keys")["grants"] == "${local.kms_grants}"
    grants = locals_of("modules/stack")["kms_grants"]
    assert "try(fn.cloud.access.kms, {})" in grants and '"${key}/${name}" =>' in grants
    assert "access = access" in grants and "member = local.sa[name]" in grants
    # additive members only: an authoritative binding or policy would drop grants made elsewhere
    assert not resources("google_kms_crypto_key_iam_binding") and not resources("google_kms_crypto_key_iam_policy")


def test_every_topology_key_is_a_rotated_protected_crypto_key():
    keys = topology()["kms"]["keys"]
    assert all(k["name"] and k["env"] and k["purpose"] for k in keys)
    key = one("google_kms_crypto_key").body
    assert key["for_each"] == "${var.keys}" and key["name"] == "${each.key}"
    assert key["lifecycle"][0]["prevent_destroy"] is True
    assert re.fullmatch(r"\d+s", key["rotation_period"]) and int(key["rotation_period"][:-1]) <= 90 * 86400
    assert key["version_template"][0]["protection_level"] == "${var.protection_level}"
    assert key["key_ring"] == "${google_kms_key_ring.this.id}"
    assert module_call("keys")["keys"] == "${{for name, key in local.kms_keys : name => key.purpose}}"
    assert locals_of("modules/stack")["kms_keys"] == "${{for key in local.topology.kms.keys : key.name => key}}"


def test_moved_blocks_keep_the_account_numbers_key_and_its_grants():
    # Before the keys were per topology entry, the module had one key and two grant maps.
    moved = {b["from"]: b["to"] for module, b in blocks("moved") if module == "modules/keys"}
    assert moved == {
        "${google_kms_crypto_key.account_numbers}": '${google_kms_crypto_key.this["account-numbers"]}',
        '${google_kms_crypto_key_iam_member.encrypter["api"]}': (
            '${google_kms_crypto_key_iam_member.this["account-numbers/api"]}'
        ),
        '${google_kms_crypto_key_iam_member.decrypter["payments"]}': (
            '${google_kms_crypto_key_iam_member.this["account-numbers/payments"]}'
        ),
    }
    assert not [module for module, _ in blocks("moved") if module != "modules/keys"]
    # The targets exist (a key of topology kms.keys; "<key>/<function>" grants), with the roles the old
    # resources had (encrypter: encrypt, decrypter: decrypt): moved, not replaced.
    assert "account-numbers" in {k["name"] for k in topology()["kms"]["keys"]}
    assert ("api", "encrypt") in users_of("account-numbers") and ("payments", "decrypt") in users_of("account-numbers")
    old = {r.name for r in resources() if r.type.startswith("google_kms_crypto_key")}
    assert old == {"this"}, "the moved-from addresses must no longer be declared"
