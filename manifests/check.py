"""`verify`: one entry point for a release or a mixture of releases. It sits above the release reader and the
mixture module, so that neither imports the other's way back."""

from __future__ import annotations

from pathlib import Path

from manifests.mixture import is_mixture, verify_mixture
from manifests.reader import verify_release


def verify(path: str | Path, expect_content_hash: str | None = None) -> list[str]:
    """Problems with a release (`verify_release`: every listed file re-hashed, the content hash recomputed) or a
    mixture (`verify_mixture`: its pinned releases); empty when intact."""
    if is_mixture(path):
        return verify_mixture(path)
    return verify_release(path, expect_content_hash)
