"""Log-based metrics and the code's log lines agree: every message a metric matches exactly is one the
code logs, and every field a label extracts is in that log call's `extra=` (a renamed field would make
the label silently empty). Every metric that stands for something an operator must act on has an
alert policy."""

import ast
import re

from shared.config import REPO_ROOT
from tests.terraform.hcl import resources

CODE = sorted((REPO_ROOT / "shared").rglob("*.py")) + sorted((REPO_ROOT / "functions").rglob("*.py"))
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
MESSAGE = re.compile(r'jsonPayload\.message="([^"]+)"')
FIELD = re.compile(r"^EXTRACT\(jsonPayload\.([A-Za-z0-9_]+)\)$")
# metrics that are charts only: what they count alerts through another policy (see the module)
CHART_ONLY = {"webhook_attempts"}


def logged() -> dict[str, set[str] | None]:
    """message => the keys of its literal `extra=` dicts (None when some call's extra is not literal)."""
    found: dict[str, set[str] | None] = {}
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS):
                continue
            if not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            extra = next((k.value for k in node.keywords if k.arg == "extra"), None)
            keys = {k.value for k in extra.keys if isinstance(k, ast.Constant)} if isinstance(extra, ast.Dict) else None
            message = node.args[0].value
            if message in found and (found[message] is None or keys is None):
                found[message] = None
            else:
                found[message] = (found.get(message) or set()) | (keys or set())
    return found


def code_strings() -> set[str]:
    return {
        node.value
        for path in CODE
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_every_matched_message_is_logged_with_the_extracted_fields():
    calls, strings = logged(), code_strings()
    checked = 0
    for metric in resources("google_logging_metric"):
        messages = MESSAGE.findall(metric.body["filter"])
        extractors = metric.body.get("label_extractors", {}).items()
        fields = {label: FIELD.match(x).group(1) for label, x in extractors if FIELD.match(x)}
        for message in messages:
            # "webhook rejected" is logged through shared.http.handle_errors(refused=...): a literal, not a call
            assert message in strings, f"{metric.name}: no code logs {message!r}"
            keys = calls.get(message)
            if keys is not None:
                missing = set(fields.values()) - keys
                assert not missing, f"{metric.name}: {message!r} is logged without {missing}"
                checked += 1
    assert checked >= 3  # dead letter, reconciliation break, webhook endpoint disabled, webhook attempt


def test_webhook_endpoint_disabled_is_counted_by_reason_and_alerted_on():
    metric = {r.name: r.body for r in resources("google_logging_metric")}["webhook_endpoints_disabled"]
    assert 'jsonPayload.message="webhook endpoint disabled"' in metric["filter"]
    assert metric["label_extractors"] == {"reason": "EXTRACT(jsonPayload.reason)"}
    # the reasons the code writes (shared/webhooks/service.py disabled_reason)
    service = (REPO_ROOT / "shared" / "webhooks" / "service.py").read_text()
    assert '"disabled_reason": "gone"' in service and '"disabled_reason": "failing"' in service
    alert = {r.name: r.body for r in resources("google_monitoring_alert_policy")}["webhook_endpoints_disabled"]
    threshold = alert["conditions"][0]["condition_threshold"][0]
    assert "google_logging_metric.webhook_endpoints_disabled.name" in threshold["filter"]
    assert threshold["aggregations"][0]["group_by_fields"] == ["metric.label.reason"]


def test_every_metric_but_charts_has_an_alert_policy():
    metrics = {r.name for r in resources("google_logging_metric")}
    alerted = {
        name
        for policy in resources("google_monitoring_alert_policy")
        for name in re.findall(r"google_logging_metric\.([a-z_]+)\.name", str(policy.body))
    }
    assert metrics - alerted == CHART_ONLY
