"""_exchange."""
