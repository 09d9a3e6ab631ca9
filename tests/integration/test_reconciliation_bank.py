"""Bank lines that are not payouts, through the running stack: Stripe payments and a payout (signed
Stripe webhooks), ACH credits, an outgoing ACH transfer and its return (signed Column webhooks), all
posted by the running intake/ledger; then the CLI reconciles the Stripe report plus a BAI2 statement
of that day (payout + ACH lines) against Datastore: zero breaks. Dropping the ACH return from the
statement shows the bank ↔ ledger leg is really checked."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import requests

from shared.demo import Delivery, encode, send
from shared.partners import column
from tests.factories import column_event, payout

from .conftest import cli, posted

HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)


def major(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def statement(as_of: str, lines: list[tuple[str, int, str, str]]) -> str:
    """A BAI2 file: one account, the 16 lines (type code, amount, customer reference, text), the text of
    each continued on an 88 record; control totals computed as the specification defines them."""
    account = ["03,0532013000,USD,010,0,,/"]
    for n, (code, amount, ref, text) in enumerate(lines):
        account += [f"16,{code},{amount},Z,BR{n},{ref}/", f"88,{text}"]
    total = sum(amount for _, amount, _, _ in lines)
    account.append(f"49,{total},{len(account) + 1}/")
    group = [f"02,LEDGERLINE,COLUMN,1,{as_of},2359,USD,2/", *account, f"98,{total},1,{len(account) + 2}/"]
    return "\n".join([f"01,COLUMN,LEDGERLINE,{as_of},0600,1,,,2/", *group, f"99,{total},1,{len(group) + 2}/", ""])


def test_a_day_of_payouts_ach_credits_and_an_ach_return_reconciles_to_zero_breaks(
    cfg, db, intake, secret, payment, tmp_path
):
    tag = uuid.uuid4().hex[:12]
    paid = [payment(amount=a, currency="usd") for a in (1500, 2700)]
    for p in paid:
        assert send(intake, Delivery("recon-bank", p["body"], secret, 200, "accepted")).status_code == 200
    po, po_amount = f"po_{tag}", 1500 + 2700
    payout_event = f"evt_po{tag}"
    body = encode(payout(payout_event, "payout.paid", po, po_amount, "usd", f"ba_{tag}"))
    assert send(intake, Delivery("recon-bank-payout", body, secret, 200, "accepted")).status_code == 200

    now = datetime.now(tz=UTC)
    account = f"acno_{tag}"
    ach = [  # (Column event type, transfer id, amount, BAI2 type code on the statement)
        ("ach.incoming_transfer.completed", f"acht_{tag}a", 10_000, "142"),
        ("ach.incoming_transfer.completed", f"acht_{tag}b", 2_500, "165"),
        ("ach.outgoing_transfer.completed", f"acht_{tag}c", 4_000, "451"),
        ("ach.outgoing_transfer.returned", f"acht_{tag}c", 4_000, "257"),  # the same transfer came back
    ]
    column_secret = cfg.webhook_secrets("column")[0]
    for n, (event_type, transfer, amount, _code) in enumerate(ach):
        body = encode(column_event(f"evnt_{tag}{n}", event_type, transfer, amount, account, created_at=now.isoformat()))
        resp = requests.post(
            f"{intake}/webhooks/column",
            data=body,
            timeout=30,
            headers={"Column-Signature": column.sign(body, column_secret), "Content-Type": "application/json"},
        )
        assert resp.status_code == 200 and resp.json()["status"] == "accepted", resp.text
    for key in [p["key"] for p in paid] + [f"stripe:{payout_event}"] + [f"column:evnt_{tag}{n}" for n in range(4)]:
        posted(db, key)

    day = now.date().isoformat()
    pis = [json.loads(p["body"])["data"]["object"]["id"] for p in paid]
    rows = [
        f"txn_{n}{tag},{day} 09:00:00,{day} 00:00:00,usd,{major(a)},0.00,{major(a)},charge,ch_{pi[3:]},t,{pi},"
        f"ch_{pi[3:]},{po},"
        for n, (pi, a) in enumerate(zip(pis, (1500, 2700), strict=True))
    ]
    rows.append(
        f"txn_p{tag},{day} 10:00:00,{day} 00:00:00,usd,{major(-po_amount)},0.00,{major(-po_amount)},payout,{po},t,,,,"
    )
    report = tmp_path / "report.csv"
    report.write_text("\n".join([HEADER, *rows]) + "\n")
    lines = [("165", po_amount, po, "STRIPE TRANSFER, PAYOUT")]
    lines += [(code, amount, transfer, "COLUMN ACH, TRANSFER") for _type, transfer, amount, code in ach]
    bank = tmp_path / "bank.bai"
    as_of = (now.date() + timedelta(days=7)).isoformat()  # past the timing window: a missing line is a break
    bank.write_text(statement(now.strftime("%y%m%d"), lines))

    ours = {po, *pis, *(t for _, t, _, _ in ach)}

    def our_breaks():
        return [b for b in cli("recon", "breaks", "--open", "--partner", "stripe") if b["reference"] in ours]

    run = ["recon", "run", "--partner", "stripe", "--date", as_of, "--report", str(report), "--bank", str(bank)]
    first = cli(*run, "--out", str(tmp_path / "r1.md"))
    assert first["status"] == "done"
    assert our_breaks() == []  # payouts, ACH credits, the debit and its return: all reconciled

    bank.write_text(statement(now.strftime("%y%m%d"), lines[:-1]))  # the statement without the return
    second = cli(*run, "--out", str(tmp_path / "r2.md"))
    assert second["run_id"] != first["run_id"]
    found = {(b["reason_code"], b["leg"], b["kind"], b["reference"]) for b in our_breaks()}
    assert found == {("missing_at_bank", "bank_ledger", "ach_return", f"acht_{tag}c")}, found
