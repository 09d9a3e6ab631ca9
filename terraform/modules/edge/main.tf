# The public edge (issue 20, item 5), off unless var.enabled: a global external Application Load
# Balancer in front of the public functions (intake: partner webhooks; api: customers), with Cloud
# Armor on every backend. Nothing here names a function: the public ones and their domains come in
# through var.hosts / var.services (topology `public` + the env's `edge.hosts`).
#
# Argument names as the google provider 6.x documents them (only google_cloudfunctions2_function's
# ingress value was read from the docs in this session; the rest awaits the offline schema check of
# terraform/offline and the first real plan): serverless NEGs
# (network_endpoint_type SERVERLESS, one of cloud_run / cloud_function / app_engine; a 2nd gen
# function is a Cloud Run service, so cloud_run.service = its service name), backend services of
# scheme EXTERNAL_MANAGED without health checks or ports (serverless NEGs take none), Cloud Armor
# throttle rules (rate_limit_options, enforce_on_key IP), preconfigured WAF expressions. Not
# validated by a plan here (the provider cannot be downloaded): terraform/README.md, Offline
# verification.
#
# The operations console (var.console, off unless set): its own host, on a second backend service over
# the serverless NEG of the function that serves it (var.console_function: the api) with Identity-Aware Proxy on, so only the operators listed reach it, signed
# in with their Google identity (docs/console.md, Auth). The api verifies IAP's signed header against
# this backend's audience (output iap_audience -> LEDGERLINE_IAP_AUDIENCE). The public hosts strip that
# header (a client cannot replay an assertion through them), and send /console to the console's host.
#
# A NEG names its Cloud Run service by the function's name (a 2nd gen function's service is named after
# it, as modules/stack's function_urls assume): no reference to the functions, so the functions'
# environment can carry the console backend's id without a dependency cycle.
#
# What it does not solve by itself: Cloud Run still checks run.invoker on requests that come
# through a serverless NEG (the load balancer adds no identity), so the public functions keep their
# allUsers invoker (modules/functions) unless the project's org policy forbids it — see
# terraform/README.md, Public edge, for the Domain Restricted Sharing trade-off.

locals {
  on      = var.enabled ? var.hosts : {}
  console = var.enabled ? var.console : null
  # the console's host, by the name of its path matcher (empty: no console)
  console_host = local.console != null ? { console = local.console.host } : {}
  domains      = sort(distinct(values(local.on)))
  partners     = { for name, ranges in var.partner_source_ranges : name => ranges if var.enabled && length(ranges) > 0 }
  # Priorities: partner source rules 1000+ (20 per partner: its allow rules, then its deny at +19),
  # OWASP 2000+, the per-IP throttle 3000, default last.
  partner_priority = { for i, name in sort(keys(local.partners)) : name => 1000 + 20 * i }
  # Cloud Armor allows at most five subexpressions in one rule's expression: the path test and four
  # inIpRange calls. A partner's ranges are allowed four to a rule; its path is denied to anyone else.
  partner_allow = merge({}, [
    for name, ranges in local.partners : {
      for j, chunk in chunklist(ranges, 4) : "${name}/${j}" => { partner = name, ranges = chunk, priority = local.partner_priority[name] + j }
    }
  ]...)
  waf = ["sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rce-v33-stable", "protocolattack-v33-stable"]
}

# ---------------------------------------------------------------------------- backends

resource "google_compute_region_network_endpoint_group" "public" {
  for_each = local.on

  project               = var.project_id
  region                = var.region
  name                  = "ledgerline-${each.key}"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = each.key # the function's Cloud Run service (named after the function)
  }
}

resource "google_compute_backend_service" "public" {
  for_each = local.on

  project               = var.project_id
  name                  = "ledgerline-${each.key}"
  description           = "ledgerline ${each.key} (serverless NEG), behind Cloud Armor."
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.edge[0].id

  backend {
    group = google_compute_region_network_endpoint_group.public[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1
  }
}

# The console: the api's NEG again, behind IAP (a Google-managed OAuth client: no client id or secret
# here; the project's OAuth consent screen is configured once, terraform/README.md).
resource "google_compute_backend_service" "console" {
  count = local.console != null ? 1 : 0

  project               = var.project_id
  name                  = "ledgerline-console"
  description           = "ledgerline operations console (the api's serverless NEG), behind IAP and Cloud Armor."
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.edge[0].id

  backend {
    group = google_compute_region_network_endpoint_group.public[var.console_function].id
  }

  iap {
    enabled = true
  }

  log_config {
    enable      = true
    sample_rate = 1
  }
}

# Who may open the console: each member (a Google group of operators, say) may pass IAP on its backend.
resource "google_iap_web_backend_service_iam_member" "console" {
  for_each = local.console != null ? toset(local.console.operators) : toset([])

  project             = var.project_id
  web_backend_service = google_compute_backend_service.console[0].name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.key
}

# ---------------------------------------------------------------------------- Cloud Armor

resource "google_compute_security_policy" "edge" {
  count = var.enabled ? 1 : 0

  project     = var.project_id
  name        = "ledgerline-edge"
  description = "ledgerline public edge: partner source ranges, OWASP rules, per-IP throttle."
  type        = "CLOUD_ARMOR"

  # A partner that publishes its webhook source addresses (topology edge.partners, e.g. Stripe) may
  # reach its own webhook path from those only. Others (Adyen: no stable list, HMAC instead) are
  # judged by their signatures in intake, as without the edge. The path is matched the way intake
  # routes it (slashes stripped: /webhooks/stripe, /webhooks/stripe/, //webhooks//stripe). A request
  # from a partner's range is throttled per IP at the partner's own rate (higher than the general one:
  # a retry burst after an outage), and a conforming one is allowed there — it skips the OWASP rules;
  # intake verifies its signature either way.
  dynamic "rule" {
    for_each = local.partner_allow
    content {
      action      = "throttle"
      priority    = rule.value.priority
      description = "/webhooks/${rule.value.partner} from ${rule.value.partner}'s published webhook source ranges (${rule.key})"
      match {
        expr {
          expression = "request.path.matches('^/+webhooks/+${rule.value.partner}/*$') && (${join(" || ", [for r in rule.value.ranges : "inIpRange(origin.ip, '${r}')"])})"
        }
      }
      rate_limit_options {
        conform_action = "allow"
        exceed_action  = "deny(429)"
        enforce_on_key = "IP"
        rate_limit_threshold {
          count        = var.partner_rate_limit.count
          interval_sec = var.partner_rate_limit.interval_sec
        }
      }
    }
  }

  dynamic "rule" {
    for_each = local.partners
    content {
      action      = "deny(403)"
      priority    = local.partner_priority[rule.key] + 19
      description = "/webhooks/${rule.key} from anywhere but ${rule.key}'s published webhook source ranges"
      match {
        expr {
          expression = "request.path.matches('^/+webhooks/+${rule.key}/*$')"
        }
      }
    }
  }

  # Log4j (CVE-2021-44228) lookups: enforced from the start (no Java behind us, so no false positive
  # to fear, and nothing legitimate carries a ${jndi:} lookup).
  rule {
    action      = "deny(403)"
    priority    = 1900
    description = "CVE-2021-44228 / CVE-2021-45046 (Log4j) lookups"
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
  }

  dynamic "rule" {
    for_each = { for i, name in local.waf : name => 2000 + i }
    content {
      action      = "deny(403)"
      priority    = rule.value
      preview     = var.waf_preview
      description = "OWASP preconfigured rule ${rule.key}"
      match {
        expr {
          expression = "evaluatePreconfiguredWaf('${rule.key}', {'sensitivity': 1})"
        }
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 3000
    description = "per client IP: more than ${var.rate_limit.count} requests in ${var.rate_limit.interval_sec}s answered 429"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit.count
        interval_sec = var.rate_limit.interval_sec
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "default: allow (the functions authenticate every request themselves)"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

# ---------------------------------------------------------------------------- HTTPS front end

resource "google_compute_global_address" "edge" {
  count = var.enabled ? 1 : 0

  project = var.project_id
  name    = "ledgerline-edge"

  lifecycle {
    precondition {
      condition     = sort(keys(var.hosts)) == sort(var.public_functions)
      error_message = "edge.hosts needs exactly one domain per public function (topology.json `public`)."
    }
    precondition {
      condition     = var.console == null || (contains(keys(var.hosts), var.console_function) && !contains(values(var.hosts), try(var.console.host, "")))
      error_message = "edge.console needs the function that serves it (topology `serves_console`) published, and a host of its own, not one of edge.hosts."
    }
  }
}

resource "google_compute_managed_ssl_certificate" "edge" {
  count = var.enabled ? 1 : 0

  project = var.project_id
  name    = "ledgerline-edge"

  managed {
    domains = local.domains
  }

  lifecycle {
    create_before_destroy = true
  }
}

# The console's host has a certificate of its own: turning the console on or off leaves the public
# domains' certificate alone (a changed domain list replaces a managed certificate, and a new one
# serves nothing until Google has provisioned it). Named after the host: a new host is a new
# certificate, made before the old one goes.
resource "google_compute_managed_ssl_certificate" "console" {
  count = local.console != null ? 1 : 0

  project = var.project_id
  name    = "ledgerline-console-${substr(sha256(local.console.host), 0, 8)}"

  managed {
    domains = [local.console.host]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_ssl_policy" "edge" {
  count = var.enabled ? 1 : 0

  project         = var.project_id
  name            = "ledgerline-edge"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

# One host rule per public function; a request for another host (or the bare address) is
# redirected to the first domain: no function answers a host it is not published on.
resource "google_compute_url_map" "edge" {
  count = var.enabled ? 1 : 0

  project = var.project_id
  name    = "ledgerline-edge"

  default_url_redirect {
    host_redirect          = local.domains[0]
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = true
  }

  dynamic "host_rule" {
    for_each = local.on
    content {
      hosts        = [host_rule.value]
      path_matcher = host_rule.key
    }
  }

  dynamic "path_matcher" {
    for_each = local.on
    content {
      name            = path_matcher.key
      default_service = google_compute_backend_service.public[path_matcher.key].id

      # Only IAP sets this header, and only on the console's backend: from anyone else it is dropped.
      header_action {
        request_headers_to_remove = ["X-Goog-IAP-JWT-Assertion"]
      }

      # The console lives on its own host, behind IAP: never served from a public one.
      dynamic "path_rule" {
        for_each = local.console != null ? [local.console.host] : []
        content {
          paths = ["/console", "/console/*"]
          url_redirect {
            host_redirect          = path_rule.value
            https_redirect         = true
            redirect_response_code = "FOUND"
            strip_query            = false
          }
        }
      }
    }
  }

  dynamic "host_rule" {
    for_each = local.console_host
    content {
      hosts        = [host_rule.value]
      path_matcher = host_rule.key
    }
  }

  dynamic "path_matcher" {
    for_each = local.console_host
    content {
      name            = path_matcher.key
      default_service = google_compute_backend_service.console[0].id
    }
  }
}

resource "google_compute_target_https_proxy" "edge" {
  count = var.enabled ? 1 : 0

  project          = var.project_id
  name             = "ledgerline-edge"
  url_map          = google_compute_url_map.edge[0].id
  ssl_certificates = concat([google_compute_managed_ssl_certificate.edge[0].id], google_compute_managed_ssl_certificate.console[*].id)
  ssl_policy       = google_compute_ssl_policy.edge[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = var.enabled ? 1 : 0

  project               = var.project_id
  name                  = "ledgerline-edge-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "443"
  ip_address            = google_compute_global_address.edge[0].id
  target                = google_compute_target_https_proxy.edge[0].id
  labels                = var.labels
}

# Port 80 answers only a redirect to HTTPS: no request reaches a function over plain HTTP.
resource "google_compute_url_map" "http_redirect" {
  count = var.enabled ? 1 : 0

  project = var.project_id
  name    = "ledgerline-edge-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "http_redirect" {
  count = var.enabled ? 1 : 0

  project = var.project_id
  name    = "ledgerline-edge-http-redirect"
  url_map = google_compute_url_map.http_redirect[0].id
}

resource "google_compute_global_forwarding_rule" "http_redirect" {
  count = var.enabled ? 1 : 0

  project               = var.project_id
  name                  = "ledgerline-edge-http-redirect"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "80"
  ip_address            = google_compute_global_address.edge[0].id
  target                = google_compute_target_http_proxy.http_redirect[0].id
  labels                = var.labels
}
