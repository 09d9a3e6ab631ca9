output "dataset" {
  description = "BigQuery dataset id."
  value       = google_bigquery_dataset.this.dataset_id
}

output "tables" {
  description = "BigQuery table ids, by topology name."
  value       = { for name, t in google_bigquery_table.this : name => t.id }
}
