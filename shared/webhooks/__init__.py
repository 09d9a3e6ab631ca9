"""Webhooks out: events from committed state changes (outbox), fan-out to the tenants' endpoints,
signed ordered delivery with retries (docs/webhooks.md)."""
