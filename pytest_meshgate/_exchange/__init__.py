"""Exchanges: the records of one attempt, the per-check HTTP client and the bulk sender."""
