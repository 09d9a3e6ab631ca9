output "workload_identity_provider" {
  description = "google-github-actions/auth `workload_identity_provider` (GitHub variable <ENV>_WIF_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "google-github-actions/auth `service_account` (GitHub variable <ENV>_DEPLOYER_SA)."
  value       = google_service_account.deployer.email
}
