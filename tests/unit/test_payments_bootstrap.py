"""The composition root's payments wiring: the hand-off to the payments function fails at call time
(not at import or build) while no payments function exists, enqueues a deduplicated task once one
does; the key-encryption key is the local dev key locally and KMS in the cloud, and a missing
payments setting fails the payments services only, never the API's other routes."""

import pytest

from shared import bootstrap
from shared.adapters.memory_store import MemoryStore
from shared.config import ConfigError, settings_from
from shared.errors import NotConfigured
from shared.payments.vault import LocalKeyWrapper

KEK = "00" * 32
LOCAL = {"LEDGERLINE_ENV": "local", "PAYMENTS_LOCAL_KEK": KEK, "PAYMENTS_FINGERPRINT_KEY": "fp"}


def root(env) -> bootstrap.Root:
    r = bootstrap.Root(settings_from(env))
    r.__dict__["store"] = MemoryStore()
    return r


def test_the_hand_off_is_a_clear_error_at_call_time_without_a_payments_function():
    r = root(LOCAL)
    start = bootstrap.start_payments(r)  # building it needs nothing
    r.cfg.function_urls.pop("payments", None)  # not deployed
    with pytest.raises(RuntimeError, match="PAYMENTS_URL"):
        start("payout-step", "po_0123")


def test_the_hand_off_enqueues_a_named_task_on_the_payments_queue(monkeypatch):
    r = root(LOCAL)
    r.cfg.function_urls["payments"] = "http://127.0.0.1:8088"
    calls = []
    monkeypatch.setattr(
        bootstrap.tasks_queue,
        "enqueue",
        lambda cfg, queue, url, payload, **kw: (
            calls.append((queue, url, payload["kind"], payload["key"], kw["task_id"])) or True
        ),
    )
    start = bootstrap.start_payments(r)
    start("payout-step", "po_0123")
    start("payout-step", "po_0123")
    (first, second) = calls
    assert first == second  # the same name: Cloud Tasks refuses the second (a no-op)
    assert first[:4] == ("payments", "http://127.0.0.1:8088/tasks", "payout-step", "po_0123")


def test_local_keys_and_services_are_built_from_settings():
    r = root({**LOCAL, "LEDGERLINE_PAYOUT_DEFAULT_LIMITS": '{"usd":{"max_single":1,"daily_outflow":2}}'})
    assert isinstance(bootstrap.payment_keys(r.cfg), LocalKeyWrapper)
    payouts = bootstrap.payouts(r)
    assert payouts.fingerprint_key == b"fp" and payouts.default_limits == {"USD": (1, 2)}
    assert bootstrap.payouts(r) is payouts and bootstrap.payins(r) is bootstrap.payins(r)
    assert bootstrap.payout_limits(r).get("c1", "USD").source == "default"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEDGERLINE_ENV": "local", "PAYMENTS_FINGERPRINT_KEY": "fp"}, "PAYMENTS_LOCAL_KEK"),
        ({"LEDGERLINE_ENV": "cloud", "K_SERVICE": "api", "PAYMENTS_FINGERPRINT_KEY": "fp"}, "PAYMENTS_KMS_KEY"),
        ({**LOCAL, "PAYMENTS_FINGERPRINT_KEY": ""}, "PAYMENTS_FINGERPRINT_KEY"),
        ({**LOCAL, "LEDGERLINE_PAYOUT_DEFAULT_LIMITS": '{"USD":{"max_single":-1,"daily_outflow":2}}'}, "max_single"),
        ({**LOCAL, "LEDGERLINE_PAYOUT_DEFAULT_LIMITS": '{"XYZ":{"max_single":1,"daily_outflow":2}}'}, "XYZ"),
    ],
)
def test_a_missing_or_malformed_payments_setting_fails_the_payments_services_only(env, message):
    r = root(env)
    backend = bootstrap.api_backend(r)  # the API's backend builds: balances and transfers still work
    with pytest.raises((ConfigError, NotConfigured), match=message):
        backend.payouts()
