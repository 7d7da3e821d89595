"""Models and lookup tables shared by every task a process runs. datatrove hands each task a fresh copy of its steps
(a deep copy, or unpickled in a worker), so whatever a step loads onto itself is loaded again for every task: the
fingerprint and quality code point tables, the lexicon automata, the fastText models and the domain lists cost about
a second a task together, which at 64 tasks over 50,000 documents was a third of the read-and-filter stage's fixed
cost. What comes from a file (fastText models, lexicon automata, domain lists) is loaded through `load_once`, keyed by
the files' identity; the code point tables, built from no user file, are cached in their own modules. All of them are
only read after loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def file_key(path: str | Path) -> tuple[str, int, int]:
    """A file's identity for a cache: its path, modification time and size (a model retrained in place is reloaded)."""
    st = os.stat(path)
    return str(path), st.st_mtime_ns, st.st_size


_LOADED: dict[tuple, tuple[tuple, object]] = {}


def load_once(kind: str, files: list[Path], load: Callable[[], T]) -> T:
    """`load()`'s result, once per process for these files as they are on disk: a file changed since (a model
    retrained in place, domain lists rebuilt, a lexicon edited) is loaded again and replaces the old copy, so a
    long-lived process (a scheduler calling run_job night after night) holds one copy per set of files."""
    key = (kind, tuple(str(f) for f in files))
    identity = tuple(file_key(f) for f in files)
    held = _LOADED.get(key)
    if held is None or held[0] != identity:
        held = _LOADED[key] = (identity, load())
    return held[1]


def fasttext_model(path: str | Path):
    """The fastText model at `path`, loaded once per process (and again when the file changes)."""
    import fasttext

    def load():
        fasttext.FastText.eprint = lambda *_: None  # silence the load-time warning about the deprecated API
        return fasttext.load_model(str(path))

    return load_once("fasttext", [Path(path)], load)
