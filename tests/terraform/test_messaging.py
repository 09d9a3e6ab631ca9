"""Pub/Sub, Cloud Tasks and Cloud Scheduler: what Terraform creates is what topology.json declares
(the same lists emulators/bootstrap.py creates), every push subscription dead-letters and
authenticates, every queue has rate and retry settings."""

import re

from shared.topology import topology
from tests.terraform.hcl import module_call, one, resources, source_text, sub_blocks


def seconds(duration: str) -> int:
    assert re.fullmatch(r"\d+s", duration), duration
    return int(duration[:-1])


def test_resources_are_created_from_the_topology_lists_only():
    messaging = module_call("messaging")
    assert messaging["topics"] == "${local.topology.pubsub.topics}"
    assert messaging["subscriptions"] == "${local.topology.pubsub.subscriptions}"
    assert messaging["queues"] == "${local.topology.tasks.queues}"
    analytics = module_call("analytics")
    assert analytics["tables"] == "${local.topology.bigquery.tables}"
    assert analytics["dataset"] == "${local.topology.bigquery.dataset}"
    assert module_call("scheduler")["jobs"] == "${local.topology.scheduler.jobs}"
    assert 'jsondecode(file("${local.topology_dir}/topology.json"))' in source_text()
    # One resource per kind, for_each over those lists (keyed by name): nothing declared beside them.
    for type_, for_each in (
        ("google_pubsub_topic", "${local.topics}"),
        ("google_pubsub_subscription", "${local.subscriptions}"),
        ("google_cloud_tasks_queue", "${local.queues}"),
        ("google_bigquery_table", "${local.tables}"),
    ):
        r = one(type_)
        assert r.body["for_each"] == for_each and r.body.get("name", r.body.get("table_id")) == "${each.key}", type_


def test_no_topology_name_is_repeated_in_hcl():
    topo = topology()
    names = (
        [t["name"] for t in topo["pubsub"]["topics"]]
        + [s["name"] for s in topo["pubsub"]["subscriptions"]]
        + [q["name"] for q in topo["tasks"]["queues"]]
        + [t["name"] for t in topo["bigquery"]["tables"]]
        + [j["name"] for j in topo["scheduler"]["jobs"]]
        + [k["name"] for k in topo["kms"]["keys"]]
    )  # (the dataset is called like the app, whose label value "ledgerline" is in HCL)
    code = "\n".join(line for line in source_text(moved=False).splitlines() if not line.strip().startswith("#"))
    repeated = [name for name in names if f'"{name}"' in code]
    assert not repeated, f"names belong in topology/topology.json, not in HCL: {repeated}"


def test_only_two_function_names_appear_in_hcl_and_they_exist():
    # Monitoring filters on the intake and ledger services; the webhook URL output names intake.
    # (modules/keys moved.tf names old addresses; tests/terraform/test_identity.py checks them.)
    code = "\n".join(line for line in source_text(moved=False).splitlines() if not line.strip().startswith("#"))
    used = {name for name in topology()["functions"] if f'"{name}"' in code or f'["{name}"]' in code}
    assert used <= {"intake", "ledger"}


def test_every_push_subscription_has_oidc_dead_letter_and_retry():
    sub = one("google_pubsub_subscription").body
    push = sub_blocks(sub, "push_config")
    assert len(push) == 1
    oidc = push[0]["oidc_token"][0]
    assert oidc["service_account_email"] == "${var.push_service_account_email}"
    assert oidc["audience"] == "${var.function_urls[push_config.value]}"
    assert push[0]["push_endpoint"].endswith("/projects/${var.project_id}/topics/${each.value.topic}")
    assert sub_blocks(sub, "dead_letter_policy") and sub_blocks(sub, "retry_policy")
    assert sub["expiration_policy"][0]["ttl"] == ""
    topo = topology()
    subs = {s["name"]: s for s in topo["pubsub"]["subscriptions"]}
    functions = topo["functions"]
    for s in subs.values():
        if not s.get("push_to"):
            continue
        if s.get("terminal"):  # the dead-letter consumer: no dead-letter topic of its own, a pull copy is held
            assert any(h["topic"] == s["topic"] and not h.get("push_to") for h in subs.values()), s["name"]
        else:
            assert s["dead_letter_topic"] and s["max_delivery_attempts"] >= 5, s["name"]
        assert s["retry_minimum_backoff"] and s["retry_maximum_backoff"], s["name"]
        # Pub/Sub waits ack_deadline_seconds for the push answer: the function must finish first.
        assert functions[s["push_to"]]["cloud"]["timeout_seconds"] <= s["ack_deadline_seconds"], s["name"]


def test_dead_letter_iam_for_the_pubsub_service_agent():
    topic_grants = {r.name: r.body for r in resources("google_pubsub_topic_iam_member")}
    dl = topic_grants["dead_letter_publisher"]
    assert dl["for_each"] == "${local.dead_letter_topics}" and dl["member"] == "${var.pubsub_service_agent}"
    assert dl["role"] == "roles/pubsub.publisher"
    sub = one("google_pubsub_subscription_iam_member").body
    assert sub["for_each"] == "${local.dead_lettering}" and sub["role"] == "roles/pubsub.subscriber"
    assert sub["member"] == "${var.pubsub_service_agent}"
    assert "service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com" in source_text()


def test_every_dead_letter_topic_is_held_and_alerted_on():
    topo = topology()
    dead_letter_topics = {s["dead_letter_topic"] for s in topo["pubsub"]["subscriptions"] if s.get("dead_letter_topic")}
    held = [s for s in topo["pubsub"]["subscriptions"] if s["topic"] in dead_letter_topics and not s.get("push_to")]
    assert {s["topic"] for s in held} == dead_letter_topics, "every dead-letter topic keeps a pull copy for operators"
    assert module_call("monitoring")["dead_letter_subscriptions"].startswith(
        "${[for name in local.dead_letter_subscriptions"
    )


def test_every_queue_has_rate_limits_and_retry_config():
    queue = one("google_cloud_tasks_queue").body
    retry = queue["retry_config"][0]
    assert {"max_attempts", "min_backoff", "max_backoff"} <= set(retry)
    assert {"max_dispatches_per_second", "max_concurrent_dispatches"} <= set(queue["rate_limits"][0])
    for q in topology()["tasks"]["queues"]:
        assert q["max_attempts"] > 1 and seconds(q["min_backoff"]) <= seconds(q["max_backoff"]), q["name"]
        assert q["max_dispatches_per_second"] > 0 and q["max_concurrent_dispatches"] > 0, q["name"]
        assert q["target"] in topology()["functions"], q["name"]


def test_scheduler_jobs_post_json_with_oidc_to_an_existing_function():
    job = one("google_cloud_scheduler_job").body
    target = job["http_target"][0]
    assert target["http_method"] == "POST" and target["headers"]["Content-Type"] == "application/json"
    assert target["oidc_token"][0]["service_account_email"] == "${var.service_account_email}"
    assert job["retry_config"]
    functions = topology()["functions"]
    partners = set()
    for j in topology()["scheduler"]["jobs"]:
        assert j["target"] in functions and j["path"].startswith("/"), j["name"]
        assert seconds(j["attempt_deadline"]) >= functions[j["target"]]["cloud"]["timeout_seconds"], j["name"]
        if j["target"] == "reconciliation":
            partners.add(j["body"]["partner"])
        else:  # the safety-net sweeps: a task body, POSTed to the function that runs that kind
            from shared.recovery.policies import PAYMENTS_TASK_KINDS, POLICIES, WEBHOOKS_TASK_KINDS

            kind = j["body"]["kind"]
            runner = (
                "payments" if kind in PAYMENTS_TASK_KINDS else "webhooks" if kind in WEBHOOKS_TASK_KINDS else "retries"
            )
            assert kind in POLICIES and j["path"] == "/tasks", j["name"]
            assert j["target"] == runner, f"{j['name']}: {kind} runs on {runner}"
    from shared.reconciliation.service import PARTNER_PARSERS

    assert partners == set(PARTNER_PARSERS)
