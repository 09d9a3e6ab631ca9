output "function_urls" {
  description = "run.app URL of each function, by name."
  value       = module.ledgerline.function_urls
}

output "webhook_url" {
  description = "Partner webhook base URL: POST <this>/webhooks/<partner>."
  value       = module.ledgerline.webhook_url
}

output "topics" {
  description = "Pub/Sub topic names."
  value       = module.ledgerline.topics
}

output "subscriptions" {
  description = "Pub/Sub subscription names."
  value       = module.ledgerline.subscriptions
}

output "queues" {
  description = "Cloud Tasks queue ids."
  value       = module.ledgerline.queues
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job ids."
  value       = module.ledgerline.scheduler_jobs
}

output "secret_ids" {
  description = "Secret Manager secrets to add versions to (docs/deploy.md, step 4)."
  value       = module.ledgerline.secret_ids
}

output "reports_bucket" {
  description = "Settlement reports bucket."
  value       = module.ledgerline.reports_bucket
}

output "bigquery_tables" {
  description = "BigQuery table ids."
  value       = module.ledgerline.bigquery_tables
}

output "service_accounts" {
  description = "Service account emails (functions and invoker identities)."
  value       = module.ledgerline.service_accounts
}

output "edge" {
  description = "The public edge's IP address and https URL per public function (null / empty when disabled)."
  value       = module.ledgerline.edge
}
