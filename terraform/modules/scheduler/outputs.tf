output "jobs" {
  description = "Cloud Scheduler job ids, by topology name."
  value       = { for name, job in google_cloud_scheduler_job.this : name => job.id }
}
