"""Hardening of the Terraform that structural tests can see: Data Access audit logs in prod
(docs/operations.md: Cloud Storage, the ledger's Datastore — every principal but the functions' own
service accounts — and Secret Manager, each its own google_project_iam_audit_config, never one
authoritative over other services), and provider bounds."""

from tests.terraform.hcl import MODULES, module_call, resources


def test_prod_logs_data_access_to_storage_datastore_and_secret_manager():
    configs = {r.body["service"]: r.body for r in resources("google_project_iam_audit_config")}
    assert set(configs) >= {"storage.googleapis.com", "datastore.googleapis.com", "secretmanager.googleapis.com"}
    for body in configs.values():
        assert body["count"] == "${local.protect ? 1 : 0}"  # prod only (dev stays cheap)
    datastore = {c["log_type"]: c for c in configs["datastore.googleapis.com"]["audit_log_config"]}
    assert set(datastore) == {"DATA_READ", "DATA_WRITE"}
    assert all(c["exempted_members"] == "${sort(values(local.sa))}" for c in datastore.values())
    secrets = configs["secretmanager.googleapis.com"]["audit_log_config"]
    assert [c["log_type"] for c in secrets] == ["DATA_READ"] and "exempted_members" not in secrets[0]
    assert not resources("google_project_iam_audit_configs")  # no authoritative project-wide form


def test_every_module_bounds_the_google_provider_to_one_major_version():
    """A module that allows any future major version breaks on the day 7.0 changes an argument."""
    from tests.terraform.hcl import parse

    for versions in sorted(MODULES.glob("*/versions.tf")):
        (required,) = parse(versions)["terraform"]
        google = required["required_providers"][0]["google"]
        assert google["version"] == ">= 6.0, < 7.0", versions


def test_each_service_agent_may_mint_the_tokens_of_the_identity_it_calls_as():
    """Pub/Sub push, Cloud Tasks and Cloud Scheduler sign OIDC tokens as their invoker service accounts:
    each one's service agent holds serviceAccountTokenCreator on it, explicitly. The one other kind of holder: a
    function on its own account (topology access.signs_urls: the api signs statement-export URLs)."""
    grants = {
        r.body["service_account_id"]: r.body["member"]
        for r in resources("google_service_account_iam_member")
        if r.body["role"] == "roles/iam.serviceAccountTokenCreator"
    }
    assert grants == {
        "${google_service_account.pubsub_push.name}": "${var.pubsub_service_agent}",
        "${google_service_account.tasks.name}": "${var.tasks_service_agent}",
        "${google_service_account.scheduler.name}": "${var.scheduler_service_agent}",
        "${google_service_account.function[each.key].name}": (
            "serviceAccount:${google_service_account.function[each.key].email}"
        ),
    }
    identity = module_call("identity")
    assert all(identity[f"{name}_service_agent"].startswith("${local.") for name in ("pubsub", "tasks", "scheduler"))
    stack = (MODULES / "stack" / "main.tf").read_text()
    for domain in ("gcp-sa-pubsub", "gcp-sa-cloudtasks", "gcp-sa-cloudscheduler"):
        assert f"@{domain}.iam.gserviceaccount.com" in stack, domain


def test_no_lifecycle_rule_deletes_a_live_bundle():
    """Only noncurrent (archived) versions expire in the sources bucket: a rule by age alone would delete
    the bundle a running revision uses; superseded ones are pruned by `make deploy`."""
    (bucket,) = [r.body for r in resources("google_storage_bucket") if r.name == "sources"]
    for rule in bucket.get("lifecycle_rule", []):
        condition = rule["condition"][0]
        assert condition.get("with_state") == "ARCHIVED" and "age" not in condition, condition
    assert "scripts.prune_sources" in (MODULES.parent.parent / "Makefile").read_text()


def test_prod_cannot_plan_its_alerts_without_a_notification_channel():
    (alert,) = [r.body for r in resources("google_monitoring_alert_policy") if r.name == "dead_letters"]
    (condition,) = alert["lifecycle"][0]["precondition"]
    assert condition["condition"] == (
        '${var.env != "prod" || length(var.alert_emails) + length(var.notification_channels) > 0}'
    )


def test_build_images_go_to_our_repository_with_cleanup_policies_and_the_builder_writes_only_there():
    (repo,) = [r.body for r in resources("google_artifact_registry_repository")]
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert policies["keep-recent"]["action"] == "KEEP" and policies["delete-old"]["action"] == "DELETE"
    assert repo["cleanup_policy_dry_run"] is False and repo["format"] == "DOCKER"
    (function,) = [r.body for r in resources("google_cloudfunctions2_function")]
    assert function["build_config"][0]["docker_repository"] == "${google_artifact_registry_repository.functions.id}"
    project_roles = {r.body["role"] for r in resources("google_project_iam_member")}
    assert "roles/artifactregistry.writer" not in project_roles  # only on the repository
    (grant,) = [r.body for r in resources("google_artifact_registry_repository_iam_member")]
    assert grant["role"] == "roles/artifactregistry.writer" and "builder" in grant["member"]


def test_a_secret_rotation_is_a_version_bump_through_terraform():
    (function,) = [r.body for r in resources("google_cloudfunctions2_function")]
    (secrets,) = function["service_config"][0]["dynamic"][0]["secret_environment_variables"]["content"]
    assert secrets["version"] == '${lookup(var.secret_versions, secret_environment_variables.value, "latest")}'
    for env in ("dev", "prod"):
        root = (MODULES.parent / "envs" / env / "main.tf").read_text()
        assert "secret_versions       = var.secret_versions" in root, env


def test_platform_metrics_alert_on_backlog_queue_depth_and_5xx_of_every_function():
    """What no log line says: a push subscription's oldest message aging, a Cloud Tasks queue filling,
    a function answering 5xx (intake has its own). Each a condition per item the stack passes in."""
    policies = {r.name: r.body for r in resources("google_monitoring_alert_policy")}
    metrics = {
        "subscription_backlog": ("pubsub.googleapis.com/subscription/oldest_unacked_message_age", "push_subscriptions"),
        "task_queue_depth": ("cloudtasks.googleapis.com/queue/depth", "task_queues"),
        # no oldest-task-age metric exists for Cloud Tasks: late attempts stand for it (docs/deploy.md)
        "task_attempt_delays": ("cloudtasks.googleapis.com/queue/task_attempt_delays", "task_queues"),
        "server_errors": ("run.googleapis.com/request_count", "server_error_services"),
    }
    for name, (metric, items) in metrics.items():
        (dynamic,) = policies[name]["dynamic"]
        assert dynamic["conditions"]["for_each"] == f"${{toset(var.{items})}}", name
        condition = dynamic["conditions"]["content"][0]["condition_threshold"][0]
        assert condition["filter"].startswith(f'metric.type="{metric}"'), name
        assert '"${conditions.value}"' in condition["filter"], name
    late = policies["task_attempt_delays"]["dynamic"][0]["conditions"]["content"][0]["condition_threshold"][0]
    assert late["aggregations"][0]["per_series_aligner"] == "ALIGN_PERCENTILE_99"
    # every scheduler job (reconciliation, sweeps, janitor) is watched by one policy, per job
    (scheduled,) = policies["scheduler_failures"]["conditions"]
    threshold = scheduled["condition_threshold"][0]
    assert "google_logging_metric.scheduler_failures.name" in threshold["filter"]
    assert threshold["aggregations"][0]["group_by_fields"] == ["metric.label.job"]
    server = policies["server_errors"]["dynamic"][0]["conditions"]["content"][0]["condition_threshold"][0]
    assert server["filter"].endswith('metric.labels.response_code_class="5xx"')
    monitoring = module_call("monitoring")
    assert "if try(s.push_to, null) != null" in monitoring["push_subscriptions"]
    assert 'if name != "intake"' in monitoring["server_error_services"]
    assert monitoring["task_queues"] == "${[for q in local.topology.tasks.queues : q.name]}"


def test_the_on_call_dashboard_is_valid_json_over_metrics_that_exist():
    """terraform/modules/monitoring/dashboard.json.tftpl, rendered as templatefile does: valid JSON,
    tiles inside 12 columns and not overlapping, every chart on a log-based metric of the module (grouped
    by one of its labels) or on a platform metric an alert policy also reads."""
    import json
    import re

    template = (MODULES / "monitoring" / "dashboard.json.tftpl").read_text()
    (dashboard,) = [r.body for r in resources("google_monitoring_dashboard")]
    names = dict(re.findall(r"(\w+)\s*=\s*\$\{google_logging_metric\.(\w+)\.name\}", dashboard["dashboard_json"]))
    if not names:  # the hcl parser keeps templatefile's object as text: read the pairs from it
        names = dict(re.findall(r"(\w+)\s*=\s*google_logging_metric\.(\w+)\.name", dashboard["dashboard_json"]))
    metrics = {r.name: r.body for r in resources("google_logging_metric")}
    assert names and set(names.values()) <= set(metrics)
    values = {var: f"ledgerline_{metric}" for var, metric in names.items()} | {"env": "prod"}
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)
    tiles = json.loads(rendered)["mosaicLayout"]["tiles"]
    cells = set()
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= 12
        mine = {(x, y) for x in range(tile["xPos"], tile["xPos"] + tile["width"])
                for y in range(tile["yPos"], tile["yPos"] + tile["height"])}  # fmt: skip
        assert not mine & cells, tile["widget"]["title"]
        cells |= mine
    alert_filters = " ".join(str(r.body) for r in resources("google_monitoring_alert_policy"))
    by_name = {f"ledgerline_{m}": m for m in names.values()}
    for tile in tiles:
        (data,) = tile["widget"]["xyChart"]["dataSets"]
        query = data["timeSeriesQuery"]["timeSeriesFilter"]
        metric = re.match(r'metric\.type="([^"]+)"', query["filter"]).group(1)
        if metric.startswith("logging.googleapis.com/user/"):
            source = metrics[by_name[metric.removeprefix("logging.googleapis.com/user/")]]
            labels = {f"metric.label.{k}" for k in source.get("label_extractors", {})}
            assert set(query["aggregation"].get("groupByFields", [])) <= labels, tile["widget"]["title"]
        else:
            assert metric in alert_filters or metric == "run.googleapis.com/request_latencies", metric
