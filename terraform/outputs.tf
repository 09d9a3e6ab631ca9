output "function_uris" {
  description = "Cloud Run URI of each function, by function name."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.service_config[0].uri }
}

output "function_service_accounts" {
  description = "Runtime service account email of each function, by function name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "invoker_service_accounts" {
  description = "Invoker service account email (Pub/Sub push / Cloud Tasks OIDC) by target function name."
  value       = { for name, sa in google_service_account.invoker : name => sa.email }
}

output "topics" {
  description = "Pub/Sub topic ids, by topic name."
  value       = { for name, t in google_pubsub_topic.this : name => t.id }
}

output "subscriptions" {
  description = "Pub/Sub subscription ids, by subscription name."
  value       = { for name, s in google_pubsub_subscription.this : name => s.id }
}

output "queues" {
  description = "Cloud Tasks queue ids, by queue name."
  value       = { for name, q in google_cloud_tasks_queue.this : name => q.id }
}

output "bigquery_dataset" {
  description = "BigQuery dataset id."
  value       = google_bigquery_dataset.this.dataset_id
}

output "bigquery_tables" {
  description = "BigQuery table ids, by table name."
  value       = { for name, t in google_bigquery_table.this : name => t.id }
}
