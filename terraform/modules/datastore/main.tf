# Firestore in Datastore mode and the composite indexes of topology/datastore_indexes.json (one per
# composite query the code declares; see shared/adapters/datastore_indexes.py). Single-property queries use the
# built-in indexes and need nothing here.

resource "google_firestore_database" "this" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.location
  type        = "DATASTORE_MODE"

  # Pessimistic transactions, as the emulator runs them (--use-firestore-in-datastore-mode): the
  # ledger retries contention aborts itself (shared/adapters/datastore_store.py in_transaction).
  concurrency_mode            = "PESSIMISTIC"
  app_engine_integration_mode = "DISABLED"

  # The ledger is the system of record: 7-day point-in-time recovery and delete protection in prod.
  point_in_time_recovery_enablement = var.protect ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.protect ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.protect ? "ABANDON" : "DELETE"
}

resource "google_firestore_index" "composite" {
  for_each = { for index in var.indexes : index.name => index }

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value.kind
  api_scope  = "DATASTORE_MODE_API"
  # Datastore-mode mapping (as gcloud's index.yaml import does it): no ancestor -> COLLECTION_GROUP,
  # ancestor -> COLLECTION_RECURSIVE.
  query_scope = try(each.value.ancestor, false) ? "COLLECTION_RECURSIVE" : "COLLECTION_GROUP"

  dynamic "fields" {
    for_each = each.value.properties
    content {
      field_path = fields.value.name
      order      = try(fields.value.direction, "asc") == "desc" ? "DESCENDING" : "ASCENDING"
    }
  }
}

# TTL policies (topology.json datastore.ttl): Firestore deletes an entity of the kind once the field's
# timestamp has passed (typically within a day). Needs a concurrency mode other than optimistic with
# entity groups (PESSIMISTIC above). The field stays excluded from indexes by the code that writes it.
resource "google_firestore_field" "ttl" {
  for_each = { for policy in var.ttl : policy.kind => policy }

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value.kind
  field      = each.value.field

  ttl_config {}
}
