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
