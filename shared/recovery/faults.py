"""Fault injection for tests and chaos runs: a `Fault` record in Datastore (key = downstream name)
makes the next `remaining` calls to that downstream fail, transiently or permanently. Honoured only
when Settings.fault_injection is on, which config allows only locally (never in the cloud)."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import datastore

from shared.adapters.datastore_store import in_transaction
from shared.config import Settings
from shared.errors import PermanentError

MODES = ("transient", "permanent")


def inject(db: datastore.Client, downstream: str, failures: int, mode: str = "transient") -> None:
    if mode not in MODES:
        raise ValueError(f"mode is one of {MODES}")
    fault = datastore.Entity(db.key("Fault", downstream))
    fault.update({"remaining": failures, "mode": mode, "triggered": 0})
    db.put(fault)


def triggered(db: datastore.Client, downstream: str) -> int:
    fault = db.get(db.key("Fault", downstream))
    return 0 if fault is None else fault["triggered"]


def clear(db: datastore.Client, downstream: str) -> None:
    db.delete(db.key("Fault", downstream))


def check(cfg: Settings, db: datastore.Client, downstream: str) -> None:
    """Raise the injected failure if one is pending for this downstream (one read when none is)."""
    if not cfg.fault_injection:
        return
    key = db.key("Fault", downstream)
    fault = db.get(key)
    if fault is None or fault["remaining"] <= 0:
        return

    def take(_txn):
        current = db.get(key)
        if current is None or current["remaining"] <= 0:
            return None
        current["remaining"] -= 1
        current["triggered"] += 1
        db.put(current)
        return current["mode"]

    mode = in_transaction(db, take)
    if mode == "transient":
        raise gexc.ServiceUnavailable(f"injected fault: {downstream} unavailable")
    if mode == "permanent":
        raise PermanentError(f"injected fault: {downstream} refuses this work")
