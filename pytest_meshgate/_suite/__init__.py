"""_suite."""
