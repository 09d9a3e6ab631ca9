"""Composite Datastore queries and the indexes they need.

Single-property filters are served by Datastore's built-in indexes. A query that combines equality
filters with an inequality or a sort order on another property needs a composite index, which in the
cloud exists only if `topology/datastore_indexes.json` lists it (Terraform creates one
google_firestore_index per entry; the emulator needs none, so a missing index would only fail in
production). Such a query is therefore declared as a module-level `CompositeQuery` and run through
`fetch`, which refuses an unregistered shape; tests/terraform/test_datastore_indexes.py imports every
module and fails for any module-level CompositeQuery without an index, and for an inequality filter or sort order
written outside this module.

    DUE_HOLDS = CompositeQuery("JournalTransaction", equals=("kind",), inequality="expires_at")
    fetch(db, DUE_HOLDS, {"kind": "hold"}, ("<=", now))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from google.cloud import datastore

from shared.topology import topology_dir


@dataclass(frozen=True)
class CompositeQuery:
    kind: str
    equals: tuple[str, ...] = ()
    inequality: str | None = None  # the one property with <, <=, >, >= or != (Datastore allows one)
    order: tuple[str, ...] = ()  # sort orders; "-name" is descending

    def __post_init__(self):
        ordered = [o.lstrip("-") for o in self.order]
        if self.inequality and ordered and ordered[0] != self.inequality:
            raise ValueError(f"{self.kind}: with an inequality on {self.inequality}, sort by it first")
        if not self.inequality and not self.order:
            raise ValueError(f"{self.kind}: equality-only queries use built-in indexes; no CompositeQuery needed")

    def index_shape(self) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        """(equality properties, then the ordered (property, direction) tail), as the index needs them."""
        tail = [(o.lstrip("-"), "desc" if o.startswith("-") else "asc") for o in self.order]
        if self.inequality and not tail:
            tail = [(self.inequality, "asc")]
        return frozenset(self.equals), tuple(tail)


@lru_cache(maxsize=1)
def registry() -> tuple[dict, ...]:
    return tuple(json.loads((topology_dir() / "datastore_indexes.json").read_text())["indexes"])


def registered(query: CompositeQuery) -> bool:
    equals, tail = query.index_shape()
    for entry in registry():
        if entry["kind"] != query.kind:
            continue
        props = [(p["name"], p.get("direction", "asc")) for p in entry["properties"]]
        head, rest = props[: len(props) - len(tail)], tuple(props[len(props) - len(tail) :])
        if rest == tail and {n for n, _ in head} == equals and len(head) == len(equals):
            return True
    return False


def fetch(
    db: datastore.Client, query: CompositeQuery, equals: dict, bound: tuple[str, object] | None = None, limit=None
):
    """Run a declared composite query: equality values by property, and (operator, value) for the
    inequality property."""
    if not registered(query):
        raise LookupError(f"no composite index for {query}: add it to topology/datastore_indexes.json")
    if set(equals) != set(query.equals) or (bound is None) != (query.inequality is None):
        raise ValueError(f"{query}: filters do not match the declared shape")
    q = db.query(kind=query.kind)
    for prop in query.equals:
        q.add_filter(filter=datastore.query.PropertyFilter(prop, "=", equals[prop]))
    if query.inequality:
        op, value = bound
        q.add_filter(filter=datastore.query.PropertyFilter(query.inequality, op, value))
    if query.order:
        q.order = list(query.order)
    return q.fetch(limit=limit)


def single_property_range(db: datastore.Client, kind: str, prop: str, start, end, limit=None):
    """`start <= prop < end` on ONE property and nothing else: Datastore's built-in single-property
    index serves it, so it needs no entry in topology/datastore_indexes.json (Firestore refuses a
    composite index of one field). Kept here so every inequality the code runs is in this module."""
    q = db.query(kind=kind)
    q.add_filter(filter=datastore.query.PropertyFilter(prop, ">=", start))
    q.add_filter(filter=datastore.query.PropertyFilter(prop, "<", end))
    q.order = [prop]  # oldest first, said (the inequality's property sorts first anyway: no other index)
    return q.fetch(limit=limit)


def single_property_newest_first(db: datastore.Client, kind: str, prop: str, at_most=None, limit=None):
    """`prop <= at_most` (when given) ORDER BY prop DESC on ONE property: its built-in index, no entry in
    topology/datastore_indexes.json (as single_property_range)."""
    q = db.query(kind=kind)
    if at_most is not None:
        q.add_filter(filter=datastore.query.PropertyFilter(prop, "<=", at_most))
    q.order = [f"-{prop}"]
    return q.fetch(limit=limit)


def single_property_since(db: datastore.Client, kind: str, prop: str, since, limit=None):
    """`prop >= since` ORDER BY prop (oldest first) on ONE property: its built-in index (as
    single_property_range, without an end)."""
    q = db.query(kind=kind)
    q.add_filter(filter=datastore.query.PropertyFilter(prop, ">=", since))
    q.order = [prop]
    return q.fetch(limit=limit)


def key_range(db: datastore.Client, kind: str, op: str, key):
    """The entities of `kind` whose key is `op` (<, <=, >, >=) `key`: the built-in key index."""
    q = db.query(kind=kind)
    q.add_filter(filter=datastore.query.PropertyFilter("__key__", op, key))
    return q.fetch()


def in_key_order(db: datastore.Client, kind: str, after=None, limit=None):
    """The entities of `kind` in key order, those after the key `after` (when given): the built-in key
    index (a migration's pages)."""
    q = db.query(kind=kind)
    if after is not None:
        q.add_filter(filter=datastore.query.PropertyFilter("__key__", ">", after))
    q.order = ["__key__"]
    return q.fetch(limit=limit)
