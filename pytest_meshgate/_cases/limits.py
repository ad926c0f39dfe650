"""The bounds on what one case file may make collection do, kept in one place.

Case files arrive in pull requests and CI collects them with secrets in its
environment, so a file must not be able to make collection read without end,
expand without end (a "billion laughs" alias bomb is 600 bytes) or recurse
without end. Each bound sits far above what a real case needs: the largest
file of the shipped suite (``cases/``) is 105 KiB with 16 cases, about 7,800
nodes and 12 levels. docs/case-format.md lists them for users.
"""

from __future__ import annotations

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_DOCUMENTS",
    "MAX_FILE_BYTES",
    "MAX_INCLUDES",
    "MAX_NODES",
]

# Bytes of one file (a case file or an included manifest file), read at most once.
MAX_FILE_BYTES = 512 * 1024
# YAML documents in one file (each case is one).
MAX_DOCUMENTS = 1000
# Alias uses (``*name``) in one file, merge keys (``<<: *name``) included.
MAX_ALIASES = 1000
# Nodes of a case file and everything it includes, aliases expanded: every
# node is walked for positions and validated, so this bounds collection work.
MAX_NODES = 100_000
# Nesting of collections in one document, aliases expanded.
MAX_DEPTH = 64
# ``- include:`` entries in one case file, all its cases together.
MAX_INCLUDES = 200
