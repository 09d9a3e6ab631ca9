# ledgerline dev: one GCP project. `make plan ENV=dev` / `make deploy ENV=dev` run this root
# (after `make build`); see docs/deploy.md.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "ledgerline" {
  source = "../../modules/stack"

  project_id         = var.project_id
  env                = "dev"
  region             = var.region
  firestore_location = var.firestore_location
  livemode           = false
  build_dir          = abspath("${path.root}/../../../build")

  report_writers        = var.report_writers
  pause_schedules       = var.pause_schedules
  alert_emails          = var.alert_emails
  notification_channels = var.notification_channels
  secret_versions       = var.secret_versions
  edge                  = var.edge
}
