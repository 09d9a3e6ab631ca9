# BigQuery dataset and tables of topology/topology.json (schemas from topology/bigquery/*.json, the
# files the emulator bootstrap loads), with table-level grants for the functions that use them.

locals {
  tables = { for t in var.tables : t.name => t }

  # "<table>/<function>" => { table, member }: keys from topology names only.
  writers = merge({}, [for table, members in var.writers : { for who, member in members : "${table}/${who}" => { table = table, member = member } }]...)
  readers = merge({}, [for table, members in var.readers : { for who, member in members : "${table}/${who}" => { table = table, member = member } }]...)
}

resource "google_bigquery_dataset" "this" {
  # checkov:skip=CKV_GCP_81:Google-managed encryption at rest; customer-managed keys (a KMS key ring, rotation, and the service agents' encrypter grants) are a separate decision, not taken by this issue.
  project                    = var.project_id
  dataset_id                 = var.dataset
  location                   = var.location
  description                = "ledgerline: ledger entries and reconciliation results."
  delete_contents_on_destroy = !var.protect
  labels                     = var.labels
}

resource "google_bigquery_table" "this" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption at rest; customer-managed keys (a KMS key ring, rotation, and the service agents' encrypter grants) are a separate decision, not taken by this issue.
  for_each = local.tables

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.this.dataset_id
  table_id            = each.key
  description         = try(each.value.description, null)
  schema              = file("${var.schema_dir}/${each.value.schema}")
  clustering          = try(each.value.clustering, null)
  deletion_protection = var.protect
  labels              = var.labels
  # topology.json: the ledger's records (entries, operator_audit) are read whole by `ledgerline verify`
  # and never expire; reconciliation results require a run_date filter and expire after 7 years.
  require_partition_filter = try(each.value.require_partition_filter, false)

  dynamic "time_partitioning" {
    for_each = try(each.value.time_partitioning, null) == null ? [] : [each.value.time_partitioning]
    content {
      type          = time_partitioning.value.type
      field         = try(time_partitioning.value.field, null)
      expiration_ms = try(time_partitioning.value.expiration_days, null) == null ? null : time_partitioning.value.expiration_days * 86400000
    }
  }
}

resource "google_bigquery_table_iam_member" "writer" {
  for_each = local.writers

  project    = var.project_id
  dataset_id = google_bigquery_dataset.this.dataset_id
  table_id   = google_bigquery_table.this[each.value.table].table_id
  role       = "roles/bigquery.dataEditor"
  member     = each.value.member
}

resource "google_bigquery_table_iam_member" "reader" {
  for_each = local.readers

  project    = var.project_id
  dataset_id = google_bigquery_dataset.this.dataset_id
  table_id   = google_bigquery_table.this[each.value.table].table_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value.member
}
