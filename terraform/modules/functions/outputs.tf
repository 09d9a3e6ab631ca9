output "uris" {
  description = "Cloud Run (run.app) URI of each deployed function, by name."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.service_config[0].uri }
}

output "names" {
  description = "Deployed function names, by topology name (for metrics and alerts)."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.name }
}

output "secret_ids" {
  description = "Secret Manager secret ids, by environment variable name: add versions to these."
  value       = { for key, s in google_secret_manager_secret.partner : key => s.secret_id }
}

output "sources_bucket" {
  description = "Bucket holding the content-addressed function source bundles."
  value       = google_storage_bucket.sources.name
}

output "services" {
  description = "Cloud Run service name of each function (a 2nd gen function is a Cloud Run service), by name."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.service_config[0].service }
}
