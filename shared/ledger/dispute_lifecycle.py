"""What the ledger service does around Stripe's dispute lifecycle: a reinstatement waits for its
withdrawal, the operator's Dispute record is kept, and the legacy dispute postings (before the
balance-transaction lifecycle) are given back once the lifecycle has taken a dispute over."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.errors import PredecessorMissing
from shared.domain.ledger.operations import reversal
from shared.domain.webhooks.events import dispute_events
from shared.ledger import disputes
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute
from shared.webhooks import outbox as customer_events

log = logging.getLogger("ledgerline.ledger")


WITHDRAWAL_INDEX = "DisputeWithdrawal"  # <partner>:<dispute id> -> the withdrawal's transaction
# Stripe disputes posted before the balance-transaction lifecycle: `charge.dispute.created` posted
# dispute.opened (the disputed amount, keyed by the webhook's evt id, inquiries included) and
# `charge.dispute.closed` won posted dispute.won. Each such posting is indexed by its dispute
# (<partner>:<dispute id>:opened|won -> its transaction): written with the posting by this code, and
# for postings older than it by `python -m shared.cli migrate-disputes` (docs/deploy.md).
LEGACY_INDEX = "LegacyDisputePosting"
LEGACY_KINDS = {k.name: k.dispute_status for k in kinds.KINDS if k.legacy_dispute}
AFTER_WITHDRAWAL = kinds.waiting_for("withdrawal")  # parked until WITHDRAWAL_INDEX is written
LEGACY_PARTNERS = ("stripe",)  # Adyen and generic partners keep dispute.opened / dispute.won


def withdrawal_key(event: CanonicalEvent) -> str:
    return disputes.key(event.partner, event.reference)


def require_withdrawal(store: LedgerStore, event: CanonicalEvent) -> None:
    """Disputed funds are reinstated only after their withdrawal posted: a reinstatement that arrives
    first is parked (never a credit to the wallet ahead of the debit), and dead-lettered with
    `predecessor_missing` if no withdrawal ever comes."""
    if event.kind in AFTER_WITHDRAWAL and store.get(WITHDRAWAL_INDEX, withdrawal_key(event)) is None:
        raise PredecessorMissing(
            f"dispute {event.reference}: no withdrawal posted yet", (WITHDRAWAL_INDEX, withdrawal_key(event))
        )


def _legacy_names(partner: str, dispute_id: str) -> list[str]:
    return [f"{disputes.key(partner, dispute_id)}:{suffix}" for suffix in LEGACY_KINDS.values()]


def is_legacy(event: CanonicalEvent) -> bool:
    return event.partner in LEGACY_PARTNERS and event.kind in LEGACY_KINDS


def supersedes_legacy(event: CanonicalEvent) -> bool:
    """Events after which a Stripe dispute's legacy postings are known to be replaced: its withdrawal
    balance transaction (posted in full by the lifecycle) or a status saying it is an inquiry (no
    money ever moved)."""
    if event.partner not in LEGACY_PARTNERS:
        return False
    return event.kind == "dispute.funds_withdrawn" or (
        event.kind == "dispute.status" and (event.dispute_status or "").startswith("warning_")
    )


def settle_legacy(
    store: LedgerStore,
    partner: str,
    dispute_id: str,
    effective_at: datetime,
    *,
    superseded: bool = False,
    clock=utcnow,
    dry_run: bool = False,
    legacy: dict[str, dict] | None = None,
) -> list[str]:
    """Reverse every legacy posting of a Stripe dispute once the lifecycle has taken it over, so the
    books are exactly what Stripe did: the withdrawal balance transaction posts in full (amount and
    dispute fee) and the reinstatement finds its `DisputeWithdrawal`; the legacy dispute.opened (and a
    legacy dispute.won, if one posted: the pair nets to zero either way) is given back. An inquiry's
    legacy debit (money that never moved) is given back the same way. `superseded`: the caller knows
    it (supersedes_legacy); else it is read (a withdrawal indexed, or the Dispute record an inquiry).
    Keyed reads only; idempotent (a reversal's id derives from its target: asking twice replays).
    Returns the legacy transactions reversed (or, dry_run, that would be). `legacy`: the index records
    as the migration found them (a dry run writes none)."""
    if legacy is None:
        legacy = store.get_multi(LEGACY_INDEX, _legacy_names(partner, dispute_id))
    if not legacy:
        return []
    key = disputes.key(partner, dispute_id)
    if not superseded:
        superseded = store.get(WITHDRAWAL_INDEX, key) is not None or bool(
            (store.get(disputes.KIND, key) or {}).get("inquiry")
        )
    if not superseded:
        return []
    targets = sorted(record["transaction_id"] for record in legacy.values())
    done = store.get_multi("Reversal", targets)
    pending = [t for t in targets if t not in done]
    if dry_run or not pending:
        return pending
    for target in pending:
        result = execute(store, reversal(target, effective_at), clock)
        log.warning(
            "legacy dispute posting reversed: superseded by the dispute lifecycle",
            extra={
                "dispute": key,
                "transaction_id": target,
                "reversal": result.transaction_id,
                "status": result.status,
            },
        )
    return pending


def legacy_index_entry(event: CanonicalEvent, transaction_id: str) -> tuple[str, str, dict]:
    name = f"{disputes.key(event.partner, event.reference)}:{LEGACY_KINDS[event.kind]}"
    return (LEGACY_INDEX, name, {"transaction_id": transaction_id, "event_id": event.event_id, "kind": event.kind})


def record_dispute(store: LedgerStore, event: CanonicalEvent, transaction_id: str | None, clock=utcnow) -> None:
    """Keep the operator's view of the dispute (shared.ledger.disputes), idempotently: a redelivery is a no-op."""
    if event.kind not in disputes.DISPUTE_KINDS:
        return
    name = disputes.key(event.partner, event.reference)

    def work(tx):
        before = tx.get(disputes.KIND, name)
        record = disputes.merged(before, event, transaction_id, clock())
        if record is not None:
            tx.put(disputes.KIND, name, record, unindexed=("timeline",))
            # dispute.opened / dispute.closed to the customer's tenant, with the record's change
            customer_events.emit(tx, dispute_events(before, record, customer_events.tenant_reader(tx)), clock())

    store.transact(work)
