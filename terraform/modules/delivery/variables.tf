variable "project_id" {
  description = "GCP project the deployer deploys ledgerline to (one per environment)."
  type        = string
}

variable "env" {
  description = "dev or prod: prod admits only the main branch's jobs in the GitHub environment `prod`."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env is dev or prod."
  }
}

variable "github_repository" {
  description = "The GitHub repository whose workflows may deploy, owner/name (the OIDC token's `repository` claim)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name."
  }
}

variable "github_branch" {
  description = "The branch prod deploys from (the token's `ref` must be refs/heads/<this>)."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "The GitHub environment (required reviewers) prod's jobs run in (the token's `environment` claim)."
  type        = string
  default     = "prod"
}

variable "pool_id" {
  description = "Workload Identity pool id (a deleted pool's id stays reserved for 30 days)."
  type        = string
  default     = "github"
  validation {
    condition     = can(regex("^[a-z0-9-]{4,32}$", var.pool_id))
    error_message = "pool_id: 4-32 of [a-z0-9-]."
  }
}
