"""The public edge (terraform/modules/edge, issue 20 item 5): off by default, nothing created then; when
on, every public function behind a serverless NEG and a logged backend under the Cloud Armor policy
(per-IP throttle, partner source ranges from topology, OWASP rules, a default rule), TLS 1.2+ with a
MODERN policy, port 80 only a redirect, and the public functions' ingress ALLOW_INTERNAL_AND_GCLB."""

import ipaddress

from shared.partners import PARTNERS
from shared.topology import topology
from tests.terraform.hcl import TERRAFORM, module_call, parse, resources

EDGE = "modules/edge"


def edge_resources() -> dict[str, dict]:
    return {f"{r.type}.{r.name}": r.body for r in resources() if r.module == EDGE}


def test_only_the_edge_module_creates_compute_resources():
    compute = {r.address for r in resources() if r.type.startswith("google_compute_")}
    assert compute and all(a.startswith(f"{EDGE}:") for a in compute)


def test_disabled_creates_nothing():
    """Every resource is counted on var.enabled, or iterates local.on / local.partners (empty when disabled)."""
    local = parse(TERRAFORM / "modules" / "edge" / "main.tf")["locals"][0]
    assert local["on"] == "${var.enabled ? var.hosts : {}}"
    assert local["console"] == "${var.enabled ? var.console : null}"
    assert "if var.enabled" in local["partners"]
    for address, body in edge_resources().items():
        gate = body.get("count") or body.get("for_each")
        assert gate in (
            "${var.enabled ? 1 : 0}",
            "${local.on}",
            "${local.console != null ? 1 : 0}",  # local.console: null when disabled
            "${local.console != null ? toset(local.console.operators) : toset([])}",
        ), address
    for env in ("dev", "prod"):
        variable = parse(TERRAFORM / "envs" / env / "variables.tf")["variable"]
        (edge,) = [v["edge"] for v in variable if "edge" in v]
        assert edge["default"] == {"enabled": False}, env
        assert parse(TERRAFORM / "envs" / env / "main.tf")["module"][0]["ledgerline"]["edge"] == "${var.edge}"
    stack = [v["edge"] for v in parse(TERRAFORM / "modules" / "stack" / "variables.tf")["variable"] if "edge" in v]
    assert stack[0]["default"] == {"enabled": False}


def test_every_public_function_has_a_neg_and_a_logged_backend_under_the_policy():
    r = edge_resources()
    neg = r["google_compute_region_network_endpoint_group.public"]
    assert neg["network_endpoint_type"] == "SERVERLESS"
    # the function's name is its Cloud Run service's (as the stack's function_urls assume): no reference to
    # the functions, so their environment can carry the console backend's audience without a cycle
    assert neg["cloud_run"][0]["service"] == "${each.key}"
    backend = r["google_compute_backend_service.public"]
    assert neg["for_each"] == backend["for_each"] == "${local.on}"
    assert backend["backend"][0]["group"] == "${google_compute_region_network_endpoint_group.public[each.key].id}"
    assert backend["security_policy"] == "${google_compute_security_policy.edge[0].id}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED" and backend["protocol"] == "HTTPS"
    log = backend["log_config"][0]
    assert log["enable"] is True and log["sample_rate"] == 1
    # every backend of the configuration is one of these or the console's, under the same policy
    assert [x for x in resources("google_compute_backend_service")] == [
        x for x in resources("google_compute_backend_service") if x.module == EDGE and x.name in ("public", "console")
    ]
    console = r["google_compute_backend_service.console"]
    assert console["security_policy"] == backend["security_policy"] and console["iap"][0]["enabled"] is True
    neg_of_console = "${google_compute_region_network_endpoint_group.public[var.console_function].id}"
    assert console["backend"][0]["group"] == neg_of_console
    assert console["log_config"][0]["enable"] is True
    # one domain per public function, checked at plan time; the stack passes the topology's public ones
    (address,) = [b for k, b in r.items() if k == "google_compute_global_address.edge"]
    pre, console_pre = address["lifecycle"][0]["precondition"]
    assert pre["condition"] == "${sort(keys(var.hosts)) == sort(var.public_functions)}"
    assert "var.console_function" in console_pre["condition"]  # the console on a host of its own
    call = module_call("edge")
    assert call["public_functions"] == "${[for name, fn in local.functions : name if fn.public]}"
    assert "services" not in call  # no reference to the functions (above)
    assert call["console_function"] == "${local.console_function}"
    paths = r["google_compute_url_map.edge"]["dynamic"]
    matcher = next(d["path_matcher"] for d in paths if "path_matcher" in d)
    assert matcher["content"][0]["default_service"] == "${google_compute_backend_service.public[path_matcher.key].id}"


def test_cloud_armor_throttles_per_ip_has_partner_owasp_and_default_rules():
    policy = edge_resources()["google_compute_security_policy.edge"]
    static = {rule["priority"]: rule for rule in policy["rule"]}
    throttle = static[3000]
    assert throttle["action"] == "throttle"
    options = throttle["rate_limit_options"][0]
    assert options["enforce_on_key"] == "IP" and options["exceed_action"] == "deny(429)"
    assert options["rate_limit_threshold"][0]["count"] == "${var.rate_limit.count}"
    default = static[2147483647]
    assert default["match"][0]["config"][0]["src_ip_ranges"] == ["*"]
    dynamic = [d["rule"] for d in policy["dynamic"]]
    partner = next(d for d in dynamic if d["for_each"] == "${local.partners}")["content"][0]
    assert partner["action"] == "deny(403)"
    # the path as intake routes it: slashes stripped (functions/intake/main.py _webhook_partner)
    assert partner["match"][0]["expr"][0]["expression"] == "request.path.matches('^/+webhooks/+${rule.key}/*$')"
    assert partner["priority"] == "${local.partner_priority[rule.key] + 19}"  # after the partner's allow rules
    allow = next(d for d in dynamic if d["for_each"] == "${local.partner_allow}")["content"][0]
    assert allow["action"] == "throttle" and allow["priority"] == "${rule.value.priority}"
    assert allow["rate_limit_options"][0]["conform_action"] == "allow"
    assert allow["rate_limit_options"][0]["rate_limit_threshold"][0]["count"] == "${var.partner_rate_limit.count}"
    expression = allow["match"][0]["expr"][0]["expression"]
    assert "^/+webhooks/+${rule.value.partner}/*$" in expression and "inIpRange(origin.ip" in expression
    waf = next(d for d in dynamic if d is not partner and "evaluatePreconfiguredWaf" in str(d))["content"][0]
    assert waf["preview"] == "${var.waf_preview}"


def test_partner_source_ranges_come_from_topology_for_known_partners():
    partners = topology()["edge"]["partners"]
    assert set(partners) <= set(PARTNERS)
    for name, p in partners.items():
        assert isinstance(p["source_ranges"], list), name
        for r in p["source_ranges"]:  # CIDR, e.g. <ip>/32: a bare address or a typo fails here, not at apply
            assert "/" in r and str(ipaddress.ip_network(r)) == r, (name, r)
        assert len(set(p["source_ranges"])) == len(p["source_ranges"]), name
        # allow rules hold four ranges each, 19 per partner before its deny rule at +19
        assert len(p["source_ranges"]) <= 4 * 19, name
    assert partners["stripe"]["source_ranges_url"] == "https://stripe.com/files/ips/ips_webhooks.txt"
    call = module_call("edge")
    assert call["partner_source_ranges"] == (
        "${{for name, p in try(local.topology.edge.partners, {}) : name => p.source_ranges}}"
    )


def test_tls_is_modern_and_at_least_1_2_and_port_80_only_redirects():
    r = edge_resources()
    ssl = r["google_compute_ssl_policy.edge"]
    assert ssl["profile"] in ("MODERN", "RESTRICTED") and ssl["min_tls_version"] == "TLS_1_2"
    proxy = r["google_compute_target_https_proxy.edge"]
    assert proxy["ssl_policy"] == "${google_compute_ssl_policy.edge[0].id}"
    assert proxy["ssl_certificates"] == (  # the public domains' and, with a console, its own
        "${concat([google_compute_managed_ssl_certificate.edge[0].id], "
        "google_compute_managed_ssl_certificate.console[*].id)}"
    )
    rules = {x.name: x.body for x in resources("google_compute_global_forwarding_rule")}
    assert {name: body["port_range"] for name, body in rules.items()} == {"https": "443", "http_redirect": "80"}
    assert rules["https"]["target"] == "${google_compute_target_https_proxy.edge[0].id}"
    assert rules["http_redirect"]["target"] == "${google_compute_target_http_proxy.http_redirect[0].id}"
    (http_proxy,) = resources("google_compute_target_http_proxy")
    assert http_proxy.body["url_map"] == "${google_compute_url_map.http_redirect[0].id}"
    redirect = r["google_compute_url_map.http_redirect"]
    assert redirect["default_url_redirect"][0]["https_redirect"] is True
    assert not {"default_service", "host_rule", "path_matcher", "dynamic"} & set(redirect)


def test_enabled_switches_the_public_functions_ingress_and_keeps_the_invoker_choice_explicit():
    (fn,) = [r.body for r in resources("google_cloudfunctions2_function")]
    ingress = fn["service_config"][0]["ingress_settings"]
    assert ingress == '${var.edge_enabled && each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : each.value.cloud.ingress}'
    (public,) = [r.body for r in resources("google_cloud_run_v2_service_iam_member") if r.name == "public"]
    assert public["member"] == "allUsers" and public["for_each"] == "${var.public_invoker ? local.public : toset([])}"
    functions = module_call("functions")
    assert functions["edge_enabled"] == "${var.edge.enabled}"
    assert functions["public_invoker"] == "${var.edge.public_invoker}"
    assert "compute.googleapis.com" in str(parse(TERRAFORM / "modules" / "stack" / "variables.tf"))


def test_each_partner_rule_stays_within_cloud_armors_five_subexpressions():
    """An advanced match expression holds at most five subexpressions (Cloud Armor rules language
    reference): the path test and four inIpRange calls, so a partner's ranges go four to an allow rule,
    whose priorities (partner base + chunk) stay below the partner's deny rule (+19) and the OWASP rules."""
    local = parse(TERRAFORM / "modules" / "edge" / "main.tf")["locals"][0]
    assert "chunklist(ranges, 4)" in local["partner_allow"]
    assert "1000 + 20 * i" in local["partner_priority"]
    with_ranges = sorted(n for n, p in topology()["edge"]["partners"].items() if p["source_ranges"])
    assert "stripe" in with_ranges
    for i, name in enumerate(with_ranges):
        ranges = topology()["edge"]["partners"][name]["source_ranges"]
        chunks = [ranges[k : k + 4] for k in range(0, len(ranges), 4)]
        assert 1 + max(len(c) for c in chunks) <= 5, name
        assert len(chunks) <= 19 and 1000 + 20 * i + 19 < 1900, name  # below Log4j (1900) and OWASP (2000+)


def test_the_partner_path_pattern_covers_every_path_intake_routes_to_the_partner():
    import re

    pattern = re.compile("^/+webhooks/+stripe/*$")  # the CEL matches() of the partner rules, for stripe
    for routed in ("/webhooks/stripe", "/webhooks/stripe/", "//webhooks/stripe//"):
        assert routed.strip("/").split("/") == ["webhooks", "stripe"]  # intake's _webhook_partner
        assert pattern.match(routed), routed
    for other in ("/webhooks/stripeX", "/webhooks/stripe/x", "/webhooks/adyen", "/api/webhooks/stripe"):
        assert not pattern.match(other), other
