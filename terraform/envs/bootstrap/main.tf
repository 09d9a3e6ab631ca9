# The delivery identity of one environment: the Workload Identity pool and provider GitHub Actions
# authenticates through, and the deployer service account the workflows act as. Run once per project
# by a human with Owner, before the first CI deploy (`make bootstrap`, docs/deploy.md, CI/CD): the
# deployer cannot create itself, so this root is not part of the stack it deploys.

provider "google" {
  project = var.project_id
}

module "delivery" {
  source = "../../modules/delivery"

  project_id        = var.project_id
  env               = var.env
  github_repository = var.github_repository
}
