"""The pytest side: case files as collectors and items, running a check, feeding conformance."""
