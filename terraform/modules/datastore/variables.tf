variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "location" {
  description = "Firestore location (a multi-region such as nam5 / eur3, or a region). Cannot change after creation."
  type        = string
}

variable "indexes" {
  description = "The `indexes` list of topology/datastore_indexes.json: name, kind, ancestor, properties [{name, direction}]."
  type        = any
}

variable "protect" {
  description = "Production safeguards: delete protection, point-in-time recovery, and abandon (never delete) on destroy."
  type        = bool
}

variable "ttl" {
  description = "The `datastore.ttl` list of topology/topology.json: kind, field (a timestamp the code sets)."
  type        = any
  default     = []
}
