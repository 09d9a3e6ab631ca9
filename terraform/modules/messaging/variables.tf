variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Tasks queues."
  type        = string
}

variable "topics" {
  description = "topology.json pubsub.topics: name, message_retention_duration."
  type        = any
}

variable "subscriptions" {
  description = "topology.json pubsub.subscriptions: name, topic, push_to, ack_deadline_seconds, dead_letter_topic, max_delivery_attempts, retry_minimum_backoff, retry_maximum_backoff."
  type        = any
}

variable "queues" {
  description = "topology.json tasks.queues: name, target, max_dispatches_per_second, max_concurrent_dispatches, max_attempts, min_backoff, max_backoff."
  type        = any
}

variable "function_urls" {
  description = "Base https URL (run.app) of each function, by function name; push endpoints and OIDC audiences derive from it."
  type        = map(string)
}

variable "push_service_account_email" {
  description = "Identity whose OIDC token the push subscriptions present."
  type        = string
}

variable "pubsub_service_agent" {
  description = "IAM member of the project's Pub/Sub service agent (dead-letter forwarding)."
  type        = string
}

variable "publishers" {
  description = "Who may publish to each topic: topic name => { function name => IAM member }."
  type        = map(map(string))
}

variable "enqueuers" {
  description = "Who may create tasks in each queue: queue name => { function name => IAM member }."
  type        = map(map(string))
}

variable "tasks_log_sampling_ratio" {
  description = "Fraction of Cloud Tasks operations written to Cloud Logging (0.0-1.0)."
  type        = number
  default     = 1.0
}

variable "labels" {
  description = "Labels on every labelled resource."
  type        = map(string)
}
