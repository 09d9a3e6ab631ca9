"""Reconciliation domain (pure, I/O-free): parse partner reports and bank statements (`formats`, one module
per format), build the ledger side, match them in a cascade, explain the breaks, carry them across runs,
render a report. docs/reconciliation.md describes the rules; the service (`service`) runs it over adapters."""

from shared.reconciliation.formats.adyen_report import parse_adyen
from shared.reconciliation.formats.bai2 import parse_bai2
from shared.reconciliation.formats.camt053 import parse_camt053
from shared.reconciliation.formats.stripe_report import parse_stripe
from shared.reconciliation.frame import RECORD_SCHEMA, ReportError
from shared.reconciliation.ledger_side import from_ledger_columns, ledger_frame
from shared.reconciliation.lifecycle import Break, Lifecycle, breaks_from_frame, carry_forward
from shared.reconciliation.matching import BREAK_SCHEMA, MATCH_SCHEMA, REASONS, ManualPair, MatchParams
from shared.reconciliation.positions import clearing_positions
from shared.reconciliation.report import render_markdown
from shared.reconciliation.run import (
    RunResult,
    balance_drift,
    digest,
    frame_digest,
    partner_balance,
    reconcile,
    run_identity,
)

__all__ = [
    "BREAK_SCHEMA",
    "MATCH_SCHEMA",
    "REASONS",
    "RECORD_SCHEMA",
    "Break",
    "Lifecycle",
    "ManualPair",
    "MatchParams",
    "ReportError",
    "RunResult",
    "balance_drift",
    "breaks_from_frame",
    "carry_forward",
    "clearing_positions",
    "digest",
    "frame_digest",
    "from_ledger_columns",
    "ledger_frame",
    "parse_adyen",
    "parse_bai2",
    "parse_camt053",
    "parse_stripe",
    "partner_balance",
    "reconcile",
    "render_markdown",
    "run_identity",
]
