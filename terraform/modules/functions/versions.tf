terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
    # data.archive_file zips build/<name>/ so the object name carries its content hash.
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}
