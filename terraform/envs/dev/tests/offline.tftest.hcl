# terraform test against mock_provider "google" (make tf-validate; terraform/README.md, Offline
# validation). The schema comes from the offline stand-in provider; every value a real provider would
# compute is made up by the mock, so these runs check our wiring, not Google's answers.

mock_provider "google" {
  # The project number is in every run.app URL, push endpoint and OIDC audience.
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

variables {
  project_id = "ledgerline-offline"
}

run "plan" {
  command = plan

  # One Cloud Function (2nd gen) per topology function (module.functions.uris is keyed by them).
  assert {
    condition     = sort(keys(output.function_urls)) == sort(keys(jsondecode(file("../../../topology/topology.json")).functions))
    error_message = "every topology function needs exactly one google_cloudfunctions2_function"
  }

  assert {
    condition     = sort(keys(output.subscriptions)) == sort([for s in jsondecode(file("../../../topology/topology.json")).pubsub.subscriptions : s.name])
    error_message = "every topology subscription needs a google_pubsub_subscription"
  }

  assert {
    condition     = sort(keys(output.queues)) == sort([for q in jsondecode(file("../../../topology/topology.json")).tasks.queues : q.name])
    error_message = "every topology queue needs a google_cloud_tasks_queue"
  }

  assert {
    condition     = length(output.service_accounts) == length(jsondecode(file("../../../topology/topology.json")).functions) + 3
    error_message = "one runtime service account per function, plus the pubsub push, tasks and scheduler invokers"
  }

  # dev has no edge: no address, no public URLs.
  assert {
    condition     = output.edge.address == null && length(output.edge.urls) == 0
    error_message = "the edge is off by default"
  }
}

# The whole stack is planned only: applying it works, but the test's teardown would then destroy the
# KMS keys, which prevent_destroy refuses (Terraform 1.11 cannot skip the cleanup). The modules are
# applied one at a time instead, fed the topology as modules/stack feeds them: their resources are
# then top-level, so the assertions can read their arguments.
run "messaging" {
  command = apply

  module {
    source = "../../modules/messaging"
  }

  variables {
    region                     = "us-central1"
    topics                     = jsondecode(file("../../../topology/topology.json")).pubsub.topics
    subscriptions              = jsondecode(file("../../../topology/topology.json")).pubsub.subscriptions
    queues                     = jsondecode(file("../../../topology/topology.json")).tasks.queues
    function_urls              = { for name, _ in jsondecode(file("../../../topology/topology.json")).functions : name => "https://${name}-123456789012.us-central1.run.app" }
    push_service_account_email = "pubsub-push@ledgerline-offline.iam.gserviceaccount.com"
    pubsub_service_agent       = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    publishers                 = {}
    enqueuers                  = {}
    labels                     = {}
  }

  # Dead letters are kept 31 days on their topic (a seek window), 7 days (the subscription maximum)
  # on the hold subscription an operator pulls; the hold subscription never expires.
  assert {
    condition     = google_pubsub_topic.this["canonical-events-dead-letter"].message_retention_duration == "2678400s"
    error_message = "the dead-letter topic keeps messages 31 days (2678400s)"
  }

  assert {
    condition     = google_pubsub_subscription.this["canonical-events-dead-letter-hold"].message_retention_duration == "604800s"
    error_message = "the dead-letter hold subscription keeps unacked copies 7 days (604800s, the maximum)"
  }

  assert {
    condition     = google_pubsub_subscription.this["canonical-events-dead-letter-hold"].expiration_policy[0].ttl == ""
    error_message = "the hold subscription is pulled only by an operator: it must never expire"
  }

  assert {
    condition     = length(google_pubsub_subscription.this["canonical-events-dead-letter-hold"].push_config) == 0
    error_message = "the hold subscription is a pull subscription"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(file("../../../topology/topology.json")).pubsub.subscriptions :
      length(google_pubsub_subscription.this[s.name].dead_letter_policy) == (try(s.dead_letter_topic, null) == null ? 0 : 1)
    ])
    error_message = "a subscription has a dead-letter policy exactly when the topology gives it a dead_letter_topic"
  }

  assert {
    condition     = google_pubsub_subscription.this["ledger-canonical-events"].push_config[0].push_endpoint == "https://ledger-123456789012.us-central1.run.app/projects/ledgerline-offline/topics/canonical-events"
    error_message = "the ledger's push endpoint is its run.app URL + /projects/<project>/topics/<topic>"
  }
}

run "functions" {
  command = apply

  module {
    source = "../../modules/functions"
  }

  variables {
    region                 = "us-central1"
    env                    = "dev"
    protect                = false
    functions              = jsondecode(file("../../../topology/topology.json")).functions
    build_dir              = abspath("../../../build")
    environment            = { LEDGERLINE_ENV = "dev" }
    service_account_emails = { for name, _ in jsondecode(file("../../../topology/topology.json")).functions : name => "fn-${name}@ledgerline-offline.iam.gserviceaccount.com" }
    builder_id             = "projects/ledgerline-offline/serviceAccounts/builder@ledgerline-offline.iam.gserviceaccount.com"
    builder_email          = "builder@ledgerline-offline.iam.gserviceaccount.com"
    invokers               = {}
    labels                 = {}
    edge_enabled           = false
    public_invoker         = true
  }

  assert {
    condition     = sort(keys(google_cloudfunctions2_function.this)) == sort(keys(jsondecode(file("../../../topology/topology.json")).functions))
    error_message = "one google_cloudfunctions2_function per topology function"
  }

  # Ingress as the topology says: ALLOW_ALL only for the public functions (intake, api).
  assert {
    condition = alltrue([
      for name, fn in jsondecode(file("../../../topology/topology.json")).functions :
      google_cloudfunctions2_function.this[name].service_config[0].ingress_settings == fn.cloud.ingress &&
      (fn.cloud.ingress == "ALLOW_ALL") == fn.public
    ])
    error_message = "ingress_settings must follow topology cloud.ingress, ALLOW_ALL exactly for public functions"
  }

  assert {
    condition = alltrue([
      for name, fn in jsondecode(file("../../../topology/topology.json")).functions :
      google_cloudfunctions2_function.this[name].service_config[0].min_instance_count == fn.cloud.min_instances.dev &&
      google_cloudfunctions2_function.this[name].service_config[0].service_account_email == "fn-${name}@ledgerline-offline.iam.gserviceaccount.com"
    ])
    error_message = "each function runs as its own service account with its dev min_instances"
  }

  # The source object is named by the bundle's sha256: a changed bundle is a new object, a new build.
  assert {
    condition = alltrue([
      for name, _ in jsondecode(file("../../../topology/topology.json")).functions :
      google_storage_bucket_object.source[name].name == "${name}/${filesha256(abspath("../../../build/${name}.zip"))}.zip"
    ])
    error_message = "function sources are content-addressed: <function>/<sha256 of the zip>.zip"
  }

  # dev buckets can be emptied by a destroy; prod's cannot (protect).
  assert {
    condition     = google_storage_bucket.sources.force_destroy
    error_message = "dev's sources bucket is force_destroy"
  }

  assert {
    condition     = output.uris == { for name, fn in google_cloudfunctions2_function.this : name => fn.service_config[0].uri }
    error_message = "uris are the functions' Cloud Run URIs"
  }
}
