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
