"""Payments orchestration, pure (no I/O): what ledgerline decides when it moves money through partners
(docs/payments.md). The payments function, the partner adapters and the store are later steps; they
call these modules and keep no rule of their own. Import from the module that defines a name (this
package re-exports nothing):

  errors        every error code of the payments domain (one Literal, in order of precedence)
  ids           payout / pay-in ids, partner idempotency keys, the ledger operation ids of transitions
  machine       a state machine declared as data: `Transition` rows, `Machine` (checked at import)
  effects       the ledger operation each transition books (hold, capture, void, reverse, post)
  payouts       the payout: states, transition table, `Payout` record, `PayoutEvent`, `transition`
  payins        the pay-in (`Payment`) and its `Refund`: the same, through the card processor
  outcomes      what a partner call returned (`PartnerCall`) → what to do next (`Outcome`)
  routing       ordered partners per rail and currency (`Route`), `next_route` (never pays twice)
  limits        per customer and currency: maximum single payout, rolling 24 h outflow (`check_limits`)
  destinations  a bank destination (`Destination`, ABA checksum), `mask`: the account number never shown

Invariants (docs/payments.md "Invariants" numbers them the same):
  P1  a payout's state changes only along a row of its transition table; a final state never changes
  P2  the same event twice is one change: the second is a no-op and books no second operation
  P3  every transition books exactly its row's ledger effect, under an id derived from (payout, effect)
  P4  at most one attempt of a payout may have executed: a new attempt starts only when every earlier
      one is known not to have (declined, or confirmed not executed)
  P5  a payout over either limit is refused, counting open holds
"""
