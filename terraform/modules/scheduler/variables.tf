variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "region" {
  description = "Cloud Scheduler region."
  type        = string
}

variable "jobs" {
  description = "topology.json scheduler.jobs: name, target (function), path, schedule, time_zone, attempt_deadline, retry_count, body."
  type        = any
}

variable "function_urls" {
  description = "Base https URL (run.app) of each function, by function name."
  type        = map(string)
}

variable "service_account_email" {
  description = "Identity whose OIDC token the jobs present."
  type        = string
}

variable "paused" {
  description = "Create the jobs paused (e.g. a dev project without settlement reports)."
  type        = bool
  default     = false
}
