"""reconciliation: scheduled matching of partner/bank reports against the ledger. Today (foundation):
a ledger-side run summary (clearing balance per partner and currency); report matching comes later."""

import functions_framework

from shared import datastore_store, logs
from shared.config import settings
from shared.http import json_response
from shared.posting import all_balances
from shared.reconciliation import clearing_positions


@functions_framework.http
def reconciliation(request):
    cfg = settings()
    logs.configure(cfg.project)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    balances = all_balances(datastore_store.DatastoreLedger(datastore_store.client(cfg)))
    return json_response(200, {"clearing": clearing_positions(balances), "matching": "not_implemented"})
