# Provider and Terraform version constraints. The provider block is here while this is a single
# root configuration; it moves to envs/dev|prod when those come with the Terraform issue.

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    # data.archive_file (functions.tf) zips build/<name>/ so the object name carries its hash.
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
