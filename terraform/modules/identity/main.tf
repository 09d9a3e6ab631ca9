# Identities: one runtime service account per function, one invoker identity per kind of caller
# (Pub/Sub push, Cloud Tasks, Cloud Scheduler), one build identity, and the grants that can only be
# made on the project or on a service account. Grants on a topic, queue, table, bucket or secret live
# with that resource, in its module.

locals {
  # Project-level Datastore role per function (Datastore has no narrower resource to grant on).
  datastore_roles = {
    user   = "roles/datastore.user"
    viewer = "roles/datastore.viewer"
  }
  datastore_users = { for name, fn in var.functions : name => local.datastore_roles[fn.cloud.access.datastore] if fn.cloud.access.datastore != null }
  query_runners   = toset([for name, fn in var.functions : name if fn.cloud.access.bigquery_jobs])
  task_enqueuers  = toset([for name, fn in var.functions : name if length(fn.cloud.access.enqueues) > 0])
}

resource "google_service_account" "function" {
  for_each = var.functions

  project      = var.project_id
  account_id   = "fn-${each.key}"
  display_name = "ledgerline ${each.key} (function runtime)"
  description  = each.value.description
}

# Pub/Sub presents this identity's OIDC token when it pushes to a function.
resource "google_service_account" "pubsub_push" {
  project      = var.project_id
  account_id   = "pubsub-push-invoker"
  display_name = "ledgerline Pub/Sub push invoker"
  description  = "OIDC identity of the push subscriptions; holds run.invoker on push targets only."
}

# Cloud Tasks presents this identity's OIDC token (set per task by the enqueuing function).
resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "tasks-invoker"
  display_name = "ledgerline Cloud Tasks invoker"
  description  = "OIDC identity of Cloud Tasks HTTP tasks; holds run.invoker on queue targets only."
}

# Cloud Scheduler presents this identity's OIDC token.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "scheduler-invoker"
  display_name = "ledgerline Cloud Scheduler invoker"
  description  = "OIDC identity of the scheduler jobs; holds run.invoker on job targets only."
}

# Builds the function containers (instead of the default Cloud Build / Compute service account).
resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "function-builder"
  display_name = "ledgerline function builder"
  description  = "Cloud Build identity for the Cloud Functions builds."
}

# The documented minimum for a custom Cloud Functions build identity (logs, the staged source; images
# only in ledgerline's own repository: modules/functions), instead of roles/cloudbuild.builds.builder;
# object access only on the gcf-v2-* buckets Cloud Functions stages sources in (never the reports bucket).
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/logging.logWriter"])

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_project_iam_member" "builder_staged_sources" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = "serviceAccount:${google_service_account.builder.email}"

  condition {
    title       = "gcf-staging-buckets"
    description = "Only the buckets Cloud Functions stages sources and uploads in."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-\")"
  }
}

resource "google_project_iam_member" "datastore" {
  for_each = local.datastore_users

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Running a query is a project-level permission; what the query may read is granted per table.
resource "google_project_iam_member" "bigquery_jobs" {
  for_each = local.query_runners

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# A function that creates tasks with the tasks-invoker's OIDC token must be allowed to act as it.
resource "google_service_account_iam_member" "task_enqueuer_acts_as_invoker" {
  for_each = local.task_enqueuers

  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

# The Pub/Sub service agent mints the push OIDC tokens (needed explicitly in projects created
# before April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.pubsub_service_agent
}

# The same for the tokens of Cloud Tasks' HTTP tasks and Cloud Scheduler's jobs: each service agent
# mints the OIDC token of the identity it calls as, explicitly rather than by a default grant an
# organisation policy may have removed.
resource "google_service_account_iam_member" "tasks_agent_token_creator" {
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.tasks_service_agent
}

resource "google_service_account_iam_member" "scheduler_agent_token_creator" {
  service_account_id = google_service_account.scheduler.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.scheduler_service_agent
}

# A function that signs download URLs as itself (the api: statement exports) through IAM signBlob, no
# key file: token creator on its own account only (topology access.signs_urls; docs/api.md).
locals {
  url_signers = { for name, fn in var.functions : name => fn if try(fn.cloud.access.signs_urls, false) }
}

resource "google_service_account_iam_member" "signs_own_urls" {
  for_each = local.url_signers

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}
