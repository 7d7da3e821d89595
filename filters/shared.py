"""Models and lookup tables shared by every task a process runs. datatrove hands each task a fresh copy of its steps
(a deep copy, or unpickled in a worker), so whatever a step loads onto itself is loaded again for every task: the
fingerprint and quality code point tables, the lexicon automata, the fastText models and the domain lists cost about
a second a task together, which at 64 tasks over 50,000 documents was a third of the read-and-filter stage's fixed
cost. Loaded once per process here instead; all of them are only read after loading."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def file_key(path: str | Path) -> tuple[str, int, int]:
    """A file's identity for a cache: its path, modification time and size (a model retrained in place is reloaded)."""
    st = os.stat(path)
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=16)
def _fasttext(key: tuple[str, int, int]):
    import fasttext

    fasttext.FastText.eprint = lambda *_: None  # silence the load-time warning about the deprecated API
    return fasttext.load_model(key[0])


def fasttext_model(path: str | Path):
    """The fastText model at `path`, loaded once per process."""
    return _fasttext(file_key(path))
