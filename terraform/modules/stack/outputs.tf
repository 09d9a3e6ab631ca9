output "function_urls" {
  description = "run.app URL of each function, by name (as deployed)."
  value       = module.functions.uris
}

output "webhook_url" {
  description = "Partner webhook base URL: POST <this>/webhooks/<partner>."
  value       = "${module.functions.uris["intake"]}/webhooks"
}

output "topics" {
  description = "Pub/Sub topic names, by topology name."
  value       = module.messaging.topics
}

output "subscriptions" {
  description = "Pub/Sub subscription names, by topology name."
  value       = module.messaging.subscriptions
}

output "queues" {
  description = "Cloud Tasks queue ids, by topology name."
  value       = module.messaging.queues
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job ids, by topology name."
  value       = module.scheduler.jobs
}

output "secret_ids" {
  description = "Secret Manager secret ids to add versions to, by environment variable name."
  value       = module.functions.secret_ids
}

output "reports_bucket" {
  description = "Settlement reports bucket (upload to reports/<partner>/)."
  value       = module.reports.bucket
}

output "bigquery_tables" {
  description = "BigQuery table ids, by topology name."
  value       = module.analytics.tables
}

output "service_accounts" {
  description = "Service account emails: one per function, plus the invoker identities."
  value = merge(module.identity.function_emails, {
    pubsub_push = module.identity.pubsub_push_email
    tasks       = module.identity.tasks_invoker_email
    scheduler   = module.identity.scheduler_invoker_email
  })
}

output "edge" {
  description = "The public edge: its IP address (DNS A records of the domains) and each public function's https://<domain>; null / empty when disabled."
  value = {
    address      = module.edge.address
    urls         = module.edge.urls
    console_url  = module.edge.console_url
    iap_audience = module.edge.iap_audience
  }
}
