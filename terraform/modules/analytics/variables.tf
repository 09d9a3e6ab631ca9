variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "dataset" {
  description = "Dataset id (topology.json bigquery.dataset)."
  type        = string
}

variable "location" {
  description = "Dataset location (topology.json bigquery.location)."
  type        = string
}

variable "tables" {
  description = "topology.json bigquery.tables: name, schema (path under schema_dir), description, time_partitioning (type, field, expiration_days), require_partition_filter, clustering."
  type        = any
}

variable "schema_dir" {
  description = "Directory the table `schema` paths are relative to (topology/)."
  type        = string
}

variable "protect" {
  description = "Production safeguards: table deletion protection; the dataset keeps its contents on destroy."
  type        = bool
}

variable "writers" {
  description = "Streaming writers per table: table name => { function name => IAM member }."
  type        = map(map(string))
}

variable "readers" {
  description = "Readers per table: table name => { function name => IAM member }."
  type        = map(map(string))
}

variable "labels" {
  description = "Labels on every labelled resource."
  type        = map(string)
}
