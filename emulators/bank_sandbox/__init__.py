"""Our bank sandbox: a small fake of a Column-style bank transfer API, playing two banks (`column`, and
`lakeside` for failover) in one process. No third-party fake of a bank API exists, so this is OURS, not
a partner's software: it models the subset ledgerline calls (docs/bank_sandbox.md).

    python -m emulators.bank_sandbox [--port 8090] [--settle-after 2]

- `bank.py`: the banks' state and rules (transfers, idempotency, the life cycle on a clock, faults,
  webhook events, the oracle of executed transfers), pure of HTTP, thread-safe;
- `server.py`: the Flask app (the transfer API under `/<bank>/…`, the control endpoint under
  `/_control/…`), the webhook delivery and the clock threads, the threaded server.
"""
