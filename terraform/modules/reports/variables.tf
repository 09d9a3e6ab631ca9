variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "location" {
  description = "Bucket location (region or multi-region)."
  type        = string
}

variable "protect" {
  description = "Production safeguards: the bucket is never force-destroyed."
  type        = bool
}

variable "readers" {
  description = "Who may read reports: label (function name) => IAM member."
  type        = map(string)
}

variable "writers" {
  description = "Who may upload reports (e.g. a transfer job's service account): label => IAM member."
  type        = map(string)
  default     = {}
}

variable "noncurrent_retention_days" {
  description = "Days an overwritten or deleted report version is kept."
  type        = number
  default     = 365
}

variable "labels" {
  description = "Labels on every labelled resource."
  type        = map(string)
}
