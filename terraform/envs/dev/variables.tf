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

variable "secret_versions" {
  description = "Secret (environment variable name) => the Secret Manager version the functions read, e.g. { STRIPE_WEBHOOK_SECRETS = \"4\" }. Unlisted: latest. Rotate by adding a version out of band and bumping its number here: the plan rolls a new revision of every function that reads it (docs/deploy.md)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for v in values(var.secret_versions) : can(regex("^[1-9][0-9]*$", v))])
    error_message = "secret_versions values are version numbers (1, 2, …): a pinned version, not latest."
  }
}

variable "edge" {
  description = "The public edge in front of intake and api (terraform/README.md, Public edge): external HTTPS load balancer, Cloud Armor, ingress ALLOW_INTERNAL_AND_GCLB. Off by default; prod should enable it with a domain per public function."
  type = object({
    enabled        = bool
    hosts          = optional(map(string), {})
    public_invoker = optional(bool, true)
    rate_limit = optional(object({
      count        = number
      interval_sec = number
    }), { count = 600, interval_sec = 60 })
    waf_preview = optional(bool, true)
    console = optional(object({
      host      = string
      operators = list(string)
    }))
  })
  default = { enabled = false }

  validation {
    condition     = !var.edge.enabled || length(var.edge.hosts) > 0
    error_message = "edge.enabled needs edge.hosts: a domain per public function (intake, api)."
  }

  validation {
    condition     = var.edge.enabled || try(var.edge.console, null) == null
    error_message = "edge.console (the console behind IAP) needs the edge enabled."
  }
}
