variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "region" {
  description = "Region of the functions and of the source bucket."
  type        = string
}

variable "env" {
  description = "Environment name (dev or prod): selects each function's cloud.min_instances entry."
  type        = string
}

variable "protect" {
  description = "Production safeguards: the source bucket is never force-destroyed."
  type        = bool
}

variable "functions" {
  description = "The `functions` map of topology/topology.json (entry_point, public, description, cloud)."
  type        = any
}

variable "runtime" {
  description = "Cloud Functions runtime of every function."
  type        = string
  default     = "python311"
}

variable "build_dir" {
  description = "Absolute path of the `make build` output (build/: <name>.zip per function, reproducible)."
  type        = string
}

variable "environment" {
  description = "Plain environment variables of every function (shared/config.py CLOUD_SOURCES \"terraform\")."
  type        = map(string)
}

variable "service_account_emails" {
  description = "Runtime service account email, by function name."
  type        = map(string)
}

variable "builder_id" {
  description = "Fully qualified id of the service account that builds the functions."
  type        = string
}

variable "builder_email" {
  description = "Email of the service account that builds the functions."
  type        = string
}

variable "invokers" {
  description = "Non-public callers of each function: function name => { caller label => IAM member }."
  type        = map(map(string))
}

variable "labels" {
  description = "Labels on every labelled resource."
  type        = map(string)
}

variable "secret_versions" {
  description = "Secret (environment variable name) => the Secret Manager version the functions read, e.g. { STRIPE_WEBHOOK_SECRETS = \"4\" }. Unlisted: latest. Rotate by adding a version out of band and bumping its number here: the plan rolls a new revision of every function that reads it (docs/deploy.md)."
  type        = map(string)
  default     = {}
}

variable "edge_enabled" {
  description = "The public functions sit behind the edge load balancer (modules/edge): their ingress becomes ALLOW_INTERNAL_AND_GCLB."
  type        = bool
  default     = false
}

variable "public_invoker" {
  description = "Grant roles/run.invoker to allUsers on the public functions. false only where an org policy (Domain Restricted Sharing) forbids allUsers: then disable the invoker IAM check on their Cloud Run services out of band (terraform/README.md, Public edge)."
  type        = bool
  default     = true
}
