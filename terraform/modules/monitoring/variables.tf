variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "env" {
  description = "Environment name, shown in alert titles."
  type        = string
}

variable "service_names" {
  description = "Cloud Run service name of the functions whose logs are filtered by service: an object with `intake`."
  type = object({
    intake = string
  })
}

variable "dead_letter_subscriptions" {
  description = "Subscriptions that hold dead letters (on a dead-letter topic); any message waiting there alerts."
  type        = list(string)
}

variable "alert_emails" {
  description = "E-mail addresses that receive every alert (one notification channel each)."
  type        = list(string)
  default     = []
}

variable "notification_channels" {
  description = "Existing notification channel ids (projects/<p>/notificationChannels/<id>) that receive every alert."
  type        = list(string)
  default     = []
}

variable "intake_4xx_per_5m" {
  description = "Rejected webhooks (4xx) per partner in 5 minutes above which to alert."
  type        = number
  default     = 25
}

variable "intake_5xx_per_5m" {
  description = "Intake 5xx answers in 5 minutes above which to alert."
  type        = number
  default     = 5
}

variable "push_subscriptions" {
  description = "Push subscriptions whose oldest unacked message must not age (the ledger's, the payments', the dead-letter recorder's)."
  type        = list(string)
  # No default: the alert policy has one conditions block per push subscription, and the provider's
  # schema requires at least one (an empty list fails the plan; tests/offline.tftest.hcl of envs/prod).
  validation {
    condition     = length(var.push_subscriptions) > 0
    error_message = "push_subscriptions needs at least one entry: its alert policy has one condition per entry."
  }
}

variable "oldest_unacked_seconds" {
  description = "Alert when a push subscription's oldest unacked message is older than this for 5 minutes."
  type        = number
  default     = 600
}

variable "task_queues" {
  description = "Cloud Tasks queue names (topology.json tasks.queues) whose depth is watched."
  type        = list(string)
  # No default: the alert policy has one conditions block per queue, and the provider's
  # schema requires at least one (an empty list fails the plan; tests/offline.tftest.hcl of envs/prod).
  validation {
    condition     = length(var.task_queues) > 0
    error_message = "task_queues needs at least one entry: its alert policy has one condition per entry."
  }
}

variable "queue_depth_max" {
  description = "Alert when a Cloud Tasks queue holds more tasks than this for 10 minutes."
  type        = number
  default     = 1000
}

variable "server_error_services" {
  description = "Cloud Run service names of the functions whose 5xx answers alert (every function but intake, which has its own)."
  type        = list(string)
  # No default: the alert policy has one conditions block per service, and the provider's
  # schema requires at least one (an empty list fails the plan; tests/offline.tftest.hcl of envs/prod).
  validation {
    condition     = length(var.server_error_services) > 0
    error_message = "server_error_services needs at least one entry: its alert policy has one condition per entry."
  }
}

variable "server_errors_per_5m" {
  description = "Alert when a function answers more 5xx than this in 5 minutes."
  type        = number
  default     = 5
}

variable "task_delay_ms_max" {
  description = "Alert when the p99 delay between a task's scheduled time and its attempt exceeds this (ms) for 10 minutes."
  type        = number
  default     = 300000
}
