"""One-off migration of Stripe disputes posted before the balance-transaction lifecycle (docs/deploy.md,
"Upgrading to the Stripe dispute lifecycle"): `python -m shared.cli migrate-disputes [--dry-run]`.
Kept out of the ledger service (shared.ledger.posting): it runs once per deployment, from the CLI, never on a
posting path; what the posting path itself does about legacy postings is posting.settle_legacy."""

from __future__ import annotations

from collections.abc import Callable

from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.operations import operation_for
from shared.ledger import disputes
from shared.ledger.dispute_lifecycle import (
    LEGACY_PARTNERS,
    legacy_index_entry,
    record_dispute,
    settle_legacy,
    supersedes_legacy,
)
from shared.ledger.store import LedgerStore, utcnow

# The webhook each legacy rule posted, and the kind it posted it as.
LEGACY_RULES = {
    "charge.dispute.created": (kinds.BY_NAME["dispute.opened"].rule, "dispute.opened"),
    "charge.dispute.closed": (kinds.BY_NAME["dispute.won"].rule, "dispute.won"),
}


def migrate_legacy_disputes(
    store: LedgerStore, inbox_body: Callable[[str], bytes | None], *, dry_run: bool = False, clock=utcnow
) -> list[dict]:
    """One-off, idempotent (`python -m shared.cli migrate-disputes [--dry-run]`, docs/deploy.md): find
    the Stripe disputes posted before the lifecycle — the inbox's `charge.dispute.created` / `closed`
    webhooks (indexed by type), whose legacy transaction id derives from the evt id (a keyed lookup:
    dispute_opened.v1 / dispute_won.v1) —, index them by dispute (LEGACY_INDEX) and settle each
    (settle_legacy): reversed when its withdrawal balance transaction posted already (a double debit
    of the deploy window) or it is an inquiry (its Dispute record says so, or the created webhook's
    own status is warning_*). `inbox_body(key)` -> the raw body of an inbox event, or None.
    Returns one row per legacy transaction: dispute, transaction, kind, indexed, reversed, problem."""
    from shared.domain.ledger.ids import transaction_id
    from shared.partners import stripe

    rows: list[dict] = []
    found: dict[tuple[str, str], dict[str, dict]] = {}
    inquiries: set[tuple[str, str]] = set()
    for event_type, (rule, kind) in LEGACY_RULES.items():
        webhooks = {
            name: record
            for name, record in store.query("Inbox", "partner_event_type", event_type).items()
            if record.get("partner") in LEGACY_PARTNERS
        }
        legacy_ids = {transaction_id(r["partner"], r["partner_event_id"], rule): n for n, r in webhooks.items()}
        for name, txn in store.transactions(sorted(legacy_ids)).items():
            record = webhooks[legacy_ids[name]]
            row = {"transaction_id": name, "kind": kind, "event_id": txn.event_id, "dispute": None}
            rows.append(row)
            try:
                event = CanonicalEvent.model_validate_json(record["canonical"])
            except Exception:  # reported, never guessed
                row["problem"] = "inbox event unreadable: link it by hand"
                continue
            op = operation_for(event)
            if event.kind != kind or op is None or op.op_id != name or txn.rule != rule:
                row["problem"] = "inbox event does not produce this transaction: link it by hand"
                continue
            dispute = (event.partner, event.reference)
            row["dispute"] = disputes.key(*dispute)
            index_kind, index_name, data = legacy_index_entry(event, name)
            found.setdefault(dispute, {})[index_name] = data
            if store.get(index_kind, index_name) is not None:
                row["indexed"] = "exists"
            else:
                row["indexed"] = "would write" if dry_run else "written"
                if not dry_run:
                    store.record(index_kind, index_name, data)
            body = inbox_body(legacy_ids[name]) if kind == "dispute.opened" else None
            if body:
                try:  # the created webhook's own status: an inquiry starts warning_needs_response
                    status = stripe.parse_event(bytes(body), clock(), event.livemode).canonical
                except Exception:  # a hint only; the Dispute record may know
                    status = None
                if status is not None and not dry_run:
                    record_dispute(store, status, None, clock)  # the operators' record learns it too
                if status is not None and supersedes_legacy(status):
                    inquiries.add(dispute)
    reversed_by_dispute = {
        dispute: settle_legacy(
            store, *dispute, clock(), superseded=dispute in inquiries, clock=clock, dry_run=dry_run, legacy=legacy
        )
        for dispute, legacy in sorted(found.items())
    }
    for row in rows:
        if row["dispute"] is not None:
            done = reversed_by_dispute[tuple(row["dispute"].split(":", 1))]
            if row["transaction_id"] in done:
                row["reversed"] = "would reverse" if dry_run else "reversed"
            else:
                row["reversed"] = "already" if store.get("Reversal", row["transaction_id"]) else "no"
    return rows
