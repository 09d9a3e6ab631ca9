"""The event-kind registry: every canonical event kind, declared ONCE with everything the system does
with it. The tables elsewhere are derived from it: `EventKind` and the field checks of
shared.domain.events, the operation of shared.domain.ledger.operations, the parking and index tables of
the ledger service (shared.ledger.posting), the dispute kinds (shared.ledger.disputes), and the
reconciliation kinds of shared.reconciliation.ledger_side and bank_codes. `build` checks that every
kind is complete and consistent, at import: a kind missing a piece fails there, not in production.

Adding a kind: one `Kind(...)` below (and a posting rule in shared.domain.ledger.rules if its legs are
new), the partner plugin that produces it, and its row in docs/ledger.md (tests/unit/test_kinds.py
checks that the row is there).

`rule` names and `transaction` scopes are part of every transaction id the kind ever produced (I3):
never rename one; a changed rule is a new name (".v2").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from shared.domain.ledger import rules
from shared.domain.ledger.ids import transaction_id
from shared.domain.ledger.rules import Legs

if TYPE_CHECKING:
    from shared.domain.events import CanonicalEvent

Books = Literal["post", "hold", "capture", "void", "reverse"]
Index = Literal["payment", "withdrawal"]
# Who acts on a kind's events: "ledger" posts them; "payments" (the payments function) advances the
# payout, pay-in or refund the partner's webhook is about (its ledger effect is booked there, by the
# payments domain's own rules). Published as the `consumer` attribute: the payments function's push
# subscription filters on it (topology), and the ledger records a payments event without posting it.
Consumer = Literal["ledger", "payments"]
CONSUMERS: tuple[str, ...] = ("ledger", "payments")
# the optional CanonicalEvent fields a kind may require (shared.domain.events checks they exist)
OPTIONAL_FIELDS = (
    "customer", "payment_reference", "bank", "expires_at", "dispute_status", "our_reference", "outcome_code",
)  # fmt: skip


class KindError(ValueError):
    """A kind declared with a missing or inconsistent piece (raised at import, by `build`)."""


@dataclass(frozen=True)
class Recon:
    """How reconciliation counts a kind's postings: the record frame's kind, and the signs of its amount
    and fee from the partner balance's point of view (shared.reconciliation.frame.RECORD_SCHEMA)."""

    kind: str
    sign: int
    fee_sign: int = 1


@dataclass(frozen=True)
class BankLine:
    """How the bank side reconciles a kind posted on bank:<bank>:operating without a partner payout:
    the bank line class that explains it (shared.reconciliation.bank_codes) and its sign on the bank
    account (+ money in)."""

    line_class: str
    sign: int


@dataclass(frozen=True)
class Kind:
    """One canonical event kind.

    books: what the ledger does with it: "post" / "hold" the legs of `legs` (a posting rule, which may
      return None: nothing moves for that event); "capture" / "void" the hold, or "reverse" the
      transaction, of the `target` kind for the same reference (parked until that has posted); None:
      it moves no money (recorded only).
    transaction: None = one transaction per partner event; a scope ("payout") = one per
      (partner, scope:reference), whichever event reports it: what a `target` needs.
    requires: optional CanonicalEvent fields it must carry. zero_amount: amount 0 is valid.
    fee_on_top: the fee is charged on top of the amount (may exceed it), not taken out of it.
    indexes: what its posting indexes for later events ("payment": the payment's customer by its
      references; "withdrawal": the dispute's withdrawal). waits_for: the indexes it reads ("payment":
      its customer is the payment's when the partner names none; "withdrawal": parked until the
      dispute's withdrawal has posted).
    dispute: kept on the Dispute record (shared.ledger.disputes); dispute_status: the status it stands
      for, for partners that send no status; legacy_dispute: a Stripe posting superseded by the dispute
      lifecycle (shared.ledger.dispute_lifecycle.settle_legacy).
    recon / bank: how reconciliation counts its postings (None: it does not).
    consumer: who acts on it (CONSUMERS above); a "payments" kind books nothing in the ledger and
      carries our_reference (the id ledgerline gave the partner).
    """

    name: str
    meaning: str
    rule: str
    books: Books | None
    legs: Callable[[CanonicalEvent], Legs | None] | None = None
    target: str | None = None
    transaction: str | None = None
    requires: tuple[str, ...] = ()
    zero_amount: bool = False
    fee_on_top: bool = False
    indexes: Index | None = None
    waits_for: tuple[Index, ...] = ()
    dispute: bool = False
    dispute_status: str | None = None
    legacy_dispute: bool = False
    recon: Recon | None = None
    bank: BankLine | None = None
    consumer: Consumer = "ledger"

    def transaction_id(self, event: CanonicalEvent) -> str:
        """I3: the transaction this kind's event posts as (deterministic: a redelivery maps onto it)."""
        if self.transaction is not None:
            return self.reference_transaction_id(event.partner, event.reference)
        return transaction_id(event.partner, event.partner_event_id, self.rule)

    def reference_transaction_id(self, partner: str, reference: str) -> str:
        """The one transaction of a scoped kind for a partner's reference (what its followers target)."""
        if self.transaction is None:
            raise KindError(f"{self.name}: one transaction per event, not per reference")
        return transaction_id(partner, f"{self.transaction}:{reference}", self.rule)


_NAME = re.compile(r"^[a-z]+(\.[a-z_]+)+$")
_RULE = re.compile(r"^[a-z_]+\.v[0-9]+$")


def build(kinds: Iterable[Kind]) -> tuple[Kind, ...]:
    """The registry, after checking every kind is complete and consistent (KindError otherwise)."""
    kinds = tuple(kinds)
    by_name = {k.name: k for k in kinds}
    problems = []
    if len(by_name) != len(kinds):
        problems.append("a kind is declared twice")
    if len({k.rule for k in kinds}) != len(kinds):
        problems.append("two kinds share a rule (the rule is part of the transaction id)")
    indexed = {k.indexes for k in kinds if k.indexes}
    problems += [f"{k.name}: {problem}" for k in kinds for problem in _problems(k, by_name, indexed)]
    if problems:
        raise KindError("; ".join(problems))
    return kinds


def _problems(k: Kind, by_name: dict[str, Kind], indexed: set[str]) -> Iterator[str]:
    if not _NAME.match(k.name):
        yield "the name is not <family>.<event>"
    if not _RULE.match(k.rule):
        yield "the rule is not <name>.v<n>"
    if not k.meaning.strip():
        yield "no meaning"
    if k.books not in (None, "post", "hold", "capture", "void", "reverse"):
        yield f"books {k.books!r}"
    if (k.books in ("post", "hold")) != (k.legs is not None):
        yield "a posting rule (legs) goes with books post/hold, and only there"
    if (k.books in ("capture", "void", "reverse")) != (k.target is not None):
        yield "a target kind goes with books capture/void/reverse, and only there"
    target = by_name.get(k.target) if k.target else None
    if k.target and target is None:
        yield f"its target {k.target!r} is not a declared kind"
    if target is not None and target.transaction is None:
        yield f"its target {target.name} has one transaction per event: no id to aim at"
    if target is not None and k.books in ("capture", "void") and target.books != "hold":
        yield f"captures or voids {target.name}, which is not a hold"
    if target is not None and k.books == "reverse" and target.books != "post":
        yield f"reverses {target.name}, which does not post"
    if k.transaction is not None and k.books not in ("post", "hold"):
        yield "a transaction scope on a kind that books no legs"
    if k.books == "hold" and "expires_at" not in k.requires:
        yield "a hold requires expires_at"
    if not set(k.requires) <= set(OPTIONAL_FIELDS):
        yield f"requires what is no optional CanonicalEvent field: {sorted(set(k.requires) - set(OPTIONAL_FIELDS))}"
    if k.indexes is not None and k.books is None:
        yield "indexes something without posting"
    if not set(k.waits_for) <= indexed:
        yield f"waits for an index no kind writes: {sorted(set(k.waits_for) - indexed)}"
    if k.dispute_status is not None and not k.dispute:
        yield "a dispute status on a kind that is no dispute"
    if k.legacy_dispute and k.dispute_status is None:
        yield "a legacy dispute kind without the status it stands for"
    signs = ((k.recon.sign, k.recon.fee_sign) if k.recon else ()) + ((k.bank.sign,) if k.bank else ())
    if any(s not in (1, -1) for s in signs):
        yield "a sign other than +1 / -1"
    if k.recon is not None and k.bank is not None:
        yield "reconciled on the partner side and the bank side"
    if k.consumer not in CONSUMERS:
        yield f"consumer {k.consumer!r}"
    if k.consumer == "payments" and (k.books is not None or k.recon or k.bank or "our_reference" not in k.requires):
        yield "a payments kind books nothing in the ledger and requires our_reference"


KINDS: tuple[Kind, ...] = build(
    (
        Kind(
            "payment.captured",
            "money received for a customer, net of the partner's fee",
            "payment_captured.v1",
            "post",
            rules.payment_captured,
            indexes="payment",
            recon=Recon("payment", 1),
        ),
        Kind(
            "payment.refunded",
            "(partial) refund of a captured payment",
            "payment_refunded.v1",
            "post",
            rules.wallet_to_clearing,
            waits_for=("payment",),
            recon=Recon("refund", -1),
        ),
        Kind(
            "dispute.opened",
            "partner withdrew disputed funds (Adyen CHARGEBACK, generic partners)",
            "dispute_opened.v1",
            "post",
            rules.wallet_to_clearing,
            waits_for=("payment",),
            dispute=True,
            dispute_status="opened",
            legacy_dispute=True,
            recon=Recon("dispute", -1),
        ),
        Kind(
            "dispute.won",
            "disputed funds returned",
            "dispute_won.v1",
            "post",
            rules.clearing_to_wallet,
            waits_for=("payment",),
            dispute=True,
            dispute_status="won",
            legacy_dispute=True,
            recon=Recon("dispute_won", 1),
        ),
        Kind(
            "dispute.lost",
            "dispute closed against us (funds stay withdrawn; fee, if any, charged)",
            "dispute_lost.v1",
            "post",
            rules.dispute_lost,
            zero_amount=True,
            waits_for=("payment",),
            dispute=True,
            dispute_status="lost",
            # not reconciled: its money already left at dispute.opened
        ),
        Kind(
            "dispute.status",
            "a dispute's status as a partner reported it (inquiries too): recorded, moves no money",
            "dispute_status.v1",
            None,
            requires=("dispute_status", "payment_reference"),
            zero_amount=True,
            dispute=True,
        ),
        Kind(
            "dispute.funds_withdrawn",
            "one balance transaction withdrawing disputed funds (+ dispute fee on top)",
            "dispute_funds_withdrawn.v1",
            "post",
            rules.dispute_funds_withdrawn,
            requires=("payment_reference",),
            fee_on_top=True,
            indexes="withdrawal",
            waits_for=("payment",),
            dispute=True,
            recon=Recon("dispute", -1),  # Stripe: one per balance transaction (fee = dispute fee)
        ),
        Kind(
            "dispute.funds_reinstated",
            "one balance transaction returning them (+ the dispute fee, if refunded)",
            "dispute_funds_reinstated.v1",
            "post",
            rules.dispute_funds_reinstated,
            requires=("payment_reference",),
            fee_on_top=True,
            waits_for=("withdrawal", "payment"),
            dispute=True,
            # the frame's fee is what the partner kept: a refunded dispute fee is a fee given back, as
            # Stripe's report writes it (fee -15.00, net = A + F)
            recon=Recon("dispute_won", 1, fee_sign=-1),
        ),
        Kind(
            "payout.paid",
            "partner paid clearing funds out to our bank account",
            "payout_paid.v1",
            "post",
            rules.payout_paid,
            transaction="payout",  # one per payout, whichever event reports it paid (its failure reverses it)
            requires=("bank",),
            recon=Recon("payout", -1),
        ),
        Kind(
            "payout.failed",
            "a paid-out payout bounced back to clearing",
            "payout_failed.v1",
            "reverse",
            target="payout.paid",
            requires=("bank",),
            recon=Recon("payout_failed", 1),
        ),
        Kind(
            "ach.credit.received",
            "incoming ACH credit for a customer at our bank",
            "ach_credit_received.v1",
            "post",
            rules.bank_to_wallet,
            requires=("bank", "customer"),
            bank=BankLine("ach_credit", 1),
        ),
        Kind(
            "ach.credit.returned",
            "that credit was returned",
            "ach_credit_returned.v1",
            "post",
            rules.wallet_to_bank,
            requires=("bank", "customer"),
            bank=BankLine("ach_return", -1),
        ),
        Kind(
            "ach.debit.sent",
            "outgoing ACH transfer from a customer's wallet completed",
            "ach_debit_sent.v1",
            "post",
            rules.wallet_to_bank,
            requires=("bank", "customer"),
            bank=BankLine("ach_debit", -1),
        ),
        Kind(
            "ach.debit.returned",
            "that outgoing transfer came back",
            "ach_debit_returned.v1",
            "post",
            rules.bank_to_wallet,
            requires=("bank", "customer"),
            bank=BankLine("ach_return", 1),
        ),
        Kind(
            "authorization.created",
            "a hold: funds authorised, not yet captured",
            "hold.v1",
            "hold",
            rules.authorization,
            transaction="authorization",  # one hold per authorization: its capture and void aim at it
            requires=("expires_at",),
            indexes="payment",
        ),
        Kind(
            "authorization.captured",
            "hold captured, fully or partially (amount = captured)",
            "hold_capture.v1",
            "capture",
            target="authorization.created",
            recon=Recon("payment", 1),
        ),
        Kind(
            "authorization.voided",
            "hold released",
            "hold_void.v1",
            "void",
            target="authorization.created",
            zero_amount=True,
        ),
        # Outcomes of what ledgerline itself asked a partner to do (the payments function acts on them;
        # our_reference is the payout attempt's idempotency key, the pay-in's or the refund's id).
        Kind(
            "bank.transfer_settled",
            "our outgoing ACH transfer (a payout attempt) settled at the bank",
            "bank_transfer_settled.v1",
            None,
            requires=("our_reference",),
            consumer="payments",
        ),
        Kind(
            "bank.transfer_returned",
            "our outgoing ACH transfer came back (outcome_code: its R-code)",
            "bank_transfer_returned.v1",
            None,
            requires=("our_reference", "outcome_code"),
            consumer="payments",
        ),
        Kind(
            "bank.transfer_rejected",
            "the bank rejected or canceled our outgoing transfer before it settled",
            "bank_transfer_rejected.v1",
            None,
            requires=("our_reference",),
            consumer="payments",
        ),
        Kind(
            "processor.payment_succeeded",
            "our pay-in (a PaymentIntent we created) succeeded",
            "processor_payment_succeeded.v1",
            None,
            requires=("our_reference",),
            consumer="payments",
        ),
        Kind(
            "processor.payment_failed",
            "our pay-in failed (outcome_code: the decline code)",
            "processor_payment_failed.v1",
            None,
            requires=("our_reference",),
            zero_amount=True,
            consumer="payments",
        ),
        Kind(
            "processor.charge_refunded",
            "the charge of our pay-in was refunded (amount: its total refunded so far), by us or outside ledgerline",
            "processor_charge_refunded.v1",
            None,
            requires=("our_reference",),
            consumer="payments",
        ),
        Kind(
            "processor.refund_succeeded",
            "our refund of a pay-in succeeded",
            "processor_refund_succeeded.v1",
            None,
            requires=("our_reference",),
            consumer="payments",
        ),
        Kind(
            "processor.refund_failed",
            "our refund of a pay-in failed",
            "processor_refund_failed.v1",
            None,
            requires=("our_reference",),
            zero_amount=True,
            consumer="payments",
        ),
    )
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
EventKind = Literal[NAMES]  # type: ignore[valid-type]  # the pydantic field type of CanonicalEvent.kind


def indexing(index: Index) -> tuple[str, ...]:
    """The kinds whose posting writes this index."""
    return tuple(k.name for k in KINDS if k.indexes == index)


def waiting_for(index: Index) -> tuple[str, ...]:
    """The kinds that read this index (and park while it is missing)."""
    return tuple(k.name for k in KINDS if index in k.waits_for)


# what parked events wait for: a kind another one targets, or whose posting writes an index
PREDECESSOR_KINDS: tuple[str, ...] = tuple(
    k.name for k in KINDS if k.indexes or any(other.target == k.name for other in KINDS)
)


def reconciled_by(line_class: str) -> tuple[str, ...]:
    """The kinds a bank line class reconciles against (shared.reconciliation.bank_codes)."""
    return tuple(k.name for k in KINDS if k.bank and k.bank.line_class == line_class)
