"""Judging: expectations against answers, verdicts under eventual consistency, the split test."""
