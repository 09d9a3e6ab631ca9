# The functions (Cloud Functions 2nd gen, one per topology.json `functions` entry), their source
# bundles, partner secrets and invoker grants. Everything per function comes from its topology.json entry (`cloud` block); nothing here
# names a function.

locals {
  # Secret names are environment variable names (shared/config.py CLOUD_SOURCES "secret").
  secrets = toset(flatten([for fn in values(var.functions) : fn.cloud.access.secrets]))
  secret_readers = merge({}, [for name, fn in var.functions : {
    for secret in fn.cloud.access.secrets : "${secret}/${name}" => { secret = secret, function = name }
  }]...)

  # "<function>/<caller>" => member, e.g. "ledger/pubsub-push"; public functions are granted apart.
  invokers = merge({}, [for name, callers in var.invokers : {
    for caller, member in callers : "${name}/${caller}" => { function = name, member = member }
  }]...)
  public = toset([for name, fn in var.functions : name if fn.public])
}

# ---------------------------------------------------------------------------- source

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62:usage logs are superseded by Cloud Audit Logs; prod enables Data Access audit logs for Cloud Storage (modules/stack audit.tf).
  project                     = var.project_id
  name                        = "${var.project_id}-ledgerline-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.protect
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Bundles are content-addressed and a deployed revision uses one for as long as it runs: no rule
  # by age (it would delete the live bundle of a function unchanged for that long). `make deploy`
  # prunes superseded bundles after the apply (scripts/prune_sources.py: the live one and the three
  # before it stay); only the noncurrent versions a deletion leaves behind expire here.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# The functions' build images: a repository of ours with cleanup policies, instead of the
# auto-created gcf-artifacts one (which keeps every image forever). The newest images of each function
# stay (a running revision's, and rollback), older ones are deleted after 30 days.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption at rest, as for the topics; customer-managed keys are a separate decision.
  project                = var.project_id
  location               = var.region
  repository_id          = "ledgerline-functions"
  description            = "Build images of the ledgerline functions (Cloud Functions 2nd gen)."
  format                 = "DOCKER"
  labels                 = var.labels
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "builder_writes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${var.builder_email}"
}

resource "google_storage_bucket_iam_member" "builder_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${var.builder_email}"
}

# `make build` stages each function's deployable source under build/<name>/ (run it before plan).
# `make build` zips each function reproducibly (scripts/build.py: sorted entries, fixed modes and
# timestamps), so every deployer uploads the same bytes. The object name is the zip's content hash:
# a source change is a new object and therefore a new build; unchanged source plans no change.
resource "google_storage_bucket_object" "source" {
  for_each = var.functions

  name   = "${each.key}/${filesha256("${var.build_dir}/${each.key}.zip")}.zip"
  bucket = google_storage_bucket.sources.name
  source = "${var.build_dir}/${each.key}.zip"
}

# ---------------------------------------------------------------------------- secrets

# Containers only: values are added as versions out of band (docs/deploy.md), so they never enter
# Terraform state. The latest version holds the comma-separated active set (rotation).
resource "google_secret_manager_secret" "partner" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = lower(replace(each.key, "_", "-"))
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_readers

  project   = var.project_id
  secret_id = google_secret_manager_secret.partner[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${var.service_account_emails[each.value.function]}"
}

# ---------------------------------------------------------------------------- functions

resource "google_cloudfunctions2_function" "this" {
  for_each = var.functions

  project     = var.project_id
  name        = each.key
  location    = var.region
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime           = var.runtime
    entry_point       = each.value.entry_point
    service_account   = var.builder_id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  # checkov:skip=CKV_GCP_124:ingress is per function from topology.json: ALLOW_INTERNAL_ONLY for every non-public function (callers are Pub/Sub, Cloud Tasks, Cloud Scheduler in this project); ALLOW_ALL only for intake (partner webhooks from the internet) and api (customers), which authenticate requests themselves.

  # Every function is an HTTP function: Pub/Sub push, Cloud Tasks and Cloud Scheduler call it over
  # HTTPS with an OIDC token (a gen2 event_trigger's managed subscription cannot dead-letter).
  service_config {
    service_account_email            = var.service_account_emails[each.key]
    available_memory                 = each.value.cloud.memory
    available_cpu                    = each.value.cloud.cpu
    timeout_seconds                  = each.value.cloud.timeout_seconds
    min_instance_count               = each.value.cloud.min_instances[var.env]
    max_instance_count               = each.value.cloud.max_instances
    max_instance_request_concurrency = each.value.cloud.concurrency
    # Behind the edge load balancer (var.edge_enabled) a public function takes traffic from it and
    # from inside the project only: its run.app URL stops answering the internet.
    ingress_settings               = var.edge_enabled && each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : each.value.cloud.ingress
    all_traffic_on_latest_revision = true

    environment_variables = var.environment

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.cloud.access.secrets)
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.partner[secret_environment_variables.value].secret_id
        # pinned (var.secret_versions): bumping it is a new revision — the rotation, through Terraform
        version = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  # An instance reads its secrets at start, and the build pushes its image: the grants come first.
  depends_on = [google_secret_manager_secret_iam_member.reader, google_artifact_registry_repository_iam_member.builder_writes_images]
}

# ---------------------------------------------------------------------------- invokers

# run.invoker only for identities that really call the function (Pub/Sub push, Cloud Tasks, Cloud
# Scheduler), on that function's Cloud Run service.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invokers

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Partner webhooks (intake) and the customer API authenticate in the application (signatures, API
# auth), not with Google identities: those two functions are public by design. Behind the edge load
# balancer too (a serverless NEG adds no identity: Cloud Run still checks run.invoker), unless
# var.public_invoker is false — for an organisation whose Domain Restricted Sharing policy refuses
# allUsers; then the invoker IAM check is disabled on the two Cloud Run services out of band
# (terraform/README.md, Public edge: google_cloudfunctions2_function has no argument for it).
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = var.public_invoker ? local.public : toset([])

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
