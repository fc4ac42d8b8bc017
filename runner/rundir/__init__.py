"""2. Run directory: the append-only ledger and its replay, the lock, crash-safe files."""
