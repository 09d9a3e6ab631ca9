"""The payments service: payouts over the ledger store (docs/payments.md). `service.Payouts` applies the
pure domain (shared.domain.payments) and books its ledger operations, each change in one store
transaction; `store` is its port (the typed records it reads and writes, the codec that lays them out)."""
