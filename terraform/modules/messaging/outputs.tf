output "topics" {
  description = "Pub/Sub topic names, by topology name."
  value       = { for name, t in google_pubsub_topic.this : name => t.name }
}

output "subscriptions" {
  description = "Pub/Sub subscription names, by topology name."
  value       = { for name, s in google_pubsub_subscription.this : name => s.name }
}

output "queues" {
  description = "Cloud Tasks queue ids, by topology name."
  value       = { for name, q in google_cloud_tasks_queue.this : name => q.id }
}
