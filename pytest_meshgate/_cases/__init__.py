"""_cases."""
