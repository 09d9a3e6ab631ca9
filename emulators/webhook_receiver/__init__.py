"""Our webhook receiver: it plays the tenants' HTTPS endpoints that ledgerline delivers its signed
Standard Webhooks events to (webhooks out), for the tests, the chaos scenario and `make demo`. Any number
of named receivers in one process, each with its secrets (several during a rotation) and a behaviour
(failures at a seeded rate, a forced status such as 410, a delay, down for a while); every request is
recorded with whether its signature verified and by which secret (docs/webhook_receiver.md).

    python -m emulators.webhook_receiver [--port 8092]

- `receivers.py`: the receivers' state and rules (verification, the answer, the records), pure of HTTP,
  thread-safe;
- `server.py`: the Flask app (`POST /r/<name>`, the control API under `/_control/…`), the threaded server;
- `client.py`: a typed client of the control API for tests.
"""
