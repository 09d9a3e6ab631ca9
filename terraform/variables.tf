variable "project_id" {
  description = "GCP project that hosts ledgerline (one project per environment)."
  type        = string
}

variable "region" {
  description = "Region for Cloud Functions, Cloud Tasks queues and the function source bucket."
  type        = string
  default     = "us-central1"
}

variable "env" {
  description = "Environment name (dev or prod). Used in labels and to enable deletion protection in prod."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be \"dev\" or \"prod\"."
  }
}
