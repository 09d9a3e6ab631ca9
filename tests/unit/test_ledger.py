"""The ledger engine on the in-memory store (same transaction semantics as Datastore)."""

import functools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory_store import MemoryStore
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.accounts import SHARDS, account_type, shard_for
from shared.domain.ledger.audit import audit
from shared.domain.ledger.engine import entries_of
from shared.domain.ledger.errors import InvariantViolation, UnknownAccount
from shared.domain.ledger.ids import event_hash, transaction_id
from shared.domain.ledger.model import Entry, JournalTransaction, Leg, Operation, unbalanced
from shared.domain.ledger.operations import hold_id, journal_for, operation_for
from shared.domain.money import EXPONENTS, MAX_AMOUNT
from shared.ledger import balances as ledger_balances
from shared.ledger import parking, transactions
from shared.ledger.balances import balance_as_of, balances
from shared.ledger.store import LEDGER_KINDS, LedgerConflict
from shared.ledger.transactions import execute
from tests.factories import canonical_event, post_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def ev(kind="payment.captured", n=1, amount=1000, fee=0, customer="cus_A", currency="USD", reference=None, **extra):
    return canonical_event(
        kind,
        f"evt_{kind}_{n}",
        at=extra.pop("occurred_at", T0),
        received_at=T0,
        customer=customer,
        amount=amount,
        fee=fee,
        currency=currency,
        reference=reference or f"pi_{n}",
        **extra,
    )


def run(store, event, at=T0 + timedelta(minutes=1)):
    return execute(store, operation_for(event), clock=lambda: at)


def wallet(store, customer="cus_A", currency="USD"):
    return balances(store, f"customer:{customer}:wallet").get(currency)


def sound(store):
    problems = audit(store.snapshot(LEDGER_KINDS))
    assert problems == [], problems


events = st.builds(
    ev,
    kind=st.just("payment.captured"),
    n=st.integers(0, 10**6),
    amount=st.integers(min_value=1, max_value=MAX_AMOUNT),
    customer=st.one_of(st.none(), st.from_regex(r"cus_[A-Za-z0-9]{1,10}", fullmatch=True)),
    currency=st.sampled_from(sorted(EXPONENTS)),
)


@given(events)
def test_every_journal_balances_per_currency_and_is_deterministic(event):
    journal = journal_for(event)
    assert unbalanced(journal.entries) == {}
    assert journal == journal_for(event.model_copy(update={"received_at": datetime.now(tz=UTC)}))
    assert journal.transaction_id == transaction_id("stripe", event.partner_event_id, journal.rule)


def test_payment_with_fee_posts_net_to_clearing_and_fee_to_expense():
    legs = {(e.account, e.direction, e.amount) for e in journal_for(ev(amount=10_000, fee=320)).entries}
    assert legs == {
        ("partner:stripe:clearing", "debit", 9680),
        ("fees:stripe", "debit", 320),
        ("customer:cus_A:wallet", "credit", 10_000),
    }


@pytest.mark.parametrize(
    ("kind", "extra", "debit", "credit"),
    [
        ("payment.refunded", {}, "customer:cus_A:wallet", "partner:stripe:clearing"),
        ("dispute.opened", {}, "customer:cus_A:wallet", "partner:stripe:clearing"),
        ("dispute.won", {}, "partner:stripe:clearing", "customer:cus_A:wallet"),
        ("payout.paid", {"bank": "column"}, "bank:column:operating", "partner:stripe:clearing"),
        ("ach.credit.received", {"bank": "column"}, "bank:column:operating", "customer:cus_A:wallet"),
        ("ach.credit.returned", {"bank": "column"}, "customer:cus_A:wallet", "bank:column:operating"),
    ],
)
def test_posting_rules(kind, extra, debit, credit):
    legs = {(e.account, e.direction, e.amount) for e in journal_for(ev(kind, amount=700, **extra)).entries}
    assert legs == {(debit, "debit", 700), (credit, "credit", 700)}


def test_dispute_lost_moves_only_its_fee():
    assert operation_for(ev("dispute.lost", amount=0)) is None
    legs = {(e.account, e.direction, e.amount) for e in journal_for(ev("dispute.lost", amount=1500, fee=1500)).entries}
    assert legs == {("fees:stripe", "debit", 1500), ("partner:stripe:clearing", "credit", 1500)}


@pytest.mark.parametrize(
    ("kind", "legs"),
    [
        (
            "dispute.funds_withdrawn",
            {
                ("customer:cus_A:wallet", "debit", 700),
                ("fees:stripe", "debit", 1500),
                ("partner:stripe:clearing", "credit", 2200),
            },
        ),
        (
            "dispute.funds_reinstated",
            {
                ("partner:stripe:clearing", "debit", 2200),
                ("customer:cus_A:wallet", "credit", 700),
                ("fees:stripe", "credit", 1500),
            },
        ),
    ],
)
def test_dispute_funds_move_the_amount_with_the_wallet_and_the_fee_on_top(kind, legs):
    """A dispute fee is charged on top of the disputed amount (it may exceed it), not inside it."""
    event = ev(kind, amount=700, fee=1500, payment_reference="pi_1")
    assert {(e.account, e.direction, e.amount) for e in journal_for(event).entries} == legs
    no_fee = {(e.account, e.direction, e.amount) for e in journal_for(ev(kind, payment_reference="pi_1")).entries}
    assert len(no_fee) == 2 and not any(account == "fees:stripe" for account, _, _ in no_fee)


def test_a_dispute_status_moves_no_money_and_only_it_carries_a_status():
    status = ev("dispute.status", amount=700, dispute_status="warning_needs_response", payment_reference="pi_1")
    assert operation_for(status) is None and journal_for(status) is None
    with pytest.raises(ValueError, match="dispute_status"):
        ev("payment.captured", dispute_status="won")
    with pytest.raises(ValueError, match="fee cannot exceed amount"):
        ev("payment.captured", amount=700, fee=1500)  # a payment's fee stays within its amount


def test_events_stored_before_dispute_status_existed_keep_their_hash():
    """event_hash must not change for events without the new field: a redelivery of an event posted
    before it existed is replayed, not a Conflict."""
    import hashlib

    event = ev()
    # the fields added after events were stored (dispute_status, then the cross-currency unbooked fee)
    before = event.model_dump(
        mode="json", exclude={"received_at", "dispute_status", "unbooked_fee", "unbooked_fee_currency"}
    )
    expected = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert event_hash(event) == expected
    status = ev("dispute.status", dispute_status="won", payment_reference="pi_1")
    assert event_hash(status) != event_hash(status.model_copy(update={"dispute_status": "lost"}))


def test_redelivery_replays_and_conflict_is_recorded_never_applied():
    store = MemoryStore()
    assert run(store, ev()).status == "posted"
    assert run(store, ev()).status == "replayed"
    with pytest.raises(LedgerConflict):
        run(store, ev(amount=1001))
    assert wallet(store).posted == 1000
    assert len(store.data["Conflict"]) == 1
    sound(store)


def test_unbalanced_transaction_is_refused():
    with pytest.raises(InvariantViolation):
        JournalTransaction(
            "t",
            "r",
            "e",
            "stripe",
            "h",
            (
                Entry("t:0", "t", 0, "suspense", "USD", 0, "credit", 100),
                Entry("t:1", "t", 1, "partner:stripe:clearing", "USD", 0, "debit", 99),
            ),
        )
    store = MemoryStore()
    op = Operation(
        "t",
        "post",
        "r",
        "e",
        "stripe",
        "h",
        T0,
        legs=(Leg("suspense", "credit", 100, "USD"), Leg("partner:stripe:clearing", "debit", 100, "EUR")),
    )
    with pytest.raises(InvariantViolation):  # balanced in total but not per currency
        execute(store, op)
    assert store.data["JournalTransaction"] == {}


@pytest.mark.parametrize("amount", [0, -1, 1.0, True, MAX_AMOUNT + 1])
def test_entry_amount_must_be_positive_int(amount):
    with pytest.raises(InvariantViolation):
        Entry("t:0", "t", 0, "suspense", "USD", 0, "credit", amount)


@pytest.mark.parametrize(
    ("account", "kind"),
    [
        ("partner:stripe:clearing", "asset"),
        ("customer:cus_1:wallet", "liability"),
        ("fees:stripe", "expense"),
        ("bank:column:operating", "asset"),
        ("suspense", "liability"),
        ("fx:usd_eur", "equity"),
    ],
)
def test_chart_of_accounts_naming_rules(account, kind):
    assert account_type(account) == kind


@pytest.mark.parametrize("account", ["customer:cus_1", "customer::wallet", "wallet", "customer:a b:wallet", ""])
def test_unknown_account_names_are_refused(account):
    with pytest.raises(UnknownAccount):
        account_type(account)


def test_fx_conversion_balances_per_currency_through_fx_accounts():
    store = MemoryStore()
    run(store, ev(amount=10_000))
    op = Operation(
        "txn_fx1",
        "post",
        "fx.v1",
        "op:fx1",
        "ledgerline",
        "h",
        T0,
        enforce_constraints=True,
        legs=(
            Leg("customer:cus_A:wallet", "debit", 10_000, "USD"),
            Leg("fx:usd_eur", "credit", 10_000, "USD"),
            Leg("fx:usd_eur", "debit", 9_200, "EUR"),
            Leg("customer:cus_A:wallet", "credit", 9_200, "EUR"),
        ),
    )
    assert execute(store, op).status == "posted"
    assert (wallet(store).posted, wallet(store, currency="EUR").posted) == (0, 9_200)
    sound(store)


def transfer(op_id, amount, source="customer:cus_A:wallet", target="customer:cus_B:wallet"):
    return Operation(
        op_id,
        "post",
        "transfer.v1",
        f"api:{op_id}",
        "api",
        f"h{amount}",
        T0,
        enforce_constraints=True,
        legs=(Leg(source, "debit", amount, "USD"), Leg(target, "credit", amount, "USD")),
    )


def test_overdraft_is_rejected_atomically_and_recorded():
    store = MemoryStore()
    run(store, ev(amount=500))
    before = store.snapshot(LEDGER_KINDS)
    result = execute(store, transfer("txn_t1", 501))
    assert (result.status, result.reason) == ("rejected", "insufficient_funds")
    after = store.snapshot(LEDGER_KINDS)
    assert {k: v for k, v in after.items() if k != "Rejection"} == {k: v for k, v in before.items() if k != "Rejection"}
    assert after["Rejection"]["txn_t1"]["code"] == "insufficient_funds"
    assert execute(store, transfer("txn_t2", 500)).status == "posted"
    assert wallet(store).available == 0
    sound(store)


def test_credit_limit_allows_going_negative_down_to_the_limit():
    store = MemoryStore()
    run(store, ev(amount=100))
    store.data["Account"]["customer:cus_A:wallet|USD|0"]["credit_limit"] = 50
    assert execute(store, transfer("txn_t1", 151)).status == "rejected"
    assert execute(store, transfer("txn_t2", 150)).status == "posted"
    assert wallet(store).posted == -50


def test_partner_facts_are_recorded_even_when_they_overdraw():
    store = MemoryStore()
    run(store, ev(amount=100))
    assert run(store, ev("dispute.opened", n=2, amount=300)).status == "posted"  # the money did leave
    assert wallet(store).posted == -200


def test_reversal_is_linked_and_happens_at_most_once():
    store = MemoryStore()
    original = run(store, ev(amount=1000)).transaction_id
    rev = Operation("txn_rev1", "reverse", "reversal.v1", "op:rev1", "ledgerline", "r", T0, target=original)
    assert execute(store, rev).status == "posted"
    assert store.data["Reversal"][original]["reversal_id"] == "txn_rev1"
    assert store.data["JournalTransaction"]["txn_rev1"]["target"] == original
    again = Operation("txn_rev2", "reverse", "reversal.v1", "op:rev2", "ledgerline", "r", T0, target=original)
    assert execute(store, again).reason == "already_reversed"
    assert wallet(store).posted == 0
    sound(store)


def test_hot_system_accounts_are_sharded_customer_wallets_are_not():
    assert {shard_for("partner:stripe:clearing", salt) for salt in range(200)} == set(range(SHARDS))
    assert {shard_for("customer:cus_A:wallet", salt) for salt in range(200)} == {0}
    store = MemoryStore()
    for i in range(40):
        vars(transactions._affinity).pop("salt", None)  # as if 40 different writers
        run(store, ev(n=i, amount=10))
    clearing = balances(store, "partner:stripe:clearing")["USD"]
    assert clearing.posted == 400  # the sum over shards is exact
    assert len([k for k in store.data["Account"] if k.startswith("partner:stripe:clearing|")]) > 1
    sound(store)


def test_entries_record_resulting_balance_and_version_and_as_of_both_clocks():
    store = MemoryStore()
    run(store, ev(n=1, amount=100, occurred_at=T0), at=T0 + timedelta(hours=1))
    run(store, ev(n=2, amount=50, occurred_at=T0 - timedelta(days=1)), at=T0 + timedelta(hours=2))  # late arrival
    entries = sorted(
        (
            e
            for t in store.data["JournalTransaction"].values()
            for e in entries_of(t)
            if e["account"] == "customer:cus_A:wallet"
        ),
        key=lambda e: e["account_version"],
    )
    # resulting = [debits_posted, credits_posted, debits_pending, credits_pending] after the entry
    assert [(e["account_version"], e["resulting"][1]) for e in entries] == [(1, 100), (2, 150)]
    acct = "customer:cus_A:wallet"
    assert balance_as_of(store, acct, T0 + timedelta(minutes=90))["USD"].posted == 100  # what we knew then
    assert balance_as_of(store, acct, T0 - timedelta(hours=1), clock="effective")["USD"].posted == 50
    assert balance_as_of(store, acct, T0 + timedelta(hours=3))["USD"].posted == 150


def test_audit_reports_tampering_at_its_first_divergence():
    store = MemoryStore()
    for i in range(5):
        run(store, ev(n=i, amount=100 + i))
    sound(store)
    victim = next(iter(store.data["JournalTransaction"].values()))
    entries = entries_of(victim)
    entries[0]["amount"] += 1  # someone edits a stored entry
    victim["entries"] = json.dumps(entries)
    checks = {p["check"] for p in audit(store.snapshot(LEDGER_KINDS))}
    assert {"chain", "transaction_balanced", "account_equals_entries"} <= checks


def test_event_hash_changes_with_money_not_with_receipt_time():
    h = event_hash(ev())
    assert h == event_hash(ev().model_copy(update={"received_at": datetime.now(tz=UTC)}))
    assert h != event_hash(ev(amount=1001))


def test_batch_posts_many_in_one_transaction_and_isolates_a_rejection():
    from bench.batch import execute_batch

    store = MemoryStore()
    ops = [operation_for(ev(n=i, amount=100)) for i in range(10)]
    results = execute_batch(store, [*ops, ops[0]])  # a duplicate inside the batch replays
    assert [r.status for r in results] == ["posted"] * 10 + ["replayed"]
    mixed = [operation_for(ev(n=50, amount=5)), transfer("txn_too_much", 10**6), operation_for(ev(n=51, amount=7))]
    results = execute_batch(store, mixed)
    assert [(r.status, r.reason) for r in results] == [
        ("posted", None),
        ("rejected", "insufficient_funds"),
        ("posted", None),
    ]
    assert wallet(store).posted == 1012
    sound(store)


def test_expiry_sweep_releases_only_due_unresolved_holds_and_is_idempotent():
    from shared.ledger.holds import expire_due_holds

    store = MemoryStore()
    run(store, ev("authorization.created", n=1, amount=100, reference="pi_due", expires_at=T0 + timedelta(hours=1)))
    run(store, ev("authorization.created", n=2, amount=200, reference="pi_later", expires_at=T0 + timedelta(days=9)))
    run(store, ev("authorization.created", n=3, amount=300, reference="pi_done", expires_at=T0 + timedelta(hours=1)))
    run(store, ev("authorization.voided", n=4, amount=0, reference="pi_done"))
    at = T0 + timedelta(hours=2)
    assert [r.status for r in expire_due_holds(store, clock=lambda: at)] == ["posted"]
    assert expire_due_holds(store, clock=lambda: at) == []
    assert wallet(store).pending_in == 200
    sound(store)


def test_capture_before_its_authorization_is_parked_not_rejected():
    from shared.domain.ledger.errors import PredecessorMissing

    store = MemoryStore()
    capture = ev("authorization.captured", n=2, amount=400, reference="pi_ooo")
    with pytest.raises(PredecessorMissing) as missing:
        run(store, capture)
    assert missing.value.waiting_on == ("JournalTransaction", hold_id("stripe", "pi_ooo"))
    assert store.data["JournalTransaction"] == {} and store.data["Rejection"] == {}
    run(store, ev("authorization.created", n=1, amount=1000, reference="pi_ooo", expires_at=T0 + timedelta(days=1)))
    assert run(store, capture).status == "posted"  # the redelivery after the predecessor arrived
    assert (wallet(store).posted, wallet(store).pending_in) == (400, 600)  # partial: the rest stays held


payment_story = [
    ("authorization.created", {"amount": 5000, "expires_at": T0 + timedelta(days=7)}),
    ("authorization.captured", {"amount": 4000}),
    ("payment.refunded", {"amount": 1500}),
    ("dispute.opened", {"amount": 1000}),
    ("dispute.won", {"amount": 1000}),
    ("payout.paid", {"amount": 2000, "bank": "column"}),
]


def deliver_all(store, events, at=T0 + timedelta(minutes=1)):
    """Deliver events like the ledger function does: post; a parked event waits in the store; every
    posting re-drives (publishes again) what was waiting for it. Returns the still-parked ids."""
    queue = list(events)
    while queue:
        event = queue.pop(0)
        result = post_event(None, event, store=store, stream=lambda *a: None, clock=lambda: at)
        for name, record in parking.released_by(store, event, result).items():
            parking.redrive(
                store, name, record, lambda data, attrs: queue.append(CanonicalEvent.model_validate_json(data))
            )
    return sorted(store.data["Parked"])


@given(st.permutations(list(range(len(payment_story)))), st.lists(st.integers(0, len(payment_story) - 1), max_size=4))
def test_any_arrival_order_with_duplicates_yields_the_same_ledger(order, duplicates):
    def deliver(sequence):
        store = MemoryStore()
        events = [ev(payment_story[i][0], n=i, reference="pi_story", **payment_story[i][1]) for i in sequence]
        assert deliver_all(store, events) == []  # nothing left parked: every follow-up was re-driven
        sound(store)
        return {
            (b.account, b.currency): (b.posted, b.pending_in, b.pending_out)
            for b in ledger_balances.all_balances(store)
        }

    in_order = deliver(range(len(payment_story)))
    assert deliver([*order, *duplicates]) == in_order


@functools.cache
def _stripe_webhooks(story: str) -> list[list[CanonicalEvent]]:
    """A payment and its dispute's webhooks as Stripe sends them; each webhook's canonical events (the
    status, then one per balance transaction the dispute lists)."""
    from shared.demo import encode, payment_intent_succeeded
    from shared.partners import stripe
    from tests.factories import dispute, dispute_balance_transaction

    created = 1_790_000_000
    withdrawal = dispute_balance_transaction("txn_ws", -3000, 1500, "usd", created, "dp_s")
    reinstatement = dispute_balance_transaction("txn_rs", 3000, -1500, "usd", created + 86400, "dp_s")
    lifecycle = {
        "won": [
            ("charge.dispute.created", "needs_response", [withdrawal]),
            ("charge.dispute.funds_withdrawn", "needs_response", [withdrawal]),
            ("charge.dispute.updated", "under_review", [withdrawal]),
            ("charge.dispute.funds_reinstated", "under_review", [withdrawal, reinstatement]),
            ("charge.dispute.closed", "won", [withdrawal, reinstatement]),
        ],
        "lost": [
            ("charge.dispute.created", "needs_response", [withdrawal]),
            ("charge.dispute.updated", "under_review", [withdrawal]),
            ("charge.dispute.closed", "lost", [withdrawal]),
        ],
        "inquiry": [
            ("charge.dispute.created", "warning_needs_response", []),
            ("charge.dispute.updated", "warning_under_review", []),
            ("charge.dispute.closed", "warning_closed", []),
        ],
    }[story]
    bodies = [payment_intent_succeeded("evt_ps", "pi_s", 10_000, "usd", "cus_S", created=created - 3600)]
    for n, (event_type, status, txns) in enumerate(lifecycle):
        bodies.append(
            {
                **dispute(f"evt_ds{n}", event_type, "dp_s", "ch_s", "pi_s", 3000, "usd", status, txns, created),
                "created": created + 60 * n,
            }
        )
    return [[p.canonical for p in stripe.parse_events(encode(b), T0)] for b in bodies]


STRIPE_STORIES = {  # story -> (wallet, fees:stripe, the dispute's final status) after every webhook
    "won": (10_000, 0, "won"),
    "lost": (7_000, 1_500, "lost"),
    "inquiry": (10_000, None, "warning_closed"),
}


@pytest.mark.parametrize("story", sorted(STRIPE_STORIES))
@settings(deadline=None)  # a loaded machine (shared with other stacks) must not turn slowness into a failure
@given(data=st.data())
def test_stripe_dispute_webhooks_in_any_order_with_duplicates_yield_the_same_books(story, data):
    """Stripe's dispute lifecycle (inquiry, won, lost) through the plugin and the ledger service: any
    arrival order of the payment and the dispute's webhooks, any duplicates, the same final books and
    the same dispute record. Money moves per balance transaction; an inquiry moves none."""
    from shared.ledger import disputes

    webhooks = _stripe_webhooks(story)
    order = data.draw(st.permutations(range(len(webhooks))), label="order")
    again = data.draw(st.lists(st.integers(0, len(webhooks) - 1), max_size=4), label="duplicates")

    def deliver(sequence):
        store = MemoryStore()
        assert deliver_all(store, [event for i in sequence for event in webhooks[i]]) == []
        sound(store)
        books = {(b.account, b.currency): (b.posted, b.pending_in) for b in ledger_balances.all_balances(store)}
        record = store.data[disputes.KIND]["stripe:dp_s"]
        fields = ("status", "final", "inquiry", "withdrawn", "reinstated", "fees", "transactions", "timeline")
        return books, {k: record[k] for k in (*fields, "customer", "payment_reference")}

    in_order = deliver(range(len(webhooks)))
    assert deliver([*order, *again]) == in_order
    books, record = in_order
    wallet_after, fees_after, status = STRIPE_STORIES[story]
    assert books[("customer:cus_S:wallet", "USD")][0] == wallet_after
    assert books.get(("fees:stripe", "USD"), (None,))[0] == fees_after
    assert (record["status"], record["final"], record["inquiry"]) == (status, True, story == "inquiry")
    assert record["customer"] == ("cus_S" if story != "inquiry" else None)  # known from the money events


def test_a_parked_event_is_redriven_by_its_predecessor_not_before():
    store = MemoryStore()
    capture = ev("authorization.captured", n=2, amount=400, reference="pi_wait")
    assert deliver_all(store, [capture]) == [capture.event_id]
    parked = store.data["Parked"][capture.event_id]
    assert parked["waiting_on"] == f"JournalTransaction:{hold_id('stripe', 'pi_wait')}"
    assert parked["deadline"] - parked["parked_at"] == parking.PARK_TTL
    unrelated = ev("authorization.created", n=3, amount=50, reference="pi_other", expires_at=T0 + timedelta(days=1))
    assert deliver_all(store, [unrelated, capture]) == [capture.event_id]  # still waiting; parked once
    assert store.data["Parked"][capture.event_id]["parked_at"] == parked["parked_at"]
    hold = ev("authorization.created", n=1, amount=1000, reference="pi_wait", expires_at=T0 + timedelta(days=1))
    assert deliver_all(store, [hold]) == []
    assert store.data["Waiting"] == {}  # the index of waiters is cleaned up with the parking
    assert (wallet(store).posted, wallet(store).pending_in) == (400, 600 + 50)  # + the unrelated hold


def test_park_posts_instead_when_the_predecessor_landed_meanwhile():
    from shared.domain.ledger.errors import PredecessorMissing

    store = MemoryStore()
    run(store, ev("authorization.created", n=1, amount=100, reference="pi_race", expires_at=T0 + timedelta(days=1)))
    missing = PredecessorMissing("raced", ("JournalTransaction", hold_id("stripe", "pi_race")))
    assert parking.park(store, ev("authorization.captured", n=2, amount=100, reference="pi_race"), missing) is None
    assert store.data["Parked"] == {}


def test_a_parked_event_whose_predecessor_never_comes_is_dead_lettered_at_its_deadline():
    store = MemoryStore()
    failed = ev("payout.failed", n=3, amount=2000, bank="column", reference="po_never")
    deliver_all(store, [failed])
    early = T0 + parking.PARK_TTL - timedelta(seconds=1)
    assert parking.expire_parked(store, failed.event_id, clock=lambda: early)[0] == "not_due"
    late = T0 + parking.PARK_TTL + timedelta(minutes=2)
    outcome, record = parking.expire_parked(store, failed.event_id, clock=lambda: late)
    assert record["event_id"] == failed.event_id
    assert outcome == "dead_letter" and store.data["Parked"] == {} and store.data["Waiting"] == {}
    letter = store.data["DeadLetter"][f"parked:{failed.event_id}"]
    assert (letter["source"], letter["reason_code"], letter["status"]) == ("parked", "predecessor_missing", "open")
    assert CanonicalEvent.model_validate_json(letter["payload"]) == failed
    assert parking.expire_parked(store, failed.event_id, clock=lambda: late) == ("released", None)  # idempotent
    assert store.data["JournalTransaction"] == {}  # nothing moved


def test_dispute_naming_only_the_payment_waits_for_it_and_debits_its_customer():
    store = MemoryStore()
    dispute = ev("dispute.opened", n=9, amount=300, customer=None, reference="dp_1", payment_reference="pi_77")
    assert deliver_all(store, [dispute]) == [dispute.event_id]
    assert store.data["Parked"][dispute.event_id]["waiting_on"] == "PaymentIndex:stripe:pi_77"
    assert deliver_all(store, [ev(n=1, amount=1000, customer="cus_Z", reference="pi_77")]) == []
    assert wallet(store, "cus_Z").posted == 700
    sound(store)


def test_a_reinstatement_before_its_withdrawal_is_parked_never_credited_first():
    store = MemoryStore()
    assert deliver_all(store, [ev(n=1, amount=5000, customer="cus_R", reference="pi_r")]) == []
    common = dict(customer=None, reference="dp_r", payment_reference="pi_r", fee=1500)
    reinstated = ev("dispute.funds_reinstated", n=3, amount=2000, **common)
    assert deliver_all(store, [reinstated]) == [reinstated.event_id]
    assert store.data["Parked"][reinstated.event_id]["waiting_on"] == "DisputeWithdrawal:stripe:dp_r"
    assert wallet(store, "cus_R").posted == 5000  # nothing credited ahead of the debit
    withdrawn = ev("dispute.funds_withdrawn", n=2, amount=2000, **common)
    assert deliver_all(store, [withdrawn]) == []  # the withdrawal re-drives the parked reinstatement
    assert wallet(store, "cus_R").posted == 5000
    assert balances(store, "fees:stripe")["USD"].posted == 0  # charged, then refunded
    assert store.data["Waiting"] == {}
    sound(store)


def test_partial_captures_release_what_they_take_and_the_last_one_closes_the_hold():
    store = MemoryStore()
    run(store, ev("authorization.created", amount=1000, reference="pi_h", expires_at=T0 + timedelta(days=7)))
    w = wallet(store)
    assert (w.posted, w.pending_in, w.available) == (0, 1000, 0)  # incoming pending is not available
    assert run(store, ev("authorization.captured", n=2, amount=600, reference="pi_h")).status == "posted"
    assert (wallet(store).posted, wallet(store).pending_in) == (600, 400)
    assert run(store, ev("authorization.captured", n=2, amount=600, reference="pi_h")).status == "replayed"
    assert run(store, ev("authorization.captured", n=3, amount=400, reference="pi_h")).status == "posted"
    assert (wallet(store).posted, wallet(store).pending_in) == (1000, 0)
    result = run(store, ev("authorization.voided", n=4, amount=0, reference="pi_h"))
    assert (result.status, result.reason) == ("rejected", "hold_already_resolved")
    sound(store)


def test_void_releases_the_rest_and_a_later_capture_still_posts_the_money_that_moved():
    store = MemoryStore()
    run(store, ev("authorization.created", amount=1000, reference="pi_v", expires_at=T0 + timedelta(days=7)))
    run(store, ev("authorization.captured", n=2, amount=300, reference="pi_v"))
    assert run(store, ev("authorization.voided", n=3, amount=0, reference="pi_v")).status == "posted"
    assert (wallet(store).posted, wallet(store).pending_in) == (300, 0)
    assert run(store, ev("authorization.captured", n=4, amount=200, reference="pi_v")).status == "posted"
    assert (wallet(store).posted, wallet(store).pending_in) == (500, 0)  # a fact from the partner
    sound(store)


def test_expiry_is_judged_by_the_partners_clock_and_the_sweep_is_deterministic():
    store = MemoryStore()
    expires = T0 + timedelta(hours=1)
    run(store, ev("authorization.created", amount=1000, reference="pi_e", expires_at=expires))
    # captured before expiry at the partner, processed long after: a normal capture
    assert (
        run(
            store, ev("authorization.captured", n=2, amount=100, reference="pi_e"), at=expires + timedelta(days=3)
        ).status
        == "posted"
    )
    hold = hold_id("stripe", "pi_e")
    early = execute(
        store,
        Operation("txn_exp_early", "expire", "hold_expire.v1", "sweep", "ledgerline", "x", T0, target=hold),
        clock=lambda: expires - timedelta(seconds=1),
    )
    assert early.reason == "hold_not_expired"
    expire = Operation("txn_exp", "expire", "hold_expire.v1", "sweep", "ledgerline", "x", T0, target=hold)
    assert execute(store, expire, clock=lambda: expires).status == "posted"
    assert (wallet(store).pending_in, wallet(store).posted) == (0, 100)
    # a capture dated after expiry (partner's clock) still posts: the money moved
    late = ev("authorization.captured", n=3, amount=50, reference="pi_e", occurred_at=expires + timedelta(minutes=1))
    assert run(store, late).status == "posted"
    assert wallet(store).posted == 150
    sound(store)


def test_over_capture_posts_the_fact_and_a_currency_mismatch_is_refused():
    store = MemoryStore()
    run(store, ev("authorization.created", amount=1000, reference="pi_x", expires_at=T0 + timedelta(days=1)))
    assert run(store, ev("authorization.captured", n=2, amount=1150, reference="pi_x")).status == "posted"
    assert (wallet(store).posted, wallet(store).pending_in) == (1150, 0)
    run(store, ev("authorization.created", n=3, amount=1000, reference="pi_y", expires_at=T0 + timedelta(days=1)))
    wrong = run(store, ev("authorization.captured", n=4, amount=900, currency="JPY", reference="pi_y"))
    assert (wrong.status, wrong.reason) == ("rejected", "currency_mismatch")
    sound(store)


def test_batch_fallback_gives_every_operation_its_outcome_even_conflicts_and_parked():
    from bench.batch import execute_batch

    store = MemoryStore()
    run(store, ev(n=1, amount=100))
    conflicting = operation_for(ev(n=1, amount=101))
    parked = operation_for(ev("authorization.captured", n=2, amount=5, reference="pi_missing"))
    fine = operation_for(ev(n=3, amount=7))
    results = execute_batch(store, [conflicting, parked, fine])
    assert [r.status for r in results] == ["conflict", "parked", "posted"]
    sound(store)


def test_failed_payout_reverses_the_paid_one_and_never_invents_money():
    from shared.domain.ledger.errors import PredecessorMissing

    store = MemoryStore()
    run(store, ev(n=1, amount=5000))
    failed = ev("payout.failed", n=3, amount=2000, bank="column", reference="po_1")
    with pytest.raises(PredecessorMissing):  # failure reported before (or without) the payout: parked
        run(store, failed)
    assert run(store, ev("payout.paid", n=2, amount=2000, bank="column", reference="po_1")).status == "posted"
    assert balances(store, "bank:column:operating")["USD"].posted == 2000
    assert run(store, failed).status == "posted"  # the redelivery reverses the paid payout
    assert balances(store, "bank:column:operating")["USD"].posted == 0
    assert balances(store, "partner:stripe:clearing")["USD"].posted == 5000
    again = ev("payout.failed", n=4, amount=2000, bank="column", reference="po_1")  # a second failure event
    assert run(store, again).reason == "already_reversed"
    sound(store)
