output "database" {
  description = "Firestore (Datastore mode) database name."
  value       = google_firestore_database.this.name
}

output "index_ids" {
  description = "Composite index ids, by registry name."
  value       = { for name, index in google_firestore_index.composite : name => index.name }
}
