variable "project_id" {
  description = "GCP project that hosts this environment of ledgerline (one project per environment)."
  type        = string
}

variable "env" {
  description = "Environment name. \"prod\" turns on deletion protection (Firestore, BigQuery tables, buckets) and point-in-time recovery."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be \"dev\" or \"prod\"."
  }
}

variable "region" {
  description = "Region of the functions, Cloud Tasks queues, Cloud Scheduler jobs and buckets."
  type        = string
}

variable "firestore_location" {
  description = "Firestore (Datastore mode) location, e.g. nam5 (US multi-region). Cannot change after creation."
  type        = string
}

variable "livemode" {
  description = "LEDGERLINE_LIVEMODE: true only in production (partner test-mode events are stored but never posted)."
  type        = bool
}

variable "build_dir" {
  description = "Absolute path of the `make build` output directory (build/)."
  type        = string
}

variable "apis" {
  description = "Google APIs the stack uses; enabled (never disabled on destroy)."
  type        = list(string)
  default = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com",
    "datastore.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "iap.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

variable "report_writers" {
  description = "Identities that upload settlement reports to the reports bucket: label => IAM member."
  type        = map(string)
  default     = {}
}

variable "pause_schedules" {
  description = "Create the reconciliation scheduler jobs paused."
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

variable "labels" {
  description = "Extra labels on every labelled resource (app and env are always set)."
  type        = map(string)
  default     = {}
}

variable "partner_api_urls" {
  description = "Base URL of each bank partner's transfer API (shared/partners TRANSFER_API: <PARTNER>_API_URL). Lakeside is fictional: set its real counterpart's URL."
  type        = map(string)
  default = {
    column   = "https://api.column.com"
    lakeside = ""
  }

  validation {
    condition     = alltrue([for name in ["column", "lakeside"] : contains(keys(var.partner_api_urls), name)])
    error_message = "partner_api_urls needs an entry for every bank partner in topology payments.routes (column, lakeside)."
  }
}

variable "kms_protection_level" {
  description = "Protection level of the payments key: SOFTWARE, or HSM (FIPS 140-2 Level 3) for prod."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms_protection_level)
    error_message = "kms_protection_level is SOFTWARE or HSM."
  }
}

variable "secret_versions" {
  description = "Secret (environment variable name) => the Secret Manager version the functions read, e.g. { STRIPE_WEBHOOK_SECRETS = \"4\" }. Unlisted: latest. Rotate by adding a version out of band and bumping its number here: the plan rolls a new revision of every function that reads it (docs/deploy.md)."
  type        = map(string)
  default     = {}
}

variable "edge" {
  description = "The public edge (modules/edge): enabled puts an external HTTPS load balancer with Cloud Armor in front of the public functions and switches their ingress to ALLOW_INTERNAL_AND_GCLB; hosts maps each public function to its domain (every public function needs one); public_invoker false drops the allUsers invoker (Domain Restricted Sharing: then disable the invoker IAM check out of band, terraform/README.md); rate_limit is the per-client-IP throttle; waf_preview keeps the OWASP rules in preview."
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
}
