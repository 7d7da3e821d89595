"""The fixed, seeded held-back split of real forum and web text (issue 39): rules and thresholds are written and tuned
looking at `dev` rows only; `test` rows are read only to label what the shipped defaults did to them, then measured."""

from __future__ import annotations

import hashlib

SALT = "issue39-heldback"
TEST_SHARE = 0.3


def part(key: str) -> str:
    """'dev' or 'test' for a row key (a PTT post id, a Cofacts message id, a URL): sha256 of salt + key."""
    h = int(hashlib.sha256(f"{SALT}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "dev"
