output "bucket" {
  description = "Settlement reports bucket (functions read it as LEDGERLINE_REPORTS_BUCKET)."
  value       = google_storage_bucket.reports.name
}
