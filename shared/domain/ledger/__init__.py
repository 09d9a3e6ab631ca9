"""The double-entry ledger, pure (no I/O): the engine applies an operation to a store inside ONE
transaction through the `Tx` protocol; the services and adapters live in shared.ledger and
shared.adapters. Import from the module that defines a name (this package re-exports nothing):

  errors      every error the ledger raises, and the rejection codes (in order of precedence)
  accounts    chart of accounts (naming rules), hot-account shards, AccountBalance
  ids         transaction ids (I3), event hashes, exact instants
  model       Leg, Entry, JournalTransaction, Operation (I1, I2 at construction)
  rules       posting rules: the legs each event kind books (docs/ledger.md)
  operations  the operation a canonical event asks for; reversal, hold expiry, fee booking
  chain       the tamper-evidence hash chain (I7)
  engine      `apply` (I4, I5, I6) and the `Tx` protocol it needs from a store
  audit       every invariant re-checked from a snapshot (`ledgerline verify`)

Invariants, stated where enforced (docs/ledger.md "Invariants" numbers them the same; `audit.CHECKS` names
the invariant each audit check re-checks from a snapshot; I3 and I6 hold by construction):
  I1  every transaction nets to zero per currency and per phase            (JournalTransaction)
  I2  every entry amount is a positive int of minor units                   (Entry)
  I3  one source event -> one transaction id, forever                       (transaction_id)
  I4  an account's totals equal the sums of its entries, and every entry
      records the account's resulting totals and version (contiguous)       (apply)
  I5  append-only: transactions (with their entries) and reversal links are only inserted; a hold
      closes at most once (HoldState); a transaction is reversed at most once  (apply)
  I6  constraints (no overdraft, credit limit) hold after every operation that enforces them (apply)
  I7  each transaction's hash chains to the previous one of its chain shard (apply, audit)
"""
