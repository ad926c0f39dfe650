"""_conformance."""
