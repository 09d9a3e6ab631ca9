"""The event-kind registry (shared.domain.kinds): a kind missing a piece fails when the registry is built,
and the tables derived from it are the ones the modules used to spell out by hand."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from shared.domain import kinds
from shared.domain.events import FEE_ON_TOP, REQUIRED_FIELDS
from shared.domain.kinds import BankLine, Kind, KindError, Recon, build
from shared.domain.ledger import rules
from shared.domain.ledger.ids import transaction_id
from shared.domain.ledger.operations import POSTING_RULES, hold_id, payout_id
from shared.ledger import dispute_lifecycle, disputes, parking, posting
from shared.reconciliation import bank_codes, ledger_side

HOLD = Kind("hold.created", "a hold", "hold.v1", "hold", rules.authorization, transaction="h", requires=("expires_at",))
CAPTURE = Kind("hold.captured", "its capture", "hold_capture.v1", "capture", target="hold.created")


def test_the_registry_builds_from_consistent_kinds():
    assert build((HOLD, CAPTURE)) == (HOLD, CAPTURE)


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ((HOLD, replace(CAPTURE, target=None)), "a target kind goes with books capture/void/reverse"),
        ((HOLD, replace(CAPTURE, target="hold.missing")), "is not a declared kind"),
        ((replace(HOLD, transaction=None), CAPTURE), "one transaction per event: no id to aim at"),
        ((replace(HOLD, books="post", legs=rules.payment_captured), CAPTURE), "which is not a hold"),
        ((replace(HOLD, legs=None), CAPTURE), "a posting rule (legs) goes with books post/hold"),
        ((replace(HOLD, requires=()), CAPTURE), "a hold requires expires_at"),
        ((HOLD, replace(CAPTURE, legs=rules.payment_captured)), "a posting rule (legs) goes with books post/hold"),
        ((HOLD, replace(CAPTURE, waits_for=("payment",))), "waits for an index no kind writes"),
        ((HOLD, replace(CAPTURE, requires=("colour",))), "no optional CanonicalEvent field"),
        ((HOLD, replace(CAPTURE, rule="hold.v1")), "two kinds share a rule"),
        ((HOLD, replace(CAPTURE, name="hold.created", rule="x.v1")), "declared twice"),
        ((HOLD, replace(CAPTURE, rule="capture")), "the rule is not <name>.v<n>"),
        ((HOLD, replace(CAPTURE, dispute_status="won")), "a dispute status on a kind that is no dispute"),
        ((HOLD, replace(CAPTURE, recon=Recon("payment", 2))), "a sign other than +1 / -1"),
        ((HOLD, replace(CAPTURE, recon=Recon("payment", 1), bank=BankLine("ach_credit", 1))), "and the bank side"),
        ((replace(HOLD, consumer="payments"), CAPTURE), "a payments kind books nothing in the ledger"),
        ((HOLD, CAPTURE, Kind("bank.x", "x", "x.v1", None, consumer="payments")), "requires our_reference"),
        ((HOLD, replace(CAPTURE, consumer="billing")), "consumer 'billing'"),
    ],
)
def test_a_kind_with_a_missing_or_inconsistent_piece_fails_when_the_registry_is_built(declared, problem):
    with pytest.raises(KindError, match=re.escape(problem)):
        build(declared)


def test_the_derived_tables_are_the_ones_the_modules_declared_before_the_registry():
    ledger_kinds = {k.name for k in kinds.KINDS if k.consumer == "ledger"}
    assert {name: fields for name, fields in REQUIRED_FIELDS.items() if name in ledger_kinds} == {
        "payment.captured": (),
        "payment.refunded": (),
        "dispute.opened": (),
        "dispute.won": (),
        "dispute.lost": (),
        "dispute.status": ("dispute_status", "payment_reference"),
        "dispute.funds_withdrawn": ("payment_reference",),
        "dispute.funds_reinstated": ("payment_reference",),
        "payout.paid": ("bank",),
        "payout.failed": ("bank",),
        "ach.credit.received": ("bank", "customer"),
        "ach.credit.returned": ("bank", "customer"),
        "ach.debit.sent": ("bank", "customer"),
        "ach.debit.returned": ("bank", "customer"),
        "authorization.created": ("expires_at",),
        "authorization.captured": (),
        "authorization.voided": (),
    }
    assert FEE_ON_TOP == ("dispute.funds_withdrawn", "dispute.funds_reinstated")
    assert {k.name for k in kinds.KINDS if k.zero_amount and k.consumer == "ledger"} == {
        "dispute.lost",
        "dispute.status",
        "authorization.voided",
    }
    assert {kind: rule for kind, (rule, _) in POSTING_RULES.items() if kind in ledger_kinds} == {
        "payment.captured": "payment_captured.v1",
        "payment.refunded": "payment_refunded.v1",
        "dispute.opened": "dispute_opened.v1",
        "dispute.won": "dispute_won.v1",
        "dispute.lost": "dispute_lost.v1",
        "dispute.status": "dispute_status.v1",
        "dispute.funds_withdrawn": "dispute_funds_withdrawn.v1",
        "dispute.funds_reinstated": "dispute_funds_reinstated.v1",
        "payout.paid": "payout_paid.v1",
        "payout.failed": "payout_failed.v1",
        "ach.credit.received": "ach_credit_received.v1",
        "ach.credit.returned": "ach_credit_returned.v1",
        "ach.debit.sent": "ach_debit_sent.v1",
        "ach.debit.returned": "ach_debit_returned.v1",
        "authorization.created": "hold.v1",
        "authorization.captured": "hold_capture.v1",
        "authorization.voided": "hold_void.v1",
    }
    assert set(parking.PREDECESSOR_KINDS) == {
        "authorization.created",
        "payment.captured",
        "payout.paid",
        "dispute.funds_withdrawn",
    }
    assert set(posting.NEEDS_PAYMENT_OWNER) == {
        "dispute.opened",
        "dispute.won",
        "dispute.lost",
        "dispute.funds_withdrawn",
        "dispute.funds_reinstated",
        "payment.refunded",
    }
    assert set(parking.PAYMENT_INDEX_KINDS) == {"payment.captured", "authorization.created"}
    assert parking.WITHDRAWAL_KINDS == ("dispute.funds_withdrawn",)
    assert dispute_lifecycle.AFTER_WITHDRAWAL == ("dispute.funds_reinstated",)
    assert dispute_lifecycle.LEGACY_KINDS == {"dispute.opened": "opened", "dispute.won": "won"}
    assert set(disputes.DISPUTE_KINDS) == {
        "dispute.status",
        "dispute.funds_withdrawn",
        "dispute.funds_reinstated",
        "dispute.opened",
        "dispute.won",
        "dispute.lost",
    }
    assert ledger_side.LEDGER_KINDS == {
        "payment.captured": ("payment", 1),
        "authorization.captured": ("payment", 1),
        "payment.refunded": ("refund", -1),
        "dispute.opened": ("dispute", -1),
        "dispute.won": ("dispute_won", 1),
        "dispute.funds_withdrawn": ("dispute", -1),
        "dispute.funds_reinstated": ("dispute_won", 1),
        "payout.paid": ("payout", -1),
        "payout.failed": ("payout_failed", 1),
        "fee.booked": ("fee", -1),
    }
    assert ledger_side.FEE_SIGNS == {"dispute.funds_reinstated": -1}
    assert ledger_side.BANK_LEDGER_KINDS == {
        "ach.credit.received": ("ach_credit", 1),
        "ach.debit.sent": ("ach_debit", -1),
        "ach.debit.returned": ("ach_return", 1),
        "ach.credit.returned": ("ach_return", -1),
    }
    assert bank_codes.LEDGER_KIND_CLASS == {k: c for k, (c, _) in ledger_side.BANK_LEDGER_KINDS.items()}


def test_scoped_transaction_ids_are_the_ones_stored_data_carries():
    assert hold_id("stripe", "pi_1") == transaction_id("stripe", "authorization:pi_1", "hold.v1")
    assert payout_id("stripe", "po_1") == transaction_id("stripe", "payout:po_1", "payout_paid.v1")


def test_every_kind_has_its_row_in_the_posting_rules_of_docs_ledger_md():
    doc = (Path(__file__).parents[2] / "docs" / "ledger.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    for kind in kinds.KINDS:
        assert any(f"`{kind.name}`" in row and f"`{kind.rule}`" in row for row in rows), kind.name


def test_payments_kinds_book_nothing_in_the_ledger_and_carry_our_reference():
    payments = [k for k in kinds.KINDS if k.consumer == "payments"]
    assert {k.name for k in payments} >= {"bank.transfer_settled", "bank.transfer_returned", "processor.refund_failed"}
    assert all(k.books is None and "our_reference" in k.requires for k in payments)
    assert all(POSTING_RULES[k.name][1] is None for k in payments)  # no legs: nothing to post
