# terraform test of prod against mock_provider "google" (make tf-validate; terraform/README.md,
# Offline validation): prod's own rules. A precondition inside a child module cannot be named in
# expect_failures from the root, so those runs call the module itself (its resources are then
# top-level), with the values modules/stack passes it.

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}

variables {
  project_id   = "ledgerline-offline"
  alert_emails = ["oncall@example.com"]
}

# With a notification channel prod plans, and keeps what a destroy would lose.
run "plan" {
  command = plan

  assert {
    condition     = sort(keys(output.function_urls)) == sort(keys(jsondecode(file("../../../topology/topology.json")).functions))
    error_message = "every topology function needs exactly one google_cloudfunctions2_function"
  }

  assert {
    condition     = output.function_urls != null && output.edge.address == null
    error_message = "the edge stays off unless var.edge enables it"
  }
}

# An alert nobody receives is no alert: prod without a notification channel must not plan.
run "no_notification_channel" {
  command = plan

  module {
    source = "../../modules/monitoring"
  }

  variables {
    env                       = "prod"
    service_names             = { intake = "intake" }
    dead_letter_subscriptions = ["retries-dead-letters"]
    push_subscriptions        = ["ledger-canonical-events"]
    task_queues               = ["retries"]
    server_error_services     = ["ledger"]
    alert_emails              = []
    notification_channels     = []
  }

  expect_failures = [
    google_monitoring_alert_policy.dead_letters,
  ]
}

run "notification_channel" {
  command = apply

  module {
    source = "../../modules/monitoring"
  }

  variables {
    env                       = "prod"
    service_names             = { intake = "intake" }
    dead_letter_subscriptions = ["retries-dead-letters"]
    push_subscriptions        = ["ledger-canonical-events"]
    task_queues               = ["retries"]
    server_error_services     = ["ledger"]
    alert_emails              = ["oncall@example.com"]
    notification_channels     = ["projects/ledgerline-offline/notificationChannels/42"]
  }

  assert {
    condition     = length(google_monitoring_alert_policy.dead_letters.notification_channels) == 2
    error_message = "every alert goes to each e-mail channel and each given notification channel"
  }

  assert {
    condition     = contains(google_monitoring_alert_policy.dead_letters.notification_channels, "projects/ledgerline-offline/notificationChannels/42")
    error_message = "the given notification channel receives the dead-letter alert"
  }

  assert {
    condition     = google_monitoring_notification_channel.email["oncall@example.com"].labels.email_address == "oncall@example.com"
    error_message = "alert_emails become e-mail notification channels"
  }
}

# Each backlog / depth / 5xx alert policy has one condition per watched object, and a policy needs
# at least one: the module refuses empty lists rather than fail later on the schema.
run "monitoring_watches_something" {
  command = plan

  module {
    source = "../../modules/monitoring"
  }

  variables {
    env                       = "prod"
    service_names             = { intake = "intake" }
    dead_letter_subscriptions = ["retries-dead-letters"]
    push_subscriptions        = []
    task_queues               = []
    server_error_services     = []
    alert_emails              = ["oncall@example.com"]
  }

  expect_failures = [
    var.push_subscriptions,
    var.task_queues,
    var.server_error_services,
  ]
}

# The edge needs a domain per public function: the root variable refuses an edge without hosts...
run "edge_without_hosts" {
  command = plan

  variables {
    edge = { enabled = true }
  }

  expect_failures = [
    var.edge,
  ]
}

# ...and the edge module one whose hosts miss a public function.
run "edge_hosts_incomplete" {
  command = plan

  module {
    source = "../../modules/edge"
  }

  variables {
    region                = "us-central1"
    enabled               = true
    hosts                 = { intake = "hooks.example.com" }
    public_functions      = ["api", "intake"]
    project_number        = "123456789012"
    console_function      = "api"
    partner_source_ranges = {}
    labels                = {}
  }

  expect_failures = [
    google_compute_global_address.edge,
  ]
}

# The console behind IAP (docs/console.md, Auth): its own host on a second backend over the api's NEG
# with IAP on, the operators listed as IAP accessors, the public hosts stripping IAP's header and
# sending /console there, and the audience the api checks.
run "edge_with_the_console_behind_iap" {
  command = apply

  module {
    source = "../../modules/edge"
  }

  variables {
    region                = "us-central1"
    enabled               = true
    hosts                 = { intake = "hooks.example.com", api = "api.example.com" }
    public_functions      = ["api", "intake"]
    project_number        = "123456789012"
    console_function      = "api"
    partner_source_ranges = {}
    labels                = {}
    console = {
      host      = "console.example.com"
      operators = ["group:ops@example.com", "user:ana@example.com"]
    }
  }

  assert {
    condition     = google_compute_backend_service.console[0].iap[0].enabled
    error_message = "the console's backend has IAP on"
  }

  assert {
    condition     = [for b in google_compute_backend_service.console[0].backend : b.group] == [google_compute_region_network_endpoint_group.public["api"].id]
    error_message = "the console is served by the api's serverless NEG"
  }

  assert {
    condition     = google_compute_region_network_endpoint_group.public["api"].cloud_run[0].service == "api"
    error_message = "a NEG names the function's Cloud Run service by the function's name (no reference to the functions: no cycle)"
  }

  assert {
    condition     = sort([for m in google_iap_web_backend_service_iam_member.console : m.member]) == tolist(["group:ops@example.com", "user:ana@example.com"])
    error_message = "one IAP accessor grant per operator member"
  }

  assert {
    condition     = alltrue([for m in google_iap_web_backend_service_iam_member.console : m.role == "roles/iap.httpsResourceAccessor" && m.web_backend_service == "ledgerline-console"])
    error_message = "the grants are httpsResourceAccessor on the console's backend"
  }

  assert {
    condition     = google_compute_managed_ssl_certificate.console[0].managed[0].domains == tolist(["console.example.com"]) && !contains(google_compute_managed_ssl_certificate.edge[0].managed[0].domains, "console.example.com")
    error_message = "the console's host has a certificate of its own; the public one is left as it was"
  }

  assert {
    condition     = length(google_compute_target_https_proxy.edge[0].ssl_certificates) == 2
    error_message = "the HTTPS proxy serves both certificates"
  }

  assert {
    condition     = contains(flatten([for r in google_compute_url_map.edge[0].host_rule : r.hosts if r.path_matcher == "console"]), "console.example.com")
    error_message = "the console's host goes to its own path matcher"
  }

  assert {
    condition = alltrue([
      for m in google_compute_url_map.edge[0].path_matcher : contains(m.header_action[0].request_headers_to_remove, "X-Goog-IAP-JWT-Assertion") && m.path_rule[0].url_redirect[0].host_redirect == "console.example.com"
      if m.name != "console"
    ])
    error_message = "the public hosts drop IAP's header and redirect /console to the console's host"
  }

  assert {
    condition     = output.iap_audience == "/projects/123456789012/global/backendServices/${google_compute_backend_service.console[0].generated_id}"
    error_message = "the audience is /projects/<number>/global/backendServices/<the console backend's id>"
  }

  assert {
    condition     = output.console_url == "https://console.example.com/console/"
    error_message = "the console's URL"
  }
}

run "edge_console_needs_operators" {
  command = plan

  module {
    source = "../../modules/edge"
  }

  variables {
    region                = "us-central1"
    enabled               = true
    hosts                 = { intake = "hooks.example.com", api = "api.example.com" }
    public_functions      = ["api", "intake"]
    project_number        = "123456789012"
    console_function      = "api"
    partner_source_ranges = {}
    labels                = {}
    console               = { host = "console.example.com", operators = ["allUsers"] }
  }

  expect_failures = [
    var.console,
  ]
}

run "edge_console_on_a_public_host" {
  command = plan

  module {
    source = "../../modules/edge"
  }

  variables {
    region                = "us-central1"
    enabled               = true
    hosts                 = { intake = "hooks.example.com", api = "api.example.com" }
    public_functions      = ["api", "intake"]
    project_number        = "123456789012"
    console_function      = "api"
    partner_source_ranges = {}
    labels                = {}
    console               = { host = "api.example.com", operators = ["group:ops@example.com"] }
  }

  expect_failures = [
    google_compute_global_address.edge,
  ]
}

# The root refuses a console without the edge.
run "console_without_the_edge" {
  command = plan

  variables {
    edge = { enabled = false, console = { host = "console.example.com", operators = ["group:ops@example.com"] } }
  }

  expect_failures = [
    var.edge,
  ]
}

run "functions_protected" {
  command = apply

  module {
    source = "../../modules/functions"
  }

  variables {
    region                 = "us-central1"
    env                    = "prod"
    protect                = true
    functions              = jsondecode(file("../../../topology/topology.json")).functions
    build_dir              = abspath("../../../build")
    environment            = { LEDGERLINE_ENV = "prod" }
    service_account_emails = { for name, _ in jsondecode(file("../../../topology/topology.json")).functions : name => "fn-${name}@ledgerline-offline.iam.gserviceaccount.com" }
    builder_id             = "projects/ledgerline-offline/serviceAccounts/builder@ledgerline-offline.iam.gserviceaccount.com"
    builder_email          = "builder@ledgerline-offline.iam.gserviceaccount.com"
    invokers               = {}
    labels                 = {}
    secret_versions        = { PAYMENTS_FINGERPRINT_KEY = "4" }
    edge_enabled           = false
    public_invoker         = true
  }

  assert {
    condition     = !google_storage_bucket.sources.force_destroy
    error_message = "prod's sources bucket cannot be emptied by a destroy"
  }

  assert {
    condition = alltrue([
      for name, fn in jsondecode(file("../../../topology/topology.json")).functions :
      google_cloudfunctions2_function.this[name].service_config[0].min_instance_count == fn.cloud.min_instances.prod
    ])
    error_message = "prod functions run their prod min_instances"
  }

  # A pinned secret version is what the functions read (rotation through Terraform): api and
  # payments read PAYMENTS_FINGERPRINT_KEY, pinned to 4; every other secret reads latest.
  assert {
    condition = sort(flatten([
      for name, fn in google_cloudfunctions2_function.this : [
        for s in fn.service_config[0].secret_environment_variables : name if s.key == "PAYMENTS_FINGERPRINT_KEY" && s.version == "4"
      ]
    ])) == tolist(["api", "payments"])
    error_message = "secret_versions pins the version every reader of that secret gets"
  }

  assert {
    condition = alltrue(flatten([
      for name, fn in google_cloudfunctions2_function.this : [
        for s in fn.service_config[0].secret_environment_variables : s.version == "latest" if s.key != "PAYMENTS_FINGERPRINT_KEY"
      ]
    ]))
    error_message = "unlisted secrets read latest"
  }
}
