"""The double-entry ledger: chart of accounts, posting rules, and the engine that applies an operation
to a store inside ONE transaction. No I/O of its own: the engine reads and writes through the `Tx`
protocol, implemented for Datastore (shared.adapters.datastore_store) and in memory (shared.adapters.memory_store).

Invariants (stated where enforced; `audit` re-checks them all from a snapshot):
  I1  every transaction nets to zero per currency and per phase            (JournalTransaction)
  I2  every entry amount is a positive int of minor units                   (Entry)
  I3  one source event -> one transaction id, forever                       (transaction_id)
  I4  an account's totals equal the sums of its entries, and every entry
      records the account's resulting totals and version (contiguous)       (apply)
  I5  append-only: transactions (with their entries) and reversal links are only inserted; a hold
      closes at most once (HoldState); a transaction is reversed at most once  (apply)
  I6  constraints (no overdraft, credit limit) hold after every operation that enforces them (apply)
  I7  each transaction's hash chains to the previous one of its chain shard (apply, audit)

Hot accounts: system accounts (clearing, fees, bank, suspense, fx) are split into SHARDS entities; a
transaction touches one shard chosen from its id, so concurrent postings do not serialise on one
entity (production Firestore sustains about 1 write/s per entity). Customer wallets carry constraints
and stay one exact entity. The tamper-evidence chain is sharded the same way (CHAIN_SHARDS).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from shared.domain.events import CanonicalEvent
from shared.domain.money import MAX_AMOUNT, normalise_currency

AccountType = Literal["asset", "liability", "equity", "income", "expense"]
Direction = Literal["debit", "credit"]
Phase = Literal["posted", "pending", "release"]
OpKind = Literal["post", "hold", "capture", "void", "expire", "reverse"]
NORMAL_SIDE: dict[str, Direction] = {
    "asset": "debit",
    "expense": "debit",
    "liability": "credit",
    "equity": "credit",
    "income": "credit",
}
LEDGER = "main"
SHARDS = 32
CHAIN_SHARDS = 32
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnknownAccount(ValueError):
    pass


class InvariantViolation(ValueError):
    """A ledger invariant would break: the operation is refused and nothing changes."""


class NoPostingRule(ValueError):
    pass


class Rejected(Exception):
    """The operation is valid input but not allowed now (insufficient funds, hold resolved…).
    Nothing changes; the caller records the rejection with its reason."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PredecessorMissing(Exception):
    """The operation refers to a record that has not arrived yet (out-of-order delivery). Nothing
    changes; the caller parks the event (shared.ledger.parking.park) until `waiting_on` = (kind, name) is
    written, which re-drives it, or until its parking deadline, which dead-letters it."""

    def __init__(self, message: str, waiting_on: tuple[str, str]):
        super().__init__(message)
        self.waiting_on = waiting_on


class Conflict(Exception):
    """Same transaction id, different body: recorded, never overwritten."""


# ----------------------------------------------------------------------------- chart of accounts


@dataclass(frozen=True)
class AccountRule:
    pattern: re.Pattern
    type: AccountType
    sharded: bool
    no_overdraft: bool
    meaning: str


_ID = r"[A-Za-z0-9_\-]{1,100}"
ACCOUNT_RULES: list[AccountRule] = [
    AccountRule(
        re.compile(rf"^partner:{_ID}:clearing$"), "asset", True, False, "money a partner holds for us, not yet paid out"
    ),
    AccountRule(re.compile(rf"^customer:{_ID}:wallet$"), "liability", False, True, "what we owe a customer"),
    AccountRule(re.compile(rf"^fees:{_ID}$"), "expense", True, False, "processing fees charged by a partner"),
    AccountRule(re.compile(rf"^bank:{_ID}:operating$"), "asset", True, False, "our operating account at a bank"),
    AccountRule(re.compile(r"^suspense$"), "liability", True, False, "money we hold but cannot yet attribute"),
    AccountRule(re.compile(rf"^fx:{_ID}$"), "equity", True, False, "currency conversion position"),
]


def account_rule(account: str) -> AccountRule:
    for rule in ACCOUNT_RULES:
        if rule.pattern.match(account):
            return rule
    raise UnknownAccount(f"{account!r} matches no chart-of-accounts naming rule")


def account_type(account: str) -> AccountType:
    return account_rule(account).type


def normal_balance(kind: AccountType, debits: int, credits: int) -> int:
    """Balance expressed on the account's normal side (positive = the usual state)."""
    return debits - credits if NORMAL_SIDE[kind] == "debit" else credits - debits


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def shard_for(account: str, salt: int) -> int:
    """Which entity of a sharded account a write goes to. The salt is the writer's affinity (see
    shared.ledger.posting): concurrent writers keep to different shards, and re-pick after contention. Any
    shard is correct: balances sum all shards, and a replay returns the stored entries."""
    return (salt + int(_digest(account)[:8], 16)) % SHARDS if account_rule(account).sharded else 0


def account_key(account: str, currency: str, shard: int) -> str:
    return f"{account}|{currency}|{shard}"


def transaction_id(partner: str, partner_event_id: str, rule: str) -> str:
    """I3: deterministic, so a redelivered event maps onto the transaction it already produced."""
    return f"txn_{_digest(partner, partner_event_id, rule)[:40]}"


def micros(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (no float): the form hashed and compared."""
    return (moment - EPOCH) // timedelta(microseconds=1)


# Fields added to CanonicalEvent after events were stored: hashed only when set, so every event stored
# before they existed keeps its hash (a redelivery of it is replayed, not a Conflict).
HASHED_WHEN_SET = ("dispute_status", "unbooked_fee", "unbooked_fee_currency")


def event_hash(event: CanonicalEvent) -> str:
    """Hash of what the event says about money; excludes when we happened to receive it."""
    unset = {name for name in HASHED_WHEN_SET if getattr(event, name) is None}
    body = event.model_dump(mode="json", exclude={"received_at", *unset})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------------------- legs, entries, operations


@dataclass(frozen=True)
class Leg:
    account: str
    direction: Direction
    amount: int
    currency: str
    phase: Phase = "posted"
    shard: int | None = None  # pinned for releases (the hold's shard); else chosen from the transaction id


@dataclass(frozen=True)
class Entry:
    entry_id: str
    transaction_id: str
    index: int
    account: str
    currency: str
    shard: int
    direction: Direction
    amount: int
    phase: Phase = "posted"

    def __post_init__(self):
        # I2
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvariantViolation(f"I2: amount must be int minor units, got {type(self.amount).__name__}")
        if not 0 < self.amount <= MAX_AMOUNT:
            raise InvariantViolation(f"I2: entry amount out of range: {self.amount}")
        if self.direction not in ("debit", "credit") or self.phase not in ("posted", "pending", "release"):
            raise InvariantViolation(f"bad direction/phase {self.direction!r}/{self.phase!r}")
        if self.currency != normalise_currency(self.currency):
            raise InvariantViolation(f"currency must be upper-case ISO-4217, got {self.currency!r}")
        account_rule(self.account)

    @property
    def account_key(self) -> str:
        return account_key(self.account, self.currency, self.shard)


def unbalanced(entries: Iterable) -> dict[tuple[str, str], int]:
    """{(currency, phase): debits - credits} for every pair that does not net to zero (I1)."""
    net: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        net[(e.currency, e.phase)] += e.amount if e.direction == "debit" else -e.amount
    return {key: value for key, value in net.items() if value != 0}


@dataclass(frozen=True)
class JournalTransaction:
    transaction_id: str
    rule: str
    event_id: str
    partner: str
    body_hash: str
    entries: tuple[Entry, ...]

    def __post_init__(self):
        if len(self.entries) < 2:
            raise InvariantViolation("a transaction has at least two entries")
        problems = unbalanced(self.entries)
        if problems:  # I1
            raise InvariantViolation(f"I1: transaction {self.transaction_id} does not balance: {problems}")

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self.entries})


@dataclass(frozen=True)
class Operation:
    """What the ledger is asked to do. op_id is the resulting transaction id (idempotency key)."""

    op_id: str
    kind: OpKind
    rule: str
    event_id: str
    partner: str
    body_hash: str
    effective_at: datetime
    legs: tuple[Leg, ...] = ()
    target: str | None = None  # capture/void/expire: the hold; reverse: the transaction
    amount: int | None = None  # capture: amount captured
    currency: str | None = None  # capture: must match the hold's currency
    expires_at: datetime | None = None  # hold
    await_target: bool = False  # reverse: a missing target has not arrived yet (park), not an error
    enforce_constraints: bool = False
    ledger: str = LEDGER


def payout_id(partner: str, reference: str) -> str:
    """One transaction per payout, whichever event reports it paid (so its failure can reverse it)."""
    return transaction_id(partner, f"payout:{reference}", "payout_paid.v1")


def hold_id(partner: str, reference: str) -> str:
    return transaction_id(partner, f"authorization:{reference}", "hold.v1")


# ----------------------------------------------------------------------------- posting rules (docs/ledger.md)


def _owner(event: CanonicalEvent) -> str:
    return f"customer:{event.customer}:wallet" if event.customer else "suspense"


def _legs(event: CanonicalEvent, *pairs: tuple[str, str, int]) -> tuple[Leg, ...]:
    return tuple(Leg(acct, direction, amount, event.currency) for acct, direction, amount in pairs if amount > 0)


def _payment_captured(e: CanonicalEvent):
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return "post", _legs(
        e, (clearing, "debit", e.amount - e.fee), (fees, "debit", e.fee), (_owner(e), "credit", e.amount)
    )


def _from_wallet_to_clearing(e: CanonicalEvent):
    return "post", _legs(e, (_owner(e), "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount))


def _from_clearing_to_wallet(e: CanonicalEvent):
    return "post", _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))


def _dispute_lost(e: CanonicalEvent):
    if e.fee == 0:
        return None  # funds already left with dispute.opened; nothing more moves
    return "post", _legs(e, (f"fees:{e.partner}", "debit", e.fee), (f"partner:{e.partner}:clearing", "credit", e.fee))


def _dispute_funds_withdrawn(e: CanonicalEvent):
    """The disputed amount leaves the customer's wallet; the dispute fee, charged on top, is ours."""
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return "post", _legs(
        e, (_owner(e), "debit", e.amount), (fees, "debit", e.fee), (clearing, "credit", e.amount + e.fee)
    )


def _dispute_funds_reinstated(e: CanonicalEvent):
    """The disputed amount comes back to the wallet; a refunded dispute fee (fee > 0) back to fees."""
    clearing = f"partner:{e.partner}:clearing"
    return "post", _legs(
        e,
        (clearing, "debit", e.amount + e.fee),
        (_owner(e), "credit", e.amount),
        (f"fees:{e.partner}", "credit", e.fee),
    )


def _records_only(e: CanonicalEvent):
    return None  # kept by the ledger service (shared.ledger.disputes), no money moves


def _payout_paid(e: CanonicalEvent):
    return "post", _legs(
        e, (f"bank:{e.bank}:operating", "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount)
    )


def _ach_received(e: CanonicalEvent):
    return "post", _legs(e, (f"bank:{e.bank}:operating", "debit", e.amount), (_owner(e), "credit", e.amount))


def _ach_returned(e: CanonicalEvent):
    return "post", _legs(e, (_owner(e), "debit", e.amount), (f"bank:{e.bank}:operating", "credit", e.amount))


def _authorization(e: CanonicalEvent):
    legs = _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))
    return "hold", tuple(replace(leg, phase="pending") for leg in legs)


POSTING_RULES: dict[str, tuple[str, Callable]] = {
    "payment.captured": ("payment_captured.v1", _payment_captured),
    "payment.refunded": ("payment_refunded.v1", _from_wallet_to_clearing),
    "dispute.opened": ("dispute_opened.v1", _from_wallet_to_clearing),
    "dispute.won": ("dispute_won.v1", _from_clearing_to_wallet),
    "dispute.lost": ("dispute_lost.v1", _dispute_lost),
    "dispute.status": ("dispute_status.v1", _records_only),
    "dispute.funds_withdrawn": ("dispute_funds_withdrawn.v1", _dispute_funds_withdrawn),
    "dispute.funds_reinstated": ("dispute_funds_reinstated.v1", _dispute_funds_reinstated),
    "payout.paid": ("payout_paid.v1", _payout_paid),
    "payout.failed": ("payout_failed.v1", None),
    "ach.credit.received": ("ach_credit_received.v1", _ach_received),
    "ach.credit.returned": ("ach_credit_returned.v1", _ach_returned),
    "ach.debit.sent": ("ach_debit_sent.v1", _ach_returned),  # same legs: wallet -> bank
    "ach.debit.returned": ("ach_debit_returned.v1", _ach_received),  # same legs: bank -> wallet
    "authorization.created": ("hold.v1", _authorization),
    "authorization.captured": ("hold_capture.v1", None),
    "authorization.voided": ("hold_void.v1", None),
}


def operation_for(event: CanonicalEvent) -> Operation | None:
    """The ledger operation a canonical event asks for; None when the event moves no money."""
    try:
        rule, build = POSTING_RULES[event.kind]
    except KeyError:
        raise NoPostingRule(f"no posting rule for event kind {event.kind!r}") from None
    common = dict(
        rule=rule,
        event_id=event.event_id,
        partner=event.partner,
        body_hash=event_hash(event),
        effective_at=event.occurred_at,
    )
    if event.kind == "authorization.created":
        op_id = hold_id(event.partner, event.reference)
    elif event.kind == "payout.paid":
        op_id = payout_id(event.partner, event.reference)
    else:
        op_id = transaction_id(event.partner, event.partner_event_id, rule)
    if event.kind == "authorization.captured":
        return Operation(
            op_id,
            "capture",
            target=hold_id(event.partner, event.reference),
            amount=event.amount,
            currency=event.currency,
            **common,
        )
    if event.kind == "payout.failed":
        # A failed payout undoes the paid one (it never invents money): a reversal of that transaction,
        # parked until it has arrived. A payout that fails without ever being paid stays parked and is
        # dead-lettered with that reason: nothing moved, nothing to post.
        return Operation(
            op_id, "reverse", target=payout_id(event.partner, event.reference), await_target=True, **common
        )
    if event.kind == "authorization.voided":
        return Operation(op_id, "void", target=hold_id(event.partner, event.reference), **common)
    built = build(event)
    if built is None:
        return None
    kind, legs = built
    return Operation(op_id, kind, legs=legs, expires_at=event.expires_at, **common)


def _system_operation(kind: OpKind, rule: str, target: str, effective_at: datetime) -> Operation:
    """An operation ledgerline itself originates about an existing transaction; its id derives from
    (kind, target), so asking twice is the same operation (replayed), never a second one."""
    op_id = transaction_id("ledgerline", f"{kind}:{target}", rule)
    return Operation(
        op_id,
        kind,
        rule,
        f"ledgerline:{kind}:{target}",
        "ledgerline",
        _digest(kind, target),
        effective_at,
        target=target,
    )


REVERSAL_RULE = "reversal.v1"


def reversal(target: str, effective_at: datetime) -> Operation:
    """The correction of a posted transaction: its posted legs mirrored, linked both ways, at most once."""
    return _system_operation("reverse", REVERSAL_RULE, target, effective_at)


def expiry(hold: str, effective_at: datetime) -> Operation:
    """Release a hold whose expiry has passed (valid only when now >= its expires_at)."""
    return _system_operation("expire", "hold_expire.v1", hold, effective_at)


FEE_BOOKING_RULE = "fee_booked.v1"


def fee_booking(partner: str, key: str, amount: int, currency: str, effective_at: datetime) -> Operation:
    """An adjusting transaction for a fee the partner reported and the ledger had not booked
    (shared.reconciliation.fees): amount > 0 debits fees:<partner> and credits the partner's clearing
    account, < 0 the reverse. Its id derives from (partner, key): booking the same key twice is the same
    operation (replayed), never a second one."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvariantViolation(f"a fee booking is a non-zero int of minor units, got {amount!r}")
    fees, clearing = f"fees:{partner}", f"partner:{partner}:clearing"
    debit, credit = (fees, clearing) if amount > 0 else (clearing, fees)
    currency = normalise_currency(currency)
    legs = (Leg(debit, "debit", abs(amount), currency), Leg(credit, "credit", abs(amount), currency))
    return Operation(
        transaction_id(partner, key, FEE_BOOKING_RULE),
        "post",
        FEE_BOOKING_RULE,
        f"ledgerline:fee:{partner}:{key}",
        partner,
        _digest("fee", partner, key, str(amount), currency),
        effective_at,
        legs=legs,
    )


def journal_for(event: CanonicalEvent) -> JournalTransaction | None:
    """The balanced journal of a posting event (validation at intake; the engine re-derives it)."""
    op = operation_for(event)
    if op is None or not op.legs:
        return None
    return JournalTransaction(
        op.op_id, op.rule, op.event_id, op.partner, op.body_hash, _entries(op.op_id, op.legs, salt=0)
    )


def _entries(txn_id: str, legs: Iterable[Leg], salt: int) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            f"{txn_id}:{i}",
            txn_id,
            i,
            leg.account,
            leg.currency,
            shard_for(leg.account, salt) if leg.shard is None else leg.shard,
            leg.direction,
            leg.amount,
            leg.phase,
        )
        for i, leg in enumerate(legs)
    )


# ----------------------------------------------------------------------------- account state

TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


@dataclass(frozen=True)
class AccountBalance:
    """One account in one currency (all shards summed, or one shard)."""

    account: str
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def posted(self) -> int:
        return normal_balance(account_type(self.account), self.debits_posted, self.credits_posted)

    @property
    def pending_out(self) -> int:
        """Pending amounts against the normal side (they will reduce the balance)."""
        normal = NORMAL_SIDE[account_type(self.account)]
        return self.credits_pending if normal == "debit" else self.debits_pending

    @property
    def pending_in(self) -> int:
        normal = NORMAL_SIDE[account_type(self.account)]
        return self.debits_pending if normal == "debit" else self.credits_pending

    @property
    def available(self) -> int:
        """Posted minus what pending holds may still take; pending incoming money is not available."""
        return self.posted - self.pending_out


def sum_balances(balances: Iterable[AccountBalance]) -> dict[tuple[str, str], AccountBalance]:
    out: dict[tuple[str, str], AccountBalance] = {}
    for b in balances:
        key = (b.account, b.currency)
        prev = out.get(key)
        out[key] = (
            b
            if prev is None
            else AccountBalance(b.account, b.currency, *(getattr(prev, t) + getattr(b, t) for t in TOTALS))
        )
    return out


def _apply(state: dict, entry: Entry) -> None:
    """Add one entry to an account shard's totals (I4)."""
    side = "debits" if entry.direction == "debit" else "credits"
    if entry.phase == "posted":
        state[f"{side}_posted"] += entry.amount
    elif entry.phase == "pending":
        state[f"{side}_pending"] += entry.amount
    else:  # release of a pending amount
        state[f"{side}_pending"] -= entry.amount
        if state[f"{side}_pending"] < 0:
            raise InvariantViolation(f"release exceeds pending on {entry.account_key}")
    state["version"] += 1


# ----------------------------------------------------------------------------- the engine


class Tx(Protocol):
    """What the engine needs from a store inside one transaction. `prefetch` is a hint: load these
    records in one round trip (later gets are served from it); reads see the transaction's own puts."""

    def prefetch(self, pairs: list[tuple[str, str]]) -> None: ...

    def get(self, kind: str, name: str) -> dict | None: ...
    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]: ...
    def put(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...


@dataclass(frozen=True)
class Result:
    status: Literal["posted", "replayed", "rejected", "conflict", "parked"]
    transaction_id: str
    reason: str | None = None
    record: dict = field(default_factory=dict, compare=False)


def _legs_of(op: Operation, tx: Tx, now: datetime) -> tuple[tuple[Leg, ...], dict]:
    """The legs an operation writes, after its preconditions (I5); plus extra records to insert."""
    if op.kind in ("post", "hold"):
        if not op.legs:
            raise InvariantViolation("an operation without legs")
        if op.kind == "hold" and op.expires_at is None:
            raise InvariantViolation("a hold needs expires_at")
        return op.legs, {}
    target = tx.get("JournalTransaction", op.target)
    if op.kind == "reverse":
        if target is None and op.await_target:
            raise PredecessorMissing(f"{op.target} has not arrived yet", ("JournalTransaction", op.target))
        if target is None or target["kind"] not in ("post", "capture"):
            raise Rejected("not_reversible", f"{op.target} is not a posted transaction")
        if tx.get("Reversal", op.target) is not None:
            raise Rejected("already_reversed", f"{op.target} was reversed already")
        legs = tuple(
            Leg(e["account"], "credit" if e["direction"] == "debit" else "debit", e["amount"], e["currency"])
            for e in entries_of(target)
            if e["phase"] == "posted"
        )
        return legs, {("Reversal", op.target): {"reversal_id": op.op_id, "recorded_at": now}}
    if target is None:
        # Partners do not guarantee order: the capture/void may arrive before its authorization.
        raise PredecessorMissing(f"hold {op.target} has not arrived yet", ("JournalTransaction", op.target))
    if target["kind"] != "hold":
        raise Rejected("unknown_hold", f"{op.target} is not a hold")
    held = [
        Leg(e["account"], e["direction"], e["amount"], e["currency"], "pending", e["shard"]) for e in entries_of(target)
    ]
    held_amount = max(leg.amount for leg in held)  # from the chained entries, not a stored field
    state = tx.get("HoldState", op.target) or {"captured": 0, "released": 0, "closed": None}
    remaining = held_amount - state["released"] if state["closed"] is None else 0

    def release(amount: int) -> list[Leg]:
        return [replace(leg, phase="release", amount=amount) for leg in held] if amount > 0 else []

    if op.kind == "capture":
        # A capture is a partner fact: the money moved, so it always posts. It releases what it takes
        # from the hold; a capture dated at/after the expiry (the partner's clock) closes the hold.
        if op.currency is not None and op.currency != held[0].currency:
            raise Rejected("currency_mismatch", f"capture in {op.currency} of a hold in {held[0].currency}")
        captured = op.amount or 0
        if captured <= 0:
            raise Rejected("invalid_capture", "a capture needs a positive amount")
        freed = min(captured, remaining)
        closing = state["closed"] is None and (op.effective_at >= target["expires_at"] or freed == remaining)
        if closing:
            freed = remaining
        legs = [*release(freed), *(replace(leg, phase="posted", amount=captured, shard=None) for leg in held)]
        new_state = {
            "captured": state["captured"] + captured,
            "released": state["released"] + freed,
            "closed": ("captured" if op.effective_at < target["expires_at"] else "expired")
            if closing
            else state["closed"],
            "last_transaction_id": op.op_id,
            "updated_at": now,
        }
        return tuple(legs), {("HoldState", op.target): new_state}
    if state["closed"] is not None:
        raise Rejected("hold_already_resolved", f"hold {op.target} is {state['closed']} already")
    if op.kind == "expire" and now < target["expires_at"]:
        raise Rejected("hold_not_expired", f"hold {op.target} expires at {target['expires_at'].isoformat()}")
    closed = "voided" if op.kind == "void" else "expired"
    new_state = {
        **state,
        "released": state["released"] + remaining,
        "closed": closed,
        "last_transaction_id": op.op_id,
        "updated_at": now,
    }
    return tuple(release(remaining)), {("HoldState", op.target): new_state}


def _violations(before: dict, after: dict, account: str) -> str | None:
    if not after.get("no_overdraft", account_rule(account).no_overdraft) and after.get("credit_limit") is None:
        return None
    limit = after.get("credit_limit") or 0

    def available(s):
        return AccountBalance(account, s["currency"], *(s[t] for t in TOTALS)).available

    if available(after) < -limit and available(after) < available(before):
        return f"{account} ({after['currency']}) would have {available(after)} available; limit is -{limit}"
    return None


def entries_of(record: dict) -> list[dict]:
    """A transaction's entries (stored inside its record: one entity per posting, not one per leg)."""
    return json.loads(record["entries"])


def chain_hash(prev_hash: str, record: dict, entries: list[dict]) -> str:
    """I7: what each transaction's hash commits to (its content and its predecessor)."""
    content = {
        "prev": prev_hash,
        "seq": record["seq"],
        "id": record["transaction_id"],
        "kind": record["kind"],
        "rule": record["rule"],
        "event_id": record["event_id"],
        "body_hash": record["body_hash"],
        "effective_us": micros(record["effective_at"]),
        "recorded_us": micros(record["recorded_at"]),
        "expires_us": micros(record["expires_at"]) if record.get("expires_at") else None,
        "partner": record["partner"],
        "ledger": record["ledger"],
        "target": record.get("target"),
        "entries": [
            [e["account"], e["currency"], e["shard"], e["direction"], e["amount"], e["phase"]] for e in entries
        ],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


GENESIS = "0" * 64


def chain_for(op: Operation, salt: int) -> str:
    return f"{op.ledger}#{salt % CHAIN_SHARDS}"


def reads_for(op: Operation, salt: int = 0) -> list[tuple[str, str]]:
    """Every record apply() will read that is known before reading anything: one round trip."""
    pairs = [("JournalTransaction", op.op_id), ("ChainHead", chain_for(op, salt))]
    if op.target:
        pairs += [("JournalTransaction", op.target), ("HoldState", op.target), ("Reversal", op.target)]
    pairs += [("Account", e.account_key) for e in _entries(op.op_id, op.legs, salt)]
    return pairs


def apply(op: Operation, tx: Tx, now: datetime, salt: int = 0) -> Result:
    """Apply one operation inside the caller's store transaction. Raises Rejected or Conflict (and
    the caller's transaction then writes nothing); returns `replayed` for a repeat of the same op."""
    tx.prefetch(reads_for(op, salt))
    existing = tx.get("JournalTransaction", op.op_id)
    if existing is not None:
        if existing["body_hash"] != op.body_hash:
            raise Conflict(
                f"transaction {op.op_id} exists with a different body "
                f"(stored {existing['body_hash'][:12]}, incoming {op.body_hash[:12]})"
            )
        return Result("replayed", op.op_id, record=existing)
    legs, links = _legs_of(op, tx, now)
    entries = _entries(op.op_id, legs, salt)
    problems = unbalanced(entries)
    if problems:
        raise InvariantViolation(f"I1: operation {op.op_id} does not balance: {problems}")
    keys = sorted({e.account_key for e in entries})
    found = tx.get_multi("Account", keys)
    accounts, before = {}, {}
    for e in entries:
        if e.account_key in accounts:
            continue
        state = found.get(e.account_key) or {
            "account": e.account,
            "currency": e.currency,
            "shard": e.shard,
            "type": account_type(e.account),
            **dict.fromkeys(TOTALS, 0),
            "version": 0,
            "no_overdraft": account_rule(e.account).no_overdraft,
            "credit_limit": None,
            "metadata": "{}",  # JSON object, free-form (set by operators / the API)
            "created_at": now,
        }
        accounts[e.account_key] = dict(state)
        before[e.account_key] = dict(state)
    entry_records = []
    for e in entries:
        state = accounts[e.account_key]
        _apply(state, e)
        entry_records.append(
            {
                "index": e.index,
                "account": e.account,
                "currency": e.currency,
                "shard": e.shard,
                "direction": e.direction,
                "amount": e.amount,
                "phase": e.phase,
                "account_version": state["version"],
                "resulting": [state[t] for t in TOTALS],
            }
        )
    if op.enforce_constraints:
        for key, state in accounts.items():
            reason = _violations(before[key], state, state["account"])
            if reason:
                raise Rejected("insufficient_funds", reason)  # I6
    chain_id = chain_for(op, salt)
    head = tx.get("ChainHead", chain_id) or {"seq": 0, "hash": GENESIS}
    record = {
        "transaction_id": op.op_id,
        "ledger": op.ledger,
        "kind": op.kind,
        "rule": op.rule,
        "event_id": op.event_id,
        "partner": op.partner,
        "body_hash": op.body_hash,
        "effective_at": op.effective_at,
        "recorded_at": now,
        "target": op.target,
        "entry_count": len(entries),
        "accounts": sorted({e.account for e in entries}),  # indexed: entries of an account
        "entries": json.dumps(entry_records, separators=(",", ":")),
        "expires_at": op.expires_at,
        "chain_id": chain_id,
        "seq": head["seq"] + 1,
        "prev_hash": head["hash"],
    }
    record["hash"] = chain_hash(head["hash"], record, entry_records)
    for key, state in accounts.items():
        state["updated_at"] = now
        tx.put("Account", key, state)
    tx.put("JournalTransaction", op.op_id, record, unindexed=("entries",))
    tx.put("ChainHead", chain_id, {"seq": record["seq"], "hash": record["hash"], "transaction_id": op.op_id})
    for (kind, name), data in links.items():
        tx.put(kind, name, data)
    return Result("posted", op.op_id, record=record)


# ----------------------------------------------------------------------------- audit (pure)


def audit(snapshot: dict[str, dict[str, dict]]) -> list[dict]:
    """Every invariant over a full snapshot {kind: {name: data}}. Empty list = sound ledger."""
    problems: list[dict] = []
    txns, accounts = snapshot.get("JournalTransaction", {}), snapshot.get("Account", {})
    by_txn: dict[str, list] = defaultdict(list)
    by_account: dict[str, list] = defaultdict(list)
    for txn_id, t in txns.items():
        for e in entries_of(t):
            row = _Row(f"{txn_id}:{e['index']}", {**e, "transaction_id": txn_id})
            by_txn[txn_id].append(row)
            by_account[account_key(e["account"], e["currency"], e["shard"])].append(row)
    for txn_id, t in sorted(txns.items()):
        rows = by_txn.get(txn_id, [])
        if len(rows) != t.get("entry_count"):
            problems.append(
                {"check": "entry_count", "transaction_id": txn_id, "expected": t.get("entry_count"), "found": len(rows)}
            )
        for (cur, phase), net in sorted(unbalanced(rows).items()):
            problems.append(
                {"check": "transaction_balanced", "transaction_id": txn_id, "currency": cur, "phase": phase, "net": net}
            )
    for key in sorted(set(by_account) | set(accounts)):
        problems += _audit_account(key, accounts.get(key), sorted(by_account.get(key, []), key=lambda r: r.version))
    problems += _audit_chains(txns, snapshot.get("ChainHead", {}))
    for hold, state in sorted(snapshot.get("HoldState", {}).items()):
        if hold not in txns or state.get("last_transaction_id") not in txns:
            problems.append({"check": "hold_state_without_transaction", "hold": hold})
    return problems


class _Row:
    __slots__ = ("account", "amount", "currency", "data", "direction", "entry_id", "phase", "version")

    def __init__(self, entry_id: str, data: dict):
        self.entry_id, self.data = entry_id, data
        self.account, self.currency, self.direction = data["account"], data["currency"], data["direction"]
        self.amount, self.phase, self.version = data["amount"], data.get("phase", "posted"), data["account_version"]


def _audit_account(key: str, stored: dict | None, rows: list[_Row]) -> list[dict]:
    if stored is None:
        return [{"check": "entries_without_account", "account": key}]
    problems = []
    state = {**dict.fromkeys(TOTALS, 0), "version": 0}
    for row in rows:
        try:
            _apply(
                state,
                Entry(
                    row.entry_id,
                    row.data["transaction_id"],
                    row.data["index"],
                    row.account,
                    row.currency,
                    row.data["shard"],
                    row.direction,
                    row.amount,
                    row.phase,
                ),
            )
        except (InvariantViolation, UnknownAccount) as exc:
            problems.append({"check": "entry_invalid", "entry_id": row.entry_id, "error": str(exc)})
            continue
        if row.version != state["version"]:
            problems.append(
                {
                    "check": "version_gap",
                    "account": key,
                    "entry_id": row.entry_id,
                    "expected": state["version"],
                    "found": row.version,
                }
            )
            state["version"] = row.version
        if row.data.get("resulting") != [state[t] for t in TOTALS]:
            problems.append({"check": "entry_resulting_balance", "account": key, "entry_id": row.entry_id})
    if {t: stored.get(t) for t in (*TOTALS, "version")} != {t: state[t] for t in (*TOTALS, "version")}:
        problems.append(
            {
                "check": "account_equals_entries",
                "account": key,
                "stored": [stored.get(t) for t in (*TOTALS, "version")],
                "entries": [state[t] for t in (*TOTALS, "version")],
            }
        )
    return problems


def _audit_chains(txns: dict, heads: dict) -> list[dict]:
    problems = []
    chains: dict[str, list] = defaultdict(list)
    for t in txns.values():
        chains[t["chain_id"]].append(t)
    for chain_id, members in sorted(chains.items()):
        prev = GENESIS
        for expected_seq, t in enumerate(sorted(members, key=lambda t: t["seq"]), start=1):
            entries = entries_of(t)
            if t["seq"] != expected_seq or t["prev_hash"] != prev or chain_hash(prev, t, entries) != t["hash"]:
                problems.append(
                    {"check": "chain", "chain_id": chain_id, "first_divergence": t["transaction_id"], "seq": t["seq"]}
                )
                break
            prev = t["hash"]
        else:
            head = heads.get(chain_id)
            if head is None or head["hash"] != prev or head["seq"] != len(members):
                problems.append({"check": "chain_head", "chain_id": chain_id})
    return problems
