"""Where benchmarks find the repository and the real zh-TW data sets.

The real sets live outside the repository and are read in place, never copied in: `../shared/data/real` beside the
checkout, or wherever $TWCURATE_REAL_DATA points (the same variable `curate train-classifier` reads).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL_DATA_ENV = "TWCURATE_REAL_DATA"


class MissingRealData(FileNotFoundError):
    """A real data set a benchmark needs is not on this machine."""


def real_root() -> Path:
    """The folder holding the real sets: $TWCURATE_REAL_DATA when set, else ../shared/data/real beside the checkout.
    Read when called, so a test or a shell can point a benchmark elsewhere without re-importing it."""
    return Path(os.environ.get(REAL_DATA_ENV) or REPO.parent / "shared" / "data" / "real")


def real_data(*parts: str, root: Path | None = None) -> Path:
    """The path of a real set (or a file in it) under the data root; raises MissingRealData naming the path and how
    to point at another root when it is absent, so a benchmark stops with a reason instead of a bare traceback."""
    base = root if root is not None else real_root()
    path = base.joinpath(*parts)
    if not path.exists():
        raise MissingRealData(f"{path} is absent: the real zh-TW sets are not on this machine "
                              f"(put them in ../shared/data/real beside the checkout or set ${REAL_DATA_ENV})")
    return path
