"""ledgerline's shared package: the pure domain (money, events, partners, ledger) and thin adapters
named after the GCP service they wrap (datastore_store, pubsub_bus, tasks_queue, bigquery_sink)."""
