"""Webhooks out, the pure part: the event catalogue, the events a committed state change produces,
endpoint rules, signatures and the delivery schedule and ordering (docs/webhooks.md)."""
