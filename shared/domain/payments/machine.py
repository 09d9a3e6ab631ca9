"""A state machine declared as data: one `Transition` row per (state, event), the ledger effect each
row books, and the timeline every record keeps. `machine` checks a table at import: a row naming an
undeclared state or effect, a duplicate row, or an unreachable state fails there, not in production."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# What a transition books in the ledger (shared.domain.payments.effects builds the operation):
#   hold     a pending debit of the wallet (no overdraft)     capture  the hold, posted
#   void     the hold, released                               reverse  the capture, mirrored (linked)
#   credit   a posted credit of the wallet (from clearing)    debit    a posted debit of it (to clearing)
Effect = Literal["hold", "capture", "void", "reverse", "credit", "debit"]
EFFECTS: tuple[str, ...] = ("hold", "capture", "void", "reverse", "credit", "debit")


class MachineError(ValueError):
    """A transition table with a missing or inconsistent row (raised at import, by `machine`)."""


@dataclass(frozen=True)
class Transition:
    """One row: in state `source` (None: the record does not exist yet), `event` moves it to `target`
    and books `effect` (None: nothing moves). source == target: the record changes (an attempt), its
    state does not."""

    source: str | None
    event: str
    target: str
    effect: Effect | None
    meaning: str


@dataclass(frozen=True)
class Machine:
    """A transition table. `final`: the states no event leaves (derived: no row starts there)."""

    name: str
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]

    @property
    def start(self) -> str:
        return next(t.target for t in self.transitions if t.source is None)

    @property
    def final(self) -> tuple[str, ...]:
        sources = {t.source for t in self.transitions}
        return tuple(s for s in self.states if s not in sources)

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.event for t in self.transitions))

    def row(self, source: str | None, event: str) -> Transition | None:
        """The row for `event` in state `source`, or None: the event is illegal there."""
        return next((t for t in self.transitions if t.source == source and t.event == event), None)

    def effect_of(self, state: str) -> tuple[Effect, ...]:
        """The effects a record in `state` has booked, along any path (the same along every path: checked)."""
        return _effects_to(self, state)


def _effects_to(m: Machine, state: str) -> tuple[Effect, ...]:
    paths: set[tuple[str, ...]] = set()
    first = m.transitions[0]
    todo: list[tuple[str, tuple[str, ...], frozenset[str]]] = [(first.target, _booked(first), frozenset())]
    while todo:
        at, booked, seen = todo.pop()
        if at == state:
            paths.add(booked)
        for t in m.transitions:
            if t.source == at and t.target != at and t.target not in seen:
                todo.append((t.target, booked + _booked(t), seen | {at}))
    if len(paths) != 1:
        raise MachineError(f"{m.name}: {state} is reached with different ledger effects: {sorted(paths)}")
    return next(iter(paths))


def _booked(t: Transition | None) -> tuple[str, ...]:
    return (t.effect,) if t is not None and t.effect is not None else ()


def machine(name: str, states: Iterable[str], transitions: Iterable[Transition]) -> Machine:
    """The table, after checking it is complete and consistent (MachineError otherwise)."""
    m = Machine(name, tuple(states), tuple(transitions))
    problems = []
    starts = [t for t in m.transitions if t.source is None]
    if len(starts) != 1 or m.transitions[0] is not starts[0]:
        problems.append("exactly one row creates the record (source None), and it comes first")
    if len({(t.source, t.event) for t in m.transitions}) != len(m.transitions):
        problems.append("two rows for one (state, event)")
    for t in m.transitions:
        if t.target not in m.states or (t.source is not None and t.source not in m.states):
            problems.append(f"{t.event}: a state that is not declared")
        if t.effect is not None and t.effect not in EFFECTS:
            problems.append(f"{t.event}: effect {t.effect!r}")
        if t.source == t.target and t.effect is not None:
            problems.append(f"{t.event}: a row that keeps the state books nothing")
        if not t.meaning.strip():
            problems.append(f"{t.event}: no meaning")
    reached, frontier = set(), {t.target for t in starts}
    while frontier:
        reached |= frontier
        frontier = {t.target for t in m.transitions if t.source in frontier} - reached
    if not problems and set(m.states) - reached:
        problems.append(f"unreachable states: {sorted(set(m.states) - reached)}")
    if problems:
        raise MachineError(f"{name}: " + "; ".join(problems))
    for state in m.states:
        _effects_to(m, state)  # every state has one ledger effect, whichever path reached it
    return m


@dataclass(frozen=True)
class TimelineEntry:
    """One applied event: when, which event, the state before and after (equal for an attempt's
    change), the attempt it concerns and what it said (a decline code, an R-code, a reference)."""

    at: datetime
    event: str
    source: str | None
    target: str
    attempt: int | None = None
    detail: str | None = None
