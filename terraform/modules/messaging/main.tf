# Pub/Sub and Cloud Tasks, driven by topology/topology.json (the same lists emulators/bootstrap.py
# creates locally). No topic, subscription or queue is named here.

locals {
  topics        = { for t in var.topics : t.name => t }
  subscriptions = { for s in var.subscriptions : s.name => s }
  queues        = { for q in var.queues : q.name => q }

  dead_letter_topics = toset([for s in var.subscriptions : s.dead_letter_topic if try(s.dead_letter_topic, null) != null])
  dead_lettering     = toset([for s in var.subscriptions : s.name if try(s.dead_letter_topic, null) != null])

  # "<topic>/<function>" => member, "<queue>/<function>" => member: keys are topology names only, so
  # they are known at plan time (service account emails are not, on the first apply).
  publishers = merge({}, [for topic, members in var.publishers : { for who, member in members : "${topic}/${who}" => { topic = topic, member = member } }]...)
  enqueuers  = merge({}, [for queue, members in var.enqueuers : { for who, member in members : "${queue}/${who}" => { queue = queue, member = member } }]...)
}

# ---------------------------------------------------------------------------- Pub/Sub

resource "google_pubsub_topic" "this" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption at rest; customer-managed keys (a KMS key ring, rotation, and the service agents' encrypter grants) are a separate decision, not taken by this issue.
  for_each = local.topics

  project                    = var.project_id
  name                       = each.key
  message_retention_duration = try(each.value.message_retention_duration, null)
  labels                     = var.labels
}

resource "google_pubsub_subscription" "this" {
  for_each = local.subscriptions

  project              = var.project_id
  name                 = each.key
  topic                = google_pubsub_topic.this[each.value.topic].id
  ack_deadline_seconds = try(each.value.ack_deadline_seconds, 10)
  # Only messages whose attributes match (the payments function's: consumer = "payments"). A filter
  # cannot change on an existing subscription: a new filter is a new subscription (docs/deploy.md).
  filter = try(each.value.filter, null)
  labels = var.labels
  # How long unacked messages are kept (topology.json; at most 7 days for a subscription, the topic keeps
  # the dead letters 31 days for a seek).
  message_retention_duration = try(each.value.message_retention_duration, null)

  # Never expire for inactivity (the default is 31 days): the dead-letter hold subscription is
  # pulled only by an operator.
  expiration_policy {
    ttl = ""
  }

  # Push to the function's run.app URL; the path names the topic, as the emulator bootstrap does
  # (shared/config.py Settings.push_endpoint), so functions-framework fills in the CloudEvent
  # source. The OIDC audience is the service URL, which Cloud Run accepts. No push_to: pull.
  dynamic "push_config" {
    for_each = try(each.value.push_to, null) == null ? [] : [each.value.push_to]
    content {
      push_endpoint = "${var.function_urls[push_config.value]}/projects/${var.project_id}/topics/${each.value.topic}"

      oidc_token {
        service_account_email = var.push_service_account_email
        audience              = var.function_urls[push_config.value]
      }
    }
  }

  dynamic "dead_letter_policy" {
    for_each = try(each.value.dead_letter_topic, null) == null ? [] : [each.value]
    content {
      dead_letter_topic     = google_pubsub_topic.this[dead_letter_policy.value.dead_letter_topic].id
      max_delivery_attempts = dead_letter_policy.value.max_delivery_attempts
    }
  }

  dynamic "retry_policy" {
    for_each = try(each.value.retry_minimum_backoff, null) == null ? [] : [each.value]
    content {
      minimum_backoff = retry_policy.value.retry_minimum_backoff
      maximum_backoff = retry_policy.value.retry_maximum_backoff
    }
  }
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publishers

  project = var.project_id
  topic   = google_pubsub_topic.this[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic and
# acknowledge (subscribe to) the source subscription, or messages are never forwarded.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_topics

  project = var.project_id
  topic   = google_pubsub_topic.this[each.key].name
  role    = "roles/pubsub.publisher"
  member  = var.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.dead_lettering

  project      = var.project_id
  subscription = google_pubsub_subscription.this[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = var.pubsub_service_agent
}

# ---------------------------------------------------------------------------- Cloud Tasks

# Each task carries its own URL and OIDC token (shared/adapters/tasks_queue.py, LEDGERLINE_TASKS_INVOKER_SA);
# the queue holds rate and retry settings. The code also schedules its own backoff (schedule_time).
resource "google_cloud_tasks_queue" "this" {
  for_each = local.queues

  project  = var.project_id
  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  retry_config {
    max_attempts  = each.value.max_attempts
    min_backoff   = each.value.min_backoff
    max_backoff   = each.value.max_backoff
    max_doublings = try(each.value.max_doublings, 16)
  }

  stackdriver_logging_config {
    sampling_ratio = var.tasks_log_sampling_ratio
  }
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueuers

  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.this[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value.member
}
