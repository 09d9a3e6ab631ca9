"""CI/CD: the deployer identity (terraform/modules/delivery) and the workflows that use it."""

import re

import yaml

from shared.config import REPO_ROOT
from tests.terraform.hcl import TERRAFORM, locals_of, module_call, one, resources, source_text

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _uses() -> list[str]:
    files = [*WORKFLOWS.glob("*.yml"), *(REPO_ROOT / ".github" / "actions").rglob("action.yml")]
    return [m for f in files for m in re.findall(r"uses:\s*(\S+)", f.read_text())]


def test_no_service_account_key_anywhere():
    assert not resources("google_service_account_key")
    assert "google_service_account_key" not in source_text()
    for f in WORKFLOWS.glob("*.yml"):
        assert "credentials_json" not in f.read_text(), f


def test_the_provider_admits_only_this_repository_and_prod_only_main_in_its_environment():
    provider = one("google_iam_workload_identity_pool_provider", "modules/delivery").body
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert provider["attribute_condition"] == "${local.condition}"
    local = locals_of("modules/delivery")
    assert local["repository"] == '${"assertion.repository == \\"${var.github_repository}\\""}' or (
        "assertion.repository ==" in local["repository"] and "var.github_repository" in local["repository"]
    )
    assert "environment:${var.github_environment}" in local["prod_only"]
    assert "refs/heads/${var.github_branch}" in local["prod_only"]
    assert 'var.env == "prod"' in local["condition"] and "local.prod_only" in local["condition"]
    binding = one("google_service_account_iam_member", "modules/delivery").body
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert (
        binding["member"].startswith("principalSet://")
        and "attribute.repository/${var.github_repository}" in (binding["member"])
    )
    assert module_call("delivery", "envs/bootstrap")["github_repository"] == "${var.github_repository}"


def test_the_deployer_has_exactly_the_documented_roles():
    local = locals_of("modules/delivery")
    granted = set(local["deployer_roles"]) | set(local["deployer_service_account_roles"])
    deploy_md = (REPO_ROOT / "docs" / "deploy.md").read_text()
    section = deploy_md.split("## 0. What you need", 1)[1].split("## 1.", 1)[0]
    documented = set(re.findall(r"`(roles/[A-Za-z0-9_.]+)`", section))
    assert granted == documented
    assert not granted & PRIMITIVE
    members = {r.body["member"] for r in resources("google_project_iam_member") if r.module == "modules/delivery"}
    assert members == {"serviceAccount:${google_service_account.deployer.email}"}


def test_the_delivery_module_bounds_its_provider():
    assert '">= 6.0, < 7.0"' in (TERRAFORM / "modules" / "delivery" / "versions.tf").read_text()


def test_ci_runs_make_test_and_tf_check():
    jobs = _workflow("ci.yml")["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make test" in runs["test"] and "--junitxml" in runs["test"]
    assert "make tf-check" in runs["tf-check"]
    assert all("timeout-minutes" in job for job in jobs.values())


def test_every_third_party_action_is_pinned():
    for ref in _uses():
        if ref.startswith("./"):
            continue
        _action, _, version = ref.partition("@")
        assert version, ref
        assert re.fullmatch(r"[0-9a-f]{40}", version) or re.fullmatch(r"v\d+(\.\d+)*", version), ref


def test_deploys_use_wif_and_prod_applies_behind_its_environment():
    workflow = _workflow("deploy.yml")
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    for name in ("plan-dev", "deploy-dev", "deploy-prod"):
        (auth,) = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
        assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
        assert "_WIF_PROVIDER" in auth["with"]["workload_identity_provider"]
        assert "_DEPLOYER_SA" in auth["with"]["service_account"]
        assert jobs[name]["permissions"]["id-token"] == "write"
    assert jobs["deploy-prod"]["environment"] == "prod" and jobs["deploy-prod"]["needs"] == "deploy-dev"
    prod = " ".join(s.get("run", "") for s in jobs["deploy-prod"]["steps"])
    assert "make deploy ENV=prod" in prod and "TF_PLAN=prod.tfplan" in prod and "make smoke ENV=prod" in prod
    assert "environment" not in jobs["deploy-dev"]
    outputs = (TERRAFORM / "envs" / "bootstrap" / "outputs.tf").read_text()
    assert "workload_identity_provider" in outputs and "deployer_service_account" in outputs
