# Log-based metrics over the functions' structured JSON logs (shared/logs.py: jsonPayload.message and
# the `extra=` fields) and the alert policies on them. Messages matched here are part of the code's
# contract: "dead letter" (+ reason_code), "reconciliation break" (+ severity_level, partner),
# "webhook rejected" (+ status, partner, code), "conflict recorded" (+ conflict_kind: inbox | ledger), "webhook
# endpoint disabled" (+ reason: gone | failing; endpoint, tenant) and "webhook attempt" (+ outcome:
# delivered | retry | give_up | gone) — the last two from shared/webhooks/service.py. Checked by
# tests/terraform/test_monitoring.py.

locals {
  run = "resource.type=\"cloud_run_revision\""

  intake = "${local.run} AND resource.labels.service_name=\"${var.service_names.intake}\""

  channels = concat(var.notification_channels, [for c in google_monitoring_notification_channel.email : c.id])
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  project      = var.project_id
  display_name = "ledgerline ${var.env} alerts: ${each.key}"
  type         = "email"
  labels = {
    email_address = each.key
  }
}

# ---------------------------------------------------------------------------- metrics

resource "google_logging_metric" "dead_letters" {
  project     = var.project_id
  name        = "ledgerline_dead_letters"
  description = "Messages or tasks given up on and parked as dead letters, by reason."
  filter      = "${local.run} AND jsonPayload.message=\"dead letter\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why it was dead-lettered (jsonPayload.reason_code, e.g. exhausted)."
    }
  }
  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason_code)"
  }
}

resource "google_logging_metric" "reconciliation_breaks" {
  project     = var.project_id
  name        = "ledgerline_reconciliation_breaks"
  description = "Reconciliation breaks found, by severity and partner."
  filter      = "${local.run} AND jsonPayload.message=\"reconciliation break\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "severity"
      value_type  = "STRING"
      description = "Break severity (jsonPayload.severity_level)."
    }
    labels {
      key         = "partner"
      value_type  = "STRING"
      description = "Partner of the settlement report."
    }
  }
  label_extractors = {
    severity = "EXTRACT(jsonPayload.severity_level)"
    partner  = "EXTRACT(jsonPayload.partner)"
  }
}

resource "google_logging_metric" "intake_rejections" {
  project     = var.project_id
  name        = "ledgerline_intake_rejections"
  description = "Webhooks intake answered 4xx (bad signature, malformed or invalid body, ...), by status and partner."
  filter      = "${local.intake} AND jsonPayload.message=\"webhook rejected\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status answered."
    }
    labels {
      key         = "partner"
      value_type  = "STRING"
      description = "Partner path segment of the webhook."
    }
  }
  label_extractors = {
    status  = "EXTRACT(jsonPayload.status)"
    partner = "EXTRACT(jsonPayload.partner)"
  }
}

# 5xx come from Cloud Run's request log (an answer the code never logged, e.g. a crash or timeout,
# counts too).
resource "google_logging_metric" "intake_server_errors" {
  project     = var.project_id
  name        = "ledgerline_intake_5xx"
  description = "Requests intake answered 5xx (partners redeliver; sustained 5xx means webhooks pile up)."
  filter      = "${local.intake} AND logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\" AND httpRequest.status>=500"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

# Conflicts, wherever they are recorded: the intake's inbox (a partner redelivered an event id with
# other money content: the first version is kept) and the ledger (an operation id seen again with
# another body: refused, recorded as a Conflict entity) — any function may post through the ledger.
resource "google_logging_metric" "ledger_conflicts" {
  project     = var.project_id
  name        = "ledgerline_ledger_conflicts"
  description = "Conflicts recorded: an id seen again with different content (refused; Conflict / InboxConflict), by kind."
  filter      = "${local.run} AND jsonPayload.message=\"conflict recorded\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "Where: inbox (intake) or ledger (jsonPayload.conflict_kind)."
    }
  }
  label_extractors = {
    kind = "EXTRACT(jsonPayload.conflict_kind)"
  }
}

# A tenant's endpoint stopped: it answered 410 Gone, or kept failing past the disable threshold
# (shared.domain.webhooks.delivery). The log line carries endpoint and tenant ids, never a URL or secret.
resource "google_logging_metric" "webhook_endpoints_disabled" {
  project     = var.project_id
  name        = "ledgerline_webhook_endpoints_disabled"
  description = "Tenant webhook endpoints disabled by delivery, by reason (gone: answered 410; failing: failed too long)."
  filter      = "${local.run} AND jsonPayload.message=\"webhook endpoint disabled\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "gone or failing (jsonPayload.reason)."
    }
  }
  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }
}

# Every outbound delivery attempt, by outcome: a chart of tenants' endpoint health, no alert of its
# own (give_up records a dead letter, which alerts; gone disables the endpoint, which alerts).
resource "google_logging_metric" "webhook_attempts" {
  project     = var.project_id
  name        = "ledgerline_webhook_attempts"
  description = "Outbound webhook delivery attempts, by outcome (delivered, retry, give_up, gone)."
  filter      = "${local.run} AND jsonPayload.message=\"webhook attempt\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "The delivery policy's verdict on the answer (jsonPayload.outcome)."
    }
  }
  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
  }
}

# ---------------------------------------------------------------------------- alerts

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: dead letters"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "ERROR"

  # An alert nobody receives is no alert: prod refuses to plan without a channel (alert_emails or
  # notification_channels). A precondition, not a variable validation: it reads two variables.
  lifecycle {
    precondition {
      condition     = var.env != "prod" || length(var.alert_emails) + length(var.notification_channels) > 0
      error_message = "prod needs at least one notification channel: set alert_emails or notification_channels."
    }
  }

  conditions {
    display_name = "a function logged a dead letter"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.dead_letters.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.reason"]
      }
      trigger {
        count = 1
      }
    }
  }

  # Pub/Sub dead-letters by itself (no log line from our code): messages waiting on a dead-letter
  # hold subscription are dead letters too.
  dynamic "conditions" {
    for_each = toset(var.dead_letter_subscriptions)
    content {
      display_name = "messages waiting on ${conditions.value}"
      condition_threshold {
        filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${conditions.value}\""
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "0s"
        aggregations {
          alignment_period   = "300s"
          per_series_aligner = "ALIGN_MAX"
        }
        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Dead letters need an operator: read them (`shared.cli redrive` / the dead-letter hold subscription), fix the cause, redrive. See docs/deploy.md#alerts."
  }
}

resource "google_monitoring_alert_policy" "reconciliation_breaks" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: reconciliation breaks"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "WARNING"

  # One time series (and so one incident) per severity and partner.
  conditions {
    display_name = "breaks found, by severity"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.reconciliation_breaks.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.severity", "metric.label.partner"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Reconciliation found breaks: see BigQuery ledgerline.recon_breaks for the run (severity and partner are in the incident labels)."
  }
}

resource "google_monitoring_alert_policy" "intake_errors" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: intake 4xx/5xx rate"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "WARNING"

  conditions {
    display_name = "webhooks rejected (4xx) per 5 minutes above threshold"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.intake_rejections.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.intake_4xx_per_5m
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.partner"]
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "intake answered 5xx per 5 minutes above threshold"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.intake_server_errors.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.intake_5xx_per_5m
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A partner's webhooks are being rejected (signature/secret rotation? payload change?) or intake fails (5xx: Datastore, Pub/Sub or Cloud Tasks unavailable). Logs: jsonPayload.message=\"webhook rejected\" on the intake service."
  }
}

resource "google_monitoring_alert_policy" "ledger_conflicts" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: conflicts"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "ERROR"

  conditions {
    display_name = "a function recorded a conflict"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.ledger_conflicts.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.kind"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An id arrived again with different content. kind=inbox: a partner redelivered an event with other money fields; the intake kept the first version (InboxConflict). kind=ledger: the ledger refused an operation whose id it had applied with another body (Conflict). Money did not move twice; find out why two versions exist (`ledgerline verify` lists them)."
  }
}

resource "google_monitoring_alert_policy" "webhook_endpoints_disabled" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: webhook endpoints disabled"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "WARNING"

  # One time series (and so one incident) per reason.
  conditions {
    display_name = "a tenant's webhook endpoint was disabled"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.webhook_endpoints_disabled.name}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.reason"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A tenant's webhook endpoint was disabled (reason gone: it answered 410; failing: it failed past the threshold); the tenant's other endpoints got a webhook_endpoint.disabled event. One endpoint is the tenant's business; many at once point to our side (egress, DNS, TLS, SSRF rules): chart ledgerline_webhook_attempts by outcome. Logs: jsonPayload.message=\"webhook endpoint disabled\" (endpoint, tenant). See docs/deploy.md#alerts."
  }
}

# A Cloud Scheduler attempt that failed (reconciliation, the sweeps, the janitor): Cloud Scheduler writes
# one AttemptFinished entry per attempt to its `executions` log, at ERROR with a `status` (the target's
# answer as an RPC code, e.g. INTERNAL for a 5xx, DEADLINE_EXCEEDED) when the attempt failed. A job
# whose retries then succeed still counts its failed attempts: the alert says "look", not "lost".
resource "google_logging_metric" "scheduler_failures" {
  project     = var.project_id
  name        = "ledgerline_scheduler_failures"
  description = "Failed Cloud Scheduler job attempts, by job."
  filter      = "resource.type=\"cloud_scheduler_job\" AND logName=\"projects/${var.project_id}/logs/cloudscheduler.googleapis.com%2Fexecutions\" AND jsonPayload.@type=\"type.googleapis.com/google.cloud.scheduler.logging.AttemptFinished\" AND severity>=ERROR"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "job"
      value_type  = "STRING"
      description = "The scheduler job (topology.json scheduler.jobs name)."
    }
  }
  label_extractors = {
    job = "EXTRACT(resource.labels.job_id)"
  }
}

# ---------------------------------------------------------------------------- platform metrics (no log line)

# A push subscription whose oldest message keeps aging: the function it pushes to is failing or too slow
# (each message is retried with backoff; the dead-letter policy takes it after max_delivery_attempts).
resource "google_monitoring_alert_policy" "subscription_backlog" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: Pub/Sub backlog"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "ERROR"

  dynamic "conditions" {
    for_each = toset(var.push_subscriptions)
    content {
      display_name = "oldest unacked message on ${conditions.value}"
      condition_threshold {
        filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${conditions.value}\""
        comparison      = "COMPARISON_GT"
        threshold_value = var.oldest_unacked_seconds
        duration        = "300s"
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages wait on a push subscription: its function answers errors or does not keep up. Look at that function's logs and 5xx; the ledger's dead-letter policy takes a message after 5 deliveries. See docs/deploy.md#alerts."
  }
}

# Tasks pile up in a queue: the retries, payments or webhooks function fails, or a partner is down and
# the backoff holds them (a long outage); either way a person looks.
resource "google_monitoring_alert_policy" "task_queue_depth" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: Cloud Tasks queue depth"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "WARNING"

  dynamic "conditions" {
    for_each = toset(var.task_queues)
    content {
      display_name = "tasks waiting in ${conditions.value}"
      condition_threshold {
        filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${conditions.value}\""
        comparison      = "COMPARISON_GT"
        threshold_value = var.queue_depth_max
        duration        = "600s"
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }
        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A queue holds more tasks than usual for 10 minutes: its target function fails (its logs, 5xx) or a partner outage holds retries back (payments, webhooks). Tasks are never lost: they retry, then dead-letter. See docs/deploy.md#alerts."
  }
}

# A scheduled job failed an attempt: a reconciliation run that did not run leaves a day unreconciled,
# a sweep that does not run leaves the safety nets off (stream-pending, redrive, expire-holds, janitor).
resource "google_monitoring_alert_policy" "scheduler_failures" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: scheduled job failed"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "ERROR"

  conditions {
    display_name = "failed Cloud Scheduler attempts"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.scheduler_failures.name}\" AND resource.type=\"cloud_scheduler_job\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.job"]
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Cloud Scheduler job's attempt failed (the job is in the incident's labels). Its target function's logs say why (filter on the scheduler's trace). A reconciliation job: re-run the day with `ledgerline recon run` or POST /runs once the cause is fixed. See docs/deploy.md#alerts."
  }
}

# Cloud Monitoring has no "oldest task age" for Cloud Tasks: task_attempt_delays (the delay between a
# task's scheduled time and its attempt) stands for it. Attempts that start late mean the queue is
# throttled (rate limits, max concurrent dispatches) or its target is slow: tasks age in the queue.
resource "google_monitoring_alert_policy" "task_attempt_delays" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: Cloud Tasks attempts late"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "WARNING"

  dynamic "conditions" {
    for_each = toset(var.task_queues)
    content {
      display_name = "attempts late in ${conditions.value}"
      condition_threshold {
        filter          = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${conditions.value}\""
        comparison      = "COMPARISON_GT"
        threshold_value = var.task_delay_ms_max
        duration        = "600s"
        aggregations {
          alignment_period   = "300s"
          per_series_aligner = "ALIGN_PERCENTILE_99"
        }
        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Tasks start well after their scheduled time for 10 minutes (p99 of task_attempt_delays): the queue is throttled or its function slow. The queue-depth alert says how many wait. See docs/deploy.md#alerts."
  }
}

# 5xx from the functions other than intake (which has its own, with a per-partner 4xx rate): from
# Cloud Run's request metrics, so a crash or a timeout the code never logged counts too.
resource "google_monitoring_alert_policy" "server_errors" {
  project               = var.project_id
  display_name          = "ledgerline ${var.env}: 5xx"
  combiner              = "OR"
  notification_channels = local.channels
  severity              = "ERROR"

  dynamic "conditions" {
    for_each = toset(var.server_error_services)
    content {
      display_name = "5xx from ${conditions.value}"
      condition_threshold {
        filter          = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${conditions.value}\" AND metric.labels.response_code_class=\"5xx\""
        comparison      = "COMPARISON_GT"
        threshold_value = var.server_errors_per_5m
        duration        = "0s"
        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_SUM"
          cross_series_reducer = "REDUCE_SUM"
        }
        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function answers 5xx: storage or a dependency is down, or a bug. Its callers retry (Pub/Sub, Cloud Tasks) or see the error (api). See the function's logs; docs/deploy.md#alerts."
  }
}

# ---------------------------------------------------------------------------- dashboard

# What an on-call engineer opens first: dead letters, conflicts, intake rejections, 5xx, Pub/Sub backlog,
# queue depth, breaks, webhooks out, latency. The layout is JSON in the repo (dashboard.json.tftpl),
# the log-based metrics' names filled in from this module.
resource "google_monitoring_dashboard" "on_call" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    env                   = var.env
    dead_letters          = google_logging_metric.dead_letters.name
    conflicts             = google_logging_metric.ledger_conflicts.name
    intake_rejections     = google_logging_metric.intake_rejections.name
    reconciliation_breaks = google_logging_metric.reconciliation_breaks.name
    webhook_attempts      = google_logging_metric.webhook_attempts.name
    scheduler_failures    = google_logging_metric.scheduler_failures.name
  })
}
