"""The customer API (docs/api.md): tenants and API keys, idempotency, rate limits, the service over the
ledger, and the HTTP layer (werkzeug routing, as Flask does it, inside functions-framework). The
service works over any LedgerStore, so most of it is tested on shared.adapters.memory_store.MemoryStore."""
