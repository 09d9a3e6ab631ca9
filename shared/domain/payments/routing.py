"""Routing: per rail and currency an ordered list of partners (data: a later step reads it from the
topology / settings), and `next_route`, the one place that decides where a payout's next attempt goes.

The rule (docs/payments.md "Routing", with its proof sketch): a new attempt starts only when every
earlier attempt is known not to have executed (declined, or confirmed not executed); it goes to the
first partner in route order that has not declined this payout and whose circuit breaker is not open.
While an attempt is in flight, unknown or accepted, no partner is returned: at most one attempt of a
payout can ever execute (P4)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.domain.money import normalise_currency
from shared.domain.payments.destinations import RAILS
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.payouts import MAY_HAVE_EXECUTED, Attempt

# attempts of one payout, all partners together (a retry of the same partner after a 429 counts)
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Route:
    """The partners that can pay out on a rail in a currency, in order of preference."""

    rail: str
    currency: str
    partners: tuple[str, ...]


def routing_table(routes: Iterable[Route]) -> dict[tuple[str, str], tuple[str, ...]]:
    """{(rail, currency): partners}, after checking each route is declared once, on a known rail, in a
    known currency, with at least one partner and none twice (ValueError otherwise)."""
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    for r in routes:
        key = (r.rail, normalise_currency(r.currency))
        if r.rail not in RAILS:
            raise ValueError(f"route on unknown rail {r.rail!r}")
        if key in table:
            raise ValueError(f"route {key} declared twice")
        if not r.partners or len(set(r.partners)) != len(r.partners):
            raise ValueError(f"route {key}: at least one partner, none twice")
        table[key] = tuple(r.partners)
    return table


def partners_for(table: dict[tuple[str, str], tuple[str, ...]], rail: str, currency: str) -> tuple[str, ...]:
    """The ordered partners of a rail and currency, or PaymentError("no_route")."""
    found = table.get((rail, normalise_currency(currency)))
    if not found:
        raise PaymentError("no_route", f"no partner pays out on {rail} in {currency}")
    return found


RouteAction = Literal["submit", "wait", "stop", "fail"]
# why: submit → "first" / "failover" / "retry" (the same partner after it did not execute);
#      wait → "attempt_unresolved" (an attempt may have executed: query it) / "breakers_open";
#      stop → "accepted" (nothing more to route); fail → "all_declined" / "max_attempts"


@dataclass(frozen=True)
class RouteChoice:
    """What to do next for a payout: `submit` attempt `attempt` to `partner`; `wait` (nothing may be
    submitted now); `stop` (an attempt was accepted); `fail` (no partner will execute it)."""

    action: RouteAction
    reason: str
    partner: str | None = None
    attempt: int | None = None


def next_route(
    routes: Sequence[str], attempts: Sequence[Attempt], open_breakers: Collection[str], max_attempts: int = MAX_ATTEMPTS
) -> RouteChoice:
    """Where the next attempt goes (the rule above). `routes`: the payout's ordered partners;
    `attempts`: its attempts so far; `open_breakers`: partners whose circuit breaker is open now (a
    half-open breaker's trial is not open)."""
    if any(a.state == "accepted" for a in attempts):
        return RouteChoice("stop", "accepted")
    unresolved = [a for a in attempts if a.state in MAY_HAVE_EXECUTED]
    if unresolved:
        return RouteChoice("wait", "attempt_unresolved", attempt=unresolved[0].number)
    declined = {a.partner for a in attempts if a.state == "declined"}
    candidates = [p for p in routes if p not in declined]
    if not candidates:
        return RouteChoice("fail", "all_declined")
    if len(attempts) >= max_attempts:
        return RouteChoice("fail", "max_attempts")
    usable = [p for p in candidates if p not in open_breakers]
    if not usable:
        return RouteChoice("wait", "breakers_open")
    partner = usable[0]
    tried = {a.partner for a in attempts}
    reason = "first" if not attempts else "retry" if partner in tried else "failover"
    return RouteChoice("submit", reason, partner=partner, attempt=len(attempts) + 1)
