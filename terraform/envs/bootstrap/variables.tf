variable "project_id" {
  description = "GCP project of this environment (make bootstrap passes PROJECT_ID)."
  type        = string
}

variable "env" {
  description = "dev or prod (make bootstrap passes ENV)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env is dev or prod."
  }
}

variable "github_repository" {
  description = "owner/name of the GitHub repository that deploys (make bootstrap passes GITHUB_REPOSITORY)."
  type        = string
}
