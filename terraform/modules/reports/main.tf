# Partner settlement reports (reports/<partner>/...), read by reconciliation. Financial records:
# versioned, never publicly reachable, and never force-destroyed in prod.

resource "google_storage_bucket" "reports" {
  # checkov:skip=CKV_GCP_62:usage logs are superseded by Cloud Audit Logs; prod enables Data Access audit logs for Cloud Storage (modules/stack audit.tf), which record who read which report.
  project                     = var.project_id
  name                        = "${var.project_id}-ledgerline-reports"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.protect
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # An overwritten or deleted report stays recoverable for the retention period.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "reader" {
  for_each = var.readers

  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectViewer"
  member = each.value
}

resource "google_storage_bucket_iam_member" "writer" {
  for_each = var.writers

  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectCreator"
  member = each.value
}
