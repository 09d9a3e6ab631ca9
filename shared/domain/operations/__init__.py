"""Operations an auditor can follow (issue 19), the pure part: the break workflow, maker-checker
requests, and the hash-chained operator audit log (docs/operations.md when wired)."""
