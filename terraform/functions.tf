# STUB. One service account and one Cloud Functions (2nd gen) function per entry of
# local.topology.functions, deployed from `make build` output (../build/<name>/).
#
# Still to come with the Terraform issue (deliberately absent here):
#   - IAM bindings: run.invoker for each invoker service account (and allUsers for functions with
#     "public": true), the runtime roles (Datastore, Pub/Sub publisher, Cloud Tasks enqueuer,
#     BigQuery data editor), and the Pub/Sub service agent's token creator / dead-letter grants;
#   - Secret Manager (STRIPE_WEBHOOK_SECRET) and the <FUNCTION>_URL environment variables;
#   - monitoring (alerting on dead letters, errors, queue depth);
#   - envs/dev and envs/prod root configurations with their tfvars;
#   - the remote state backend (GCS).

locals {
  functions = local.topology.functions

  # Functions that Pub/Sub pushes to or Cloud Tasks dispatches to: each gets its own invoker
  # identity, used in the OIDC token of the push subscription / task.
  invoked_functions = toset(concat(
    [for s in local.topology.pubsub.subscriptions : s.push_to if try(s.push_to, null) != null],
    [for q in local.topology.tasks.queues : q.target],
  ))
}

# Runtime identity of each function.
resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "fn-${each.key}"
  display_name = "ledgerline ${each.key} function (runtime)"
  description  = each.value.description
}

# Identity that Pub/Sub / Cloud Tasks present when invoking a function.
resource "google_service_account" "invoker" {
  for_each = local.invoked_functions

  account_id   = "${each.key}-invoker"
  display_name = "ledgerline ${each.key} invoker (Pub/Sub push, Cloud Tasks)"
}

# ---------------------------------------------------------------------------- source

resource "google_storage_bucket" "sources" {
  name                        = "${var.project_id}-ledgerline-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.env != "prod"
  labels                      = local.labels
}

# `make build` stages each function's deployable source under build/<name>/; run it before plan.
data "archive_file" "source" {
  for_each = local.functions

  type        = "zip"
  source_dir  = "${path.module}/../build/${each.key}"
  output_path = "${path.module}/.terraform/archives/${each.key}.zip"
}

# The object name carries the archive's content hash, so a source change is a new object and
# therefore a new function build; unchanged source is a no-op.
resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  name   = "${each.key}/${data.archive_file.source[each.key].output_sha256}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.source[each.key].output_path
}

# ---------------------------------------------------------------------------- functions

resource "google_cloudfunctions2_function" "this" {
  for_each = local.functions

  name        = each.key
  location    = var.region
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry_point

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  # Placeholder sizing; tuned per function with the Terraform issue. Every function is an HTTP
  # function: Pub/Sub push and Cloud Tasks call it over HTTPS (see topology.tf).
  service_config {
    service_account_email = google_service_account.function[each.key].email
    available_memory      = "256M"
    timeout_seconds       = 60
    max_instance_count    = 10

    environment_variables = {
      GOOGLE_CLOUD_PROJECT = var.project_id
      LEDGERLINE_ENV       = "cloud"
      LEDGERLINE_REGION    = var.region
    }
  }
}
