# Who read or wrote which object (settlement reports, function sources): Data Access audit logs for
# Cloud Storage in prod, instead of bucket usage logs.
resource "google_project_iam_audit_config" "storage" {
  count = local.protect ? 1 : 0

  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

# Who read or wrote the ledger's Datastore (docs/operations.md): Data Access audit logs in prod. The
# functions' own service accounts are exempted — they read and write on every request and the ledger
# records what they do itself (the hash chains, the operator audit log) — so what is logged is every
# other principal: a person with the CLI's direct access, a script, a support tool. Not authoritative
# over any other service's audit configuration (one google_project_iam_audit_config per service).
resource "google_project_iam_audit_config" "datastore" {
  count = local.protect ? 1 : 0

  project = var.project_id
  service = "datastore.googleapis.com"

  audit_log_config {
    log_type         = "DATA_READ"
    exempted_members = sort(values(local.sa))
  }
  audit_log_config {
    log_type         = "DATA_WRITE"
    exempted_members = sort(values(local.sa))
  }
}

# Every access to a secret's value (partner signing secrets, API keys): few, at instance start.
resource "google_project_iam_audit_config" "secret_manager" {
  count = local.protect ? 1 : 0

  project = var.project_id
  service = "secretmanager.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }
}
