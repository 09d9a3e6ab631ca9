"""Every error the payments domain raises, named once. A refused transition changes nothing: the record
and the ledger stay as they were."""

from __future__ import annotations

from typing import Literal, get_args

# Why the payments domain refused something (`PaymentError.code`), listed once and in order of
# precedence: when several apply, the first is reported. The same list, in the same order, is in
# docs/payments.md "Error codes".
PaymentErrorCode = Literal[
    "invalid_amount",  # not a positive int of minor units (or above MAX_AMOUNT)
    "invalid_destination",  # the destination fails validation (ABA checksum, account number digits)
    "no_route",  # no partner is declared for the payout's rail and currency
    "limit_exceeded",  # over the maximum single payout or the rolling 24 h outflow (limits)
    "already_final",  # the record is in a final state: nothing changes it any more
    "illegal_transition",  # the event is not allowed in the record's current state
    "conflicting_event",  # the same event again, saying something else (another partner, reference)
    "unknown_attempt",  # the event names an attempt the payout does not have
    "attempt_out_of_order",  # a new attempt whose number is not the next one
    "attempt_unresolved",  # a new attempt, or failing the payout, while an attempt may have executed
    "attempt_resolved",  # an outcome for an attempt whose outcome is known already, and different
    "not_found_too_early",  # "not found" before the partner could have stopped processing the attempt
    "refund_exceeds_payment",  # refunds would exceed what the pay-in received
    "payment_not_succeeded",  # a refund of a pay-in that has not succeeded
]
PAYMENT_ERROR_CODES: tuple[str, ...] = get_args(PaymentErrorCode)


class PaymentError(ValueError):
    """A refused payments decision: nothing changed. `code` is one of PaymentErrorCode."""

    def __init__(self, code: PaymentErrorCode, message: str):
        if code not in PAYMENT_ERROR_CODES:
            raise ValueError(f"{code!r} is not a payments error code (PaymentErrorCode)")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
