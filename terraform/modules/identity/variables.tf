variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "functions" {
  description = "The `functions` map of topology/topology.json (each entry with its `cloud.access` block)."
  type        = any
}

variable "pubsub_service_agent" {
  description = "IAM member of the project's Pub/Sub service agent (serviceAccount:service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com)."
  type        = string
}

variable "tasks_service_agent" {
  description = "IAM member of the project's Cloud Tasks service agent (serviceAccount:service-<number>@gcp-sa-cloudtasks.iam.gserviceaccount.com)."
  type        = string
}

variable "scheduler_service_agent" {
  description = "IAM member of the project's Cloud Scheduler service agent (serviceAccount:service-<number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com)."
  type        = string
}
