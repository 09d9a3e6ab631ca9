# terraform test of the delivery identity against mock_provider "google" (make tf-validate;
# terraform/README.md, Offline validation). Who may exchange a GitHub token for the deployer.

mock_provider "google" {}

variables {
  project_id        = "ledgerline-offline"
  github_repository = "acme/ledgerline"
}

run "dev" {
  command = apply

  module {
    source = "../../modules/delivery"
  }

  variables {
    env = "dev"
  }

  assert {
    condition     = google_iam_workload_identity_pool_provider.github.attribute_condition == "assertion.repository == \"acme/ledgerline\""
    error_message = "dev admits every job of the repository, and nothing else"
  }

  assert {
    condition     = google_service_account_iam_member.github.member == "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/acme/ledgerline"
    error_message = "only the repository's identities may act as the deployer"
  }

  assert {
    condition     = alltrue([for m in google_project_iam_member.deployer : !contains(["roles/owner", "roles/editor", "roles/viewer"], m.role)])
    error_message = "the deployer gets no primitive role"
  }
}

run "prod" {
  command = apply

  module {
    source = "../../modules/delivery"
  }

  variables {
    env = "prod"
  }

  assert {
    condition     = google_iam_workload_identity_pool_provider.github.attribute_condition == "assertion.repository == \"acme/ledgerline\" && assertion.sub == \"repo:acme/ledgerline:environment:prod\" && assertion.ref == \"refs/heads/main\""
    error_message = "prod admits only main-branch jobs of the prod environment"
  }
}

run "env_is_dev_or_prod" {
  command = plan

  variables {
    env = "staging"
  }

  expect_failures = [
    var.env,
  ]
}
