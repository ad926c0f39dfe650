"""_judge."""
