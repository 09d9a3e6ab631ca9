variable "project_id" {
  description = "GCP project of this environment (required: make plan/deploy pass PROJECT_ID)."
  type        = string
}

variable "region" {
  description = "Region of the functions, queues, scheduler jobs and buckets."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Firestore (Datastore mode) location; cannot change after the first apply."
  type        = string
  default     = "nam5"
}

variable "report_writers" {
  description = "Identities that upload settlement reports: label => IAM member (e.g. a transfer service account)."
  type        = map(string)
  default     = {}
}

variable "pause_schedules" {
  description = "Create the daily reconciliation jobs paused."
  type        = bool
  default     = false
}

variable "alert_emails" {
  description = "E-mail addresses that receive every alert."
  type        = list(string)
  default     = []
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids that receive every alert."
  type        = list(string)
  default     = []
}
