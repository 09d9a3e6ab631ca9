# GitHub Actions deploys ledgerline without a key: its OIDC token is exchanged through Workload Identity
# Federation for the deployer service account's short-lived credentials (google-github-actions/auth).
# A bootstrap concern (the deployer cannot create itself): instantiated by terraform/envs/bootstrap, run
# once per project by a human with Owner (docs/deploy.md, CI/CD).

locals {
  # Exactly the narrower set docs/deploy.md lists (section 0); tests/terraform/test_delivery.py keeps
  # the two equal and forbids primitive roles.
  deployer_roles = [
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudkms.admin",
    "roles/cloudscheduler.admin",
    "roles/cloudtasks.admin",
    "roles/datastore.owner",
    "roles/logging.configWriter",
    "roles/monitoring.editor",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ]
  # and, in a resource of their own (its checkov skips scoped to them), the service-account roles:
  deployer_service_account_roles = ["roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser"]

  repository = "assertion.repository == \"${var.github_repository}\""
  # dev: any job of the repository (pull-request plans, applies from main); fork pull requests get no
  # OIDC token at all. prod: only jobs of the main branch running in the `prod` environment, i.e.
  # after its required reviewers approved.
  prod_only = "assertion.sub == \"repo:${var.github_repository}:environment:${var.github_environment}\" && assertion.ref == \"refs/heads/${var.github_branch}\""
  condition = var.env == "prod" ? "${local.repository} && ${local.prod_only}" : local.repository
}

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions"
  description               = "ledgerline ${var.env}: GitHub Actions of ${var.github_repository}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125:the condition pins assertion.repository (in prod also assertion.sub = repo:<repository>:environment:prod and the main ref: tests/terraform/test_delivery.py); checkov recognises only an assertion.sub literal, which dev cannot use (its pull-request and push jobs have different subjects).
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"
  attribute_condition                = local.condition
  attribute_mapping = {
    "google.subject"        = "assertion.sub"
    "attribute.repository"  = "assertion.repository"
    "attribute.ref"         = "assertion.ref"
    "attribute.environment" = "assertion.environment"
    "attribute.actor"       = "assertion.actor"
  }
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "ledgerline-deployer"
  display_name = "ledgerline deployer (GitHub Actions, ${var.env})"
}

# Only tokens of this repository (already the provider's condition) may act as the deployer.
resource "google_service_account_iam_member" "github" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "deployer" {
  for_each = toset(local.deployer_roles)
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_project_iam_member" "deployer_service_accounts" {
  # checkov:skip=CKV_GCP_41:the deployer creates the functions' service accounts and deploys functions, subscriptions and jobs that run as them (actAs): docs/deploy.md's role list.
  # checkov:skip=CKV_GCP_49:as above; the deployer itself is reachable only through Workload Identity Federation of this repository, never with a key.
  for_each = toset(local.deployer_service_account_roles)
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.deployer.email}"
}
