"""Every environment variable a function reads is set in the cloud, from the right source.

shared/config.py documents each variable (table) and classifies it (CLOUD_SOURCES). This test ties
the table, the classification, the variables the code really reads and Terraform together, so a new
variable fails here until it is classified and, if Terraform must set it, set."""

import re
from pathlib import Path

from shared import config
from shared.config import CLOUD_SOURCES, FUNCTION_NAMES, REPO_ROOT
from shared.topology import topology
from tests.terraform.hcl import locals_of, module_call, one, sub_blocks

PINNED_OR_LATEST = '${lookup(var.secret_versions, secret_environment_variables.value, "latest")}'  # rotation: a pin

SOURCES = {"terraform", "secret", "default", "platform", "local"}
# os.environ.get("X"), environ["X"], os.getenv("X"), _int(environ, "X", ...), _list(environ, "X") ...
READ = re.compile(r"""(?:environ(?:\.get)?\(|environ\[|getenv\(|\(environ,\s*)\s*["']([A-Z][A-Z0-9_]*)["']""")


def table_variables() -> set[str]:
    names: set[str] = set()
    for line in config.__doc__.splitlines():
        if not line.startswith("| ") or line.startswith("| variable") or line.startswith("| ---"):
            continue
        first = line.split("|")[1]
        for token in re.findall(r"<FUNCTION>_URL|[A-Z][A-Z0-9_]{2,}", first):
            names |= {f"{n.upper()}_URL" for n in FUNCTION_NAMES} if token == "<FUNCTION>_URL" else {token}
    return names


def code_reads() -> dict[str, set[str]]:
    reads: dict[str, set[str]] = {}
    files = list((REPO_ROOT / "shared").rglob("*.py")) + list((REPO_ROOT / "functions").rglob("*.py"))
    for path in files:
        for name in READ.findall(path.read_text()):
            reads.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return reads


def terraform_environment_keys() -> set[str]:
    stack = locals_of("modules/stack")
    keys = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", stack["environment"]))
    if "local.function_url_env" in stack["environment"]:
        url_env = stack["function_url_env"]
        assert "${upper(name)}_URL" in url_env and "local.function_urls" in url_env
        assert "for name, _ in local.functions" in stack["function_urls"]
        keys |= {f"{n.upper()}_URL" for n in topology()["functions"]}
    if "local.kms_key_env" in stack["environment"]:  # each KMS key's `env` names it (topology kms.keys)
        assert stack["kms_key_env"] == "${{for name, key in local.kms_keys : key.env => module.keys.key_ids[name]}}"
        keys |= {key["env"] for key in topology()["kms"]["keys"]}
    return keys


def test_every_classification_is_known():
    assert set(CLOUD_SOURCES.values()) <= SOURCES


def test_the_table_and_the_classification_agree():
    documented = table_variables()
    # Ports are documented as a range ("INTAKE_PORT … API_PORT").
    classified = set(CLOUD_SOURCES) - {k for k in CLOUD_SOURCES if k.endswith("_PORT")}
    assert documented - set(CLOUD_SOURCES) == set(), "documented but not in CLOUD_SOURCES"
    assert classified - documented == set(), "in CLOUD_SOURCES but missing from the table in shared/config.py"


def test_every_variable_the_code_reads_is_classified():
    unclassified = {name: files for name, files in code_reads().items() if name not in CLOUD_SOURCES}
    assert not unclassified, f"add these to the table and CLOUD_SOURCES in shared/config.py: {unclassified}"


def test_terraform_sets_every_terraform_variable_and_nothing_else():
    wanted = {k for k, v in CLOUD_SOURCES.items() if v == "terraform"}
    keys = terraform_environment_keys()
    assert wanted - keys == set(), "set these in terraform/modules/stack/main.tf local.environment"
    assert keys - wanted == set(), "Terraform sets variables shared/config.py does not classify as terraform"
    assert module_call("functions")["environment"] == "${local.environment}"
    service = one("google_cloudfunctions2_function").body["service_config"][0]
    assert service["environment_variables"] == "${var.environment}"


def test_every_kms_key_is_named_by_a_variable_the_code_reads():
    envs = [key["env"] for key in topology()["kms"]["keys"]]
    assert len(envs) == len(set(envs)), "one variable per key"
    assert {CLOUD_SOURCES.get(env) for env in envs} == {"terraform"}
    assert set(envs) <= set(code_reads()), "a key whose variable no code reads is unused"
    assert {"PAYMENTS_KMS_KEY", "WEBHOOKS_KMS_KEY"} <= set(envs)


def test_secrets_come_from_secret_manager_for_the_functions_that_list_them():
    wanted = {k for k, v in CLOUD_SOURCES.items() if v == "secret"}
    listed = {name: set(fn["cloud"]["access"]["secrets"]) for name, fn in topology()["functions"].items()}
    assert set().union(*listed.values()) == wanted, "topology cloud.access.secrets must list every secret"
    # Each secret goes only where it is used: webhook secrets to intake, transfer API keys to payments,
    # the destination fingerprint key to the two functions that fingerprint (api seals, payments reads).
    from shared.config import PLATFORM_SECRETS
    from shared.partners import PARTNERS

    # the keys ledgerline calls partners with: <PARTNER>_API_KEY (shared.config's naming convention)
    api_keys = {s.env for p in PARTNERS.values() for s in p.SECRETS if s.env.endswith("_API_KEY")}
    assert {p.TRANSFER_API.key.env for p in PARTNERS.values() if p.TRANSFER_API} <= api_keys
    webhook = {s.env for p in PARTNERS.values() for s in p.SECRETS} - api_keys
    assert listed["intake"] == webhook, "intake holds the webhook secrets, nothing else"
    assert listed["payments"] == api_keys | set(PLATFORM_SECRETS), "payments holds the partners' API keys"
    assert listed["api"] == set(PLATFORM_SECRETS)
    assert {name for name, s in listed.items() if s} == {"intake", "payments", "api"}
    service = one("google_cloudfunctions2_function").body["service_config"][0]
    (secret_env,) = sub_blocks(service, "secret_environment_variables")
    assert secret_env["key"] == "${secret_environment_variables.value}"
    assert secret_env["version"] == PINNED_OR_LATEST
    dynamic = next(d for d in service["dynamic"] if "secret_environment_variables" in d)
    assert dynamic["secret_environment_variables"]["for_each"] == "${toset(each.value.cloud.access.secrets)}"
    assert not wanted & terraform_environment_keys(), "a secret must never be a plain variable"


def test_dev_env_file_is_never_shipped():
    # The cloud never reads emulators/dev.env (K_SERVICE set) and make build never stages it.
    build = (REPO_ROOT / "scripts" / "build.py").read_text()
    assert "emulators" not in re.findall(r"copytree\(REPO_ROOT / \"(\w+)\"", build)
    assert Path(REPO_ROOT / "emulators" / "dev.env").is_file()


def test_the_partners_declare_exactly_the_secret_variables():
    # Settings reads partner secrets generically (every "secret" of CLOUD_SOURCES); the plugins declare theirs.
    from shared.config import PLATFORM_SECRETS
    from shared.partners import PARTNERS

    declared = [s.env for partner in PARTNERS.values() for s in partner.SECRETS]
    assert len(declared) == len(set(declared)), "a secret belongs to one partner"
    assert not set(declared) & set(PLATFORM_SECRETS)
    assert set(declared) | set(PLATFORM_SECRETS) == {k for k, v in CLOUD_SOURCES.items() if v == "secret"}
