variable "project_id" {
  description = "GCP project that hosts ledgerline."
  type        = string
}

variable "region" {
  description = "Region of the functions (the serverless NEGs are regional, in the functions' region)."
  type        = string
}

variable "enabled" {
  description = "Create the external HTTPS load balancer and Cloud Armor policy in front of the public functions. false: nothing in this module exists."
  type        = bool
}

variable "hosts" {
  description = "Public function name => the domain it is served on (a Google-managed certificate covers every domain), e.g. { intake = \"hooks.example.com\", api = \"api.example.com\" }. Each domain needs a DNS A record to the output address."
  type        = map(string)
}

variable "public_functions" {
  description = "Names of the functions topology.json marks public: each needs a domain in var.hosts when the edge is enabled (and nothing else may have one)."
  type        = list(string)
}

variable "project_number" {
  description = "The project's number: in the audience of IAP's signed header (/projects/<number>/global/backendServices/<id>)."
  type        = string
}

variable "console_function" {
  description = "The function that serves the console (topology.json `serves_console`): its NEG backs the console's backend."
  type        = string
}

variable "console" {
  description = "The operations console behind IAP, or null (none): host, its domain (not one of var.hosts; the certificate covers it); operators, the IAM members who may open it (user:, group:, domain:, serviceAccount:)."
  type = object({
    host      = string
    operators = list(string)
  })
  default = null

  validation {
    condition     = var.console == null || length(try(var.console.operators, [])) > 0
    error_message = "edge.console.operators names at least one member: nobody could open the console."
  }

  validation {
    condition     = var.console == null || alltrue([for m in try(var.console.operators, []) : can(regex("^(user|group|domain|serviceAccount):[^\\s]+$", m))])
    error_message = "edge.console.operators are IAM members: user:, group:, domain: or serviceAccount:<email or domain> (never allUsers)."
  }
}

variable "partner_source_ranges" {
  description = "Partner name => its published webhook source ranges (topology.json edge.partners[*].source_ranges). A partner listed here may reach /webhooks/<partner> only from those ranges; a partner that publishes none (empty list) is not restricted by address."
  type        = map(list(string))
  default     = {}

  validation {
    # four ranges to an allow rule, 19 rules before the partner's deny rule (main.tf partner_priority)
    condition     = alltrue([for ranges in values(var.partner_source_ranges) : length(ranges) <= 76])
    error_message = "A partner has at most 76 source ranges (19 Cloud Armor rules of 4)."
  }
}

variable "rate_limit" {
  description = "Cloud Armor per-client-IP throttle: more than `count` requests in `interval_sec` seconds from one IP are answered 429."
  type = object({
    count        = number
    interval_sec = number
  })
  default = {
    count        = 600
    interval_sec = 60
  }
}

variable "partner_rate_limit" {
  description = "Per-IP throttle of a partner's webhooks from its published ranges (higher than rate_limit: a partner's retry burst after an outage must get through)."
  type = object({
    count        = number
    interval_sec = number
  })
  default = {
    count        = 3000
    interval_sec = 60
  }
}

variable "waf_preview" {
  description = "OWASP preconfigured WAF rules in preview mode (logged, not enforced). Start true, read the logs (jsonPayload.previewSecurityPolicy), then set false."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels on every labelled resource."
  type        = map(string)
}
