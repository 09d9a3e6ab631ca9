output "alert_policies" {
  description = "Alert policy ids, by concern."
  value = {
    dead_letters          = google_monitoring_alert_policy.dead_letters.id
    reconciliation_breaks = google_monitoring_alert_policy.reconciliation_breaks.id
    intake_errors         = google_monitoring_alert_policy.intake_errors.id
    ledger_conflicts      = google_monitoring_alert_policy.ledger_conflicts.id
    webhook_endpoints     = google_monitoring_alert_policy.webhook_endpoints_disabled.id
  }
}
