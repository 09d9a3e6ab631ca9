# Cloud Scheduler jobs of topology/topology.json `scheduler.jobs`: an HTTP POST with a JSON body to a
# function's URL, authenticated with the scheduler invoker's OIDC token.

resource "google_cloud_scheduler_job" "this" {
  for_each = { for job in var.jobs : job.name => job }

  project          = var.project_id
  region           = var.region
  name             = each.key
  description      = "ledgerline: POST ${each.value.path} on ${each.value.target} with ${jsonencode(each.value.body)}"
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = each.value.attempt_deadline
  paused           = var.paused

  retry_config {
    retry_count          = each.value.retry_count
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
  }

  http_target {
    http_method = "POST"
    uri         = "${var.function_urls[each.value.target]}${each.value.path}"
    body        = base64encode(jsonencode(each.value.body))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = var.service_account_email
      audience              = var.function_urls[each.value.target]
    }
  }
}
