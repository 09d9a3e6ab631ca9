output "function_emails" {
  description = "Runtime service account email, by function name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "pubsub_push_email" {
  description = "Email of the identity Pub/Sub push subscriptions present (OIDC)."
  value       = google_service_account.pubsub_push.email
}

output "tasks_invoker_email" {
  description = "Email of the identity Cloud Tasks tasks present (OIDC); functions read it as LEDGERLINE_TASKS_INVOKER_SA."
  value       = google_service_account.tasks.email
}

output "scheduler_invoker_email" {
  description = "Email of the identity Cloud Scheduler jobs present (OIDC)."
  value       = google_service_account.scheduler.email
}

output "builder_id" {
  description = "Fully qualified id (projects/<p>/serviceAccounts/<email>) of the function build identity."
  value       = google_service_account.builder.id

  # A build started before the grant exists fails: hand the id out only once it can build.
  depends_on = [google_project_iam_member.builder, google_project_iam_member.builder_staged_sources]
}

output "builder_email" {
  description = "Email of the function build identity."
  value       = google_service_account.builder.email
}
