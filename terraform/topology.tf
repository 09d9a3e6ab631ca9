# Messaging and analytics topology, driven entirely by ../topology/topology.json (the same file
# emulators/bootstrap.py reads locally). Nothing here names a topic, subscription, queue or table:
# add one to the JSON and both the emulators and Terraform pick it up.

locals {
  topology = jsondecode(file("${path.module}/../topology/topology.json"))

  topics        = { for t in local.topology.pubsub.topics : t.name => t }
  subscriptions = { for s in local.topology.pubsub.subscriptions : s.name => s }
  queues        = { for q in local.topology.tasks.queues : q.name => q }
  tables        = { for t in local.topology.bigquery.tables : t.name => t }

  labels = {
    app = "ledgerline"
    env = var.env
  }
}

# ---------------------------------------------------------------------------- Pub/Sub

resource "google_pubsub_topic" "this" {
  for_each = local.topics

  name                       = each.key
  message_retention_duration = try(each.value.message_retention_duration, null)
  labels                     = local.labels
}

resource "google_pubsub_subscription" "this" {
  for_each = local.subscriptions

  name                 = each.key
  topic                = google_pubsub_topic.this[each.value.topic].id
  ack_deadline_seconds = try(each.value.ack_deadline_seconds, 10)
  labels               = local.labels

  # Never expire for inactivity (the default is 31 days), which matters most for the dead-letter
  # hold subscription that nobody pulls from in normal operation.
  expiration_policy {
    ttl = ""
  }

  # Push to the named function's Cloud Run URI; the path names the topic, like the emulators'
  # push endpoint (shared/config.py), so functions-framework fills in the CloudEvent source.
  # No push_to (null) means a pull subscription.
  dynamic "push_config" {
    for_each = try(each.value.push_to, null) == null ? [] : [each.value.push_to]
    content {
      push_endpoint = "${google_cloudfunctions2_function.this[push_config.value].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

      oidc_token {
        service_account_email = google_service_account.invoker[push_config.value].email
        audience              = google_cloudfunctions2_function.this[push_config.value].service_config[0].uri
      }
    }
  }

  # The Pub/Sub service agent's publisher/subscriber grants for dead-lettering come with IAM.
  dynamic "dead_letter_policy" {
    for_each = try(each.value.dead_letter_topic, null) == null ? [] : [each.value]
    content {
      dead_letter_topic     = google_pubsub_topic.this[dead_letter_policy.value.dead_letter_topic].id
      max_delivery_attempts = try(dead_letter_policy.value.max_delivery_attempts, null)
    }
  }

  dynamic "retry_policy" {
    for_each = try(each.value.retry_minimum_backoff, null) == null ? [] : [each.value]
    content {
      minimum_backoff = retry_policy.value.retry_minimum_backoff
      maximum_backoff = try(retry_policy.value.retry_maximum_backoff, null)
    }
  }
}

# ---------------------------------------------------------------------------- Cloud Tasks

# The task URL and its OIDC token (an invoker service account, see functions.tf) are set per task
# by the enqueuer (shared/tasks_queue.py); the queue carries rate and retry settings only.
resource "google_cloud_tasks_queue" "this" {
  for_each = local.queues

  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  retry_config {
    max_attempts = each.value.max_attempts
    min_backoff  = each.value.min_backoff
    max_backoff  = each.value.max_backoff
  }
}

# ---------------------------------------------------------------------------- BigQuery

resource "google_bigquery_dataset" "this" {
  dataset_id                 = local.topology.bigquery.dataset
  location                   = local.topology.bigquery.location
  delete_contents_on_destroy = var.env != "prod"
  labels                     = local.labels
}

resource "google_bigquery_table" "this" {
  for_each = local.tables

  dataset_id          = google_bigquery_dataset.this.dataset_id
  table_id            = each.key
  description         = try(each.value.description, null)
  schema              = file("${path.module}/../topology/${each.value.schema}")
  clustering          = try(each.value.clustering, null)
  deletion_protection = var.env == "prod"
  labels              = local.labels

  dynamic "time_partitioning" {
    for_each = try(each.value.time_partitioning, null) == null ? [] : [each.value.time_partitioning]
    content {
      type  = time_partitioning.value.type
      field = try(time_partitioning.value.field, null)
    }
  }
}
