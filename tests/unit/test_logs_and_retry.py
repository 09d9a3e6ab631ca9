import json
import logging

import pytest
from google.api_core import exceptions as gexc

from shared.adapters import datastore_store
from shared.logs import CloudLoggingFormatter, set_trace, trace_from_headers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}, TRACE),
        ({"X-Cloud-Trace-Context": "x" * 5000}, None),  # client-controlled: never stored unchecked
        ({"traceparent": "00-not-hex-at-all"}, None),
        ({}, None),
    ],
)
def test_trace_ids_are_validated(headers, expected):
    assert trace_from_headers(headers) == expected


def test_log_lines_are_cloud_logging_json():
    record = logging.LogRecord("ledgerline.intake", logging.WARNING, __file__, 1, "webhook rejected", None, None)
    record.code = "signature_invalid"
    set_trace(TRACE)
    try:
        line = json.loads(CloudLoggingFormatter("p").format(record))
    finally:
        set_trace(None)
    assert line["severity"] == "WARNING" and line["message"] == "webhook rejected"
    assert line["logging.googleapis.com/trace"] == f"projects/p/traces/{TRACE}"
    assert line["code"] == "signature_invalid"


class AbortingDb:
    """A stand-in Datastore client whose commits abort `failures` times (pure unit test of the retry)."""

    def __init__(self, failures: int):
        self.failures = failures
        self.commits = 0

    def transaction(self, begin_later=False):
        db = self

        class Txn:
            def __enter__(self):
                return self

            def __exit__(self, exc_type, *rest):
                if exc_type is None:
                    if db.failures:
                        db.failures -= 1
                        raise gexc.Aborted("too much contention")
                    db.commits += 1
                return False

        return Txn()


def test_contention_is_retried_with_bounded_jittered_backoff():
    db, sleeps = AbortingDb(failures=3), []
    assert datastore_store.in_transaction(db, lambda txn: "done", sleep=sleeps.append) == "done"
    assert db.commits == 1 and len(sleeps) == 3
    assert all(0 <= s <= min(1.0, 0.02 * 2 ** (i + 1)) for i, s in enumerate(sleeps))


def test_contention_gives_up_after_the_bound():
    db, sleeps = AbortingDb(failures=100), []
    with pytest.raises(gexc.Aborted):
        datastore_store.in_transaction(db, lambda txn: None, attempts=4, sleep=sleeps.append)
    assert len(sleeps) == 3 and db.commits == 0


def test_a_lookup_that_begins_a_transaction_is_not_retried_and_looks_deferred_keys_up_again():
    """begin_later: the first lookup begins the transaction. The client would resend `new_transaction`
    for deferred keys (ValueError: "Transaction already begun"), and its automatic retry would begin
    server transactions nobody rolls back: _DatastoreTx looks deferred keys up itself, after the
    transaction has its id, and turns the retry off for the first lookup only."""
    from google.cloud import datastore

    class Txn:
        id = None

    class Db:
        def __init__(self):
            self.current_transaction, self.calls = Txn(), []

        def key(self, kind, name):
            return datastore.Key(kind, name, project="p")

        def get_multi(self, keys, deferred=None, **kwargs):
            self.calls.append(([k.name for k in keys], kwargs))
            if self.current_transaction.id is None:
                self.current_transaction.id = b"txn-1"  # the server began it with this lookup
                deferred.extend(keys[1:])  # and deferred all but the first key
                keys = keys[:1]
            found = [datastore.Entity(k) for k in keys]
            for entity in found:
                entity["v"] = entity.key.name
            return found

    db = Db()
    tx = datastore_store._DatastoreTx(db)
    tx.prefetch([("A", "a"), ("A", "b"), ("A", "c")])
    assert [names for names, _ in db.calls] == [["a", "b", "c"], ["b", "c"]]
    assert db.calls[0][1] == {"retry": datastore_store._NO_RETRY} and db.calls[1][1] == {}
    assert {name: tx.get("A", name)["v"] for name in "abc"} == {"a": "a", "b": "b", "c": "c"}
