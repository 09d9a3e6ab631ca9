"""Lakeside, a fictional second bank for payout failover, on the same Column-style API and webhook
scheme as column (shared.partners.column `column_style`): `Column-Signature`, a hex HMAC-SHA256 of the
raw body with LAKESIDE_WEBHOOK_SECRETS (comma-separated for rotation).

ledgerline holds no customer accounts at Lakeside: it only sends payouts from its operating account
there, so no event type is posted to the ledger (BANK None, no statement reconciled yet). Its payout
transfer events (`ach.outgoing_transfer.*` carrying the payout attempt's `idempotency_key`) are
verified, stored and deduplicated by intake, and reach the payments service (a later step).
"""

from __future__ import annotations

from shared.partners.base import acknowledge_one, no_legacy_versions
from shared.partners.column import SIGNATURE_HEADER, column_style, transfer_api

NAME = "lakeside"
KEPT_HEADERS = (SIGNATURE_HEADER,)
BANK = None
REPORT_FORMAT = None
SCHEME = column_style(NAME)
WEBHOOK_SECRETS = SCHEME.secret
TRANSFER_API = transfer_api(NAME)
SECRETS = (WEBHOOK_SECRETS, TRANSFER_API.key)

verify = SCHEME.verify
parse = SCHEME.parse
acknowledge = acknowledge_one
legacy_versions = no_legacy_versions
