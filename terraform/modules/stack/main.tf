# ledgerline, the whole stack in one project. Everything named comes from the files the emulator
# bootstrap reads: topology/topology.json (functions, topics, subscriptions, queues, tables,
# scheduler jobs, per-function cloud settings and access), topology/bigquery/*.json (schemas) and
# topology/datastore_indexes.json (composite indexes). No such name is written in HCL.

locals {
  topology_dir = abspath("${path.module}/../../../topology")
  topology     = jsondecode(file("${local.topology_dir}/topology.json"))
  indexes      = jsondecode(file("${local.topology_dir}/datastore_indexes.json")).indexes

  functions = local.topology.functions
  labels    = merge(var.labels, { app = "ledgerline", env = var.env })
  protect   = var.env == "prod"

  project_number = data.google_project.this.number
  pubsub_agent   = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  tasks_agent    = "serviceAccount:service-${local.project_number}@gcp-sa-cloudtasks.iam.gserviceaccount.com"
  schedule_agent = "serviceAccount:service-${local.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"

  # Cloud Run's deterministic URL (https://<service>-<project number>.<region>.run.app), known before
  # the functions exist: a function's environment can then name any function, itself included
  # (retries enqueues tasks to retries), without a dependency cycle.
  function_urls = { for name, _ in local.functions : name => "https://${name}-${local.project_number}.${var.region}.run.app" }

  # Plain environment of every function: shared/config.py CLOUD_SOURCES "terraform" (checked by
  # tests/terraform/test_environment.py). <FUNCTION>_URL for every function:
  function_url_env = { for name, url in local.function_urls : "${upper(name)}_URL" => url }
  # and, for every KMS key of topology kms.keys, its `env` variable (PAYMENTS_KMS_KEY, WEBHOOKS_KMS_KEY):
  kms_keys    = { for key in local.topology.kms.keys : key.name => key }
  kms_key_env = { for name, key in local.kms_keys : key.env => module.keys.key_ids[name] }
  environment = merge(local.function_url_env, local.kms_key_env, {
    GOOGLE_CLOUD_PROJECT            = var.project_id
    LEDGERLINE_ENV                  = "cloud"
    LEDGERLINE_REGION               = var.region
    LEDGERLINE_LIVEMODE             = var.livemode ? "true" : "false"
    LEDGERLINE_TASKS_INVOKER_SA     = module.identity.tasks_invoker_email
    LEDGERLINE_PUSH_INVOKER_SA      = module.identity.pubsub_push_email
    LEDGERLINE_SCHEDULER_INVOKER_SA = module.identity.scheduler_invoker_email
    LEDGERLINE_REPORTS_BUCKET       = module.reports.bucket
    # the console's IAP backend ("" without one: then only API keys sign requests; shared/api/iap.py)
    LEDGERLINE_IAP_AUDIENCE = module.edge.iap_audience
    COLUMN_API_URL          = var.partner_api_urls["column"]
    LAKESIDE_API_URL        = var.partner_api_urls["lakeside"]
  })

  sa = { for name, email in module.identity.function_emails : name => "serviceAccount:${email}" }

  # The function that serves the operations console (topology `serves_console`: the api).
  console_function = one([for name, fn in local.functions : name if try(fn.serves_console, false)])

  # Who calls whom: run.invoker only where a caller exists (public functions are marked in topology).
  callers = {
    "pubsub-push" = { member = "serviceAccount:${module.identity.pubsub_push_email}", targets = [for s in local.topology.pubsub.subscriptions : s.push_to if try(s.push_to, null) != null] }
    "tasks"       = { member = "serviceAccount:${module.identity.tasks_invoker_email}", targets = [for q in local.topology.tasks.queues : q.target] }
    "scheduler"   = { member = "serviceAccount:${module.identity.scheduler_invoker_email}", targets = [for j in local.topology.scheduler.jobs : j.target] }
  }
  invokers = { for name in keys(local.functions) : name => {
    for caller, c in local.callers : caller => c.member if contains(c.targets, name)
  } }

  # Resource-level grants from each function's cloud.access block.
  publishers = { for t in local.topology.pubsub.topics : t.name => {
    for name, fn in local.functions : name => local.sa[name] if contains(fn.cloud.access.publishes, t.name)
  } }
  enqueuers = { for q in local.topology.tasks.queues : q.name => {
    for name, fn in local.functions : name => local.sa[name] if contains(fn.cloud.access.enqueues, q.name)
  } }
  table_writers = { for t in local.topology.bigquery.tables : t.name => {
    for name, fn in local.functions : name => local.sa[name] if contains(fn.cloud.access.tables_write, t.name)
  } }
  table_readers = { for t in local.topology.bigquery.tables : t.name => {
    for name, fn in local.functions : name => local.sa[name] if contains(fn.cloud.access.tables_read, t.name)
  } }
  report_readers = { for name, fn in local.functions : name => local.sa[name] if fn.cloud.access.reports_read }
  # Functions that write run reports next to the inputs (objectCreator: new objects only).
  report_writers = { for name, fn in local.functions : name => local.sa[name] if try(fn.cloud.access.reports_write, false) }

  # Who may seal (encrypt) and open (decrypt) with which key: topology cloud.access.kms, key name =>
  # encrypt | decrypt | encrypt_decrypt. "<key>/<function>" => one grant on that key.
  kms_grants = merge({}, [for name, fn in local.functions : {
    for key, access in try(fn.cloud.access.kms, {}) : "${key}/${name}" => { key = key, access = access, member = local.sa[name] }
  }]...)

  # Subscriptions on a dead-letter topic hold dead letters.
  dead_letter_topics        = toset([for s in local.topology.pubsub.subscriptions : s.dead_letter_topic if try(s.dead_letter_topic, null) != null])
  dead_letter_subscriptions = [for s in local.topology.pubsub.subscriptions : s.name if contains(local.dead_letter_topics, s.topic)]
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "this" {
  for_each = toset(var.apis)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}

module "identity" {
  source = "../identity"

  project_id              = var.project_id
  functions               = local.functions
  pubsub_service_agent    = local.pubsub_agent
  tasks_service_agent     = local.tasks_agent
  scheduler_service_agent = local.schedule_agent

  depends_on = [google_project_service.this]
}

# IAP calls the api's Cloud Run service as its service agent (X-Serverless-Authorization): allowed to,
# so the console works whether or not the api keeps its allUsers invoker (edge.public_invoker).
resource "google_cloud_run_v2_service_iam_member" "iap_console" {
  count = var.edge.enabled && var.edge.console != null ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = module.functions.services[local.console_function]
  role     = "roles/run.invoker"
  member   = "serviceAccount:service-${local.project_number}@gcp-sa-iap.iam.gserviceaccount.com"
}

module "datastore" {
  source = "../datastore"

  project_id = var.project_id
  location   = var.firestore_location
  indexes    = local.indexes
  ttl        = try(local.topology.datastore.ttl, [])
  protect    = local.protect

  depends_on = [google_project_service.this]
}

module "reports" {
  source = "../reports"

  project_id = var.project_id
  location   = var.region
  protect    = local.protect
  readers    = local.report_readers
  writers    = merge(var.report_writers, local.report_writers)
  labels     = local.labels

  depends_on = [google_project_service.this]
}

module "keys" {
  source = "../keys"

  project_id       = var.project_id
  location         = var.region
  protection_level = var.kms_protection_level
  keys             = { for name, key in local.kms_keys : name => key.purpose }
  grants           = local.kms_grants
  labels           = local.labels

  depends_on = [google_project_service.this]
}

module "analytics" {
  source = "../analytics"

  project_id = var.project_id
  dataset    = local.topology.bigquery.dataset
  location   = local.topology.bigquery.location
  tables     = local.topology.bigquery.tables
  schema_dir = local.topology_dir
  protect    = local.protect
  writers    = local.table_writers
  readers    = local.table_readers
  labels     = local.labels

  depends_on = [google_project_service.this]
}

module "functions" {
  source = "../functions"

  project_id             = var.project_id
  region                 = var.region
  env                    = var.env
  protect                = local.protect
  functions              = local.functions
  build_dir              = var.build_dir
  environment            = local.environment
  service_account_emails = module.identity.function_emails
  builder_id             = module.identity.builder_id
  builder_email          = module.identity.builder_email
  invokers               = local.invokers
  labels                 = local.labels
  secret_versions        = var.secret_versions
  edge_enabled           = var.edge.enabled
  public_invoker         = var.edge.public_invoker

  # No module-level depends_on here: it would defer reading the sources to apply time whenever a
  # dependency changes, and every function would then plan an update. The APIs come first through
  # module.identity (which depends on them) and docs/deploy.md step 1.
}

# The public edge (off unless var.edge.enabled): HTTPS load balancer + Cloud Armor in front of the
# public functions (topology `public`), each on its domain in var.edge.hosts.
module "edge" {
  source = "../edge"

  project_id            = var.project_id
  region                = var.region
  enabled               = var.edge.enabled
  hosts                 = var.edge.hosts
  public_functions      = [for name, fn in local.functions : name if fn.public]
  project_number        = local.project_number
  console               = var.edge.console
  console_function      = local.console_function
  partner_source_ranges = { for name, p in try(local.topology.edge.partners, {}) : name => p.source_ranges }
  rate_limit            = var.edge.rate_limit
  waf_preview           = var.edge.waf_preview
  labels                = local.labels

  depends_on = [google_project_service.this]
}

module "messaging" {
  source = "../messaging"

  project_id                 = var.project_id
  region                     = var.region
  topics                     = local.topology.pubsub.topics
  subscriptions              = local.topology.pubsub.subscriptions
  queues                     = local.topology.tasks.queues
  function_urls              = local.function_urls
  push_service_account_email = module.identity.pubsub_push_email
  pubsub_service_agent       = local.pubsub_agent
  publishers                 = local.publishers
  enqueuers                  = local.enqueuers
  labels                     = local.labels

  # Push subscriptions start delivering at once: create them after their targets and invoker grants.
  depends_on = [google_project_service.this, module.functions]
}

module "scheduler" {
  source = "../scheduler"

  project_id            = var.project_id
  region                = var.region
  jobs                  = local.topology.scheduler.jobs
  function_urls         = local.function_urls
  service_account_email = module.identity.scheduler_invoker_email
  paused                = var.pause_schedules

  depends_on = [google_project_service.this, module.functions]
}

module "monitoring" {
  source = "../monitoring"

  project_id = var.project_id
  env        = var.env
  # The intake's log filters need its Cloud Run service name; the lookup fails at plan time if the
  # topology ever renames it. (Conflicts, dead letters… are counted from every function.)
  service_names = {
    intake = module.functions.names["intake"]
  }
  dead_letter_subscriptions = [for name in local.dead_letter_subscriptions : module.messaging.subscriptions[name]]
  push_subscriptions        = [for s in local.topology.pubsub.subscriptions : module.messaging.subscriptions[s.name] if try(s.push_to, null) != null]
  task_queues               = [for q in local.topology.tasks.queues : q.name]
  server_error_services     = [for name, service in module.functions.names : service if name != "intake"]
  alert_emails              = var.alert_emails
  notification_channels     = var.notification_channels
  intake_4xx_per_5m         = var.intake_4xx_per_5m
  intake_5xx_per_5m         = var.intake_5xx_per_5m

  depends_on = [google_project_service.this]
}
