"""Where malformed input goes: one JSONL file per source and task, never silently dropped."""

from __future__ import annotations

from pathlib import Path

import orjson

RAW_LIMIT = 2000  # characters of the offending record kept for inspection


class RejectLog:
    """Appends `{source, file, line, field, reason, raw}` records to `<dir>/<source>-<rank>.jsonl`.

    Opened lazily so the owning pipeline step stays picklable for datatrove's executors.
    """

    def __init__(self, directory: str | Path, source: str, redact: bool = False):
        self.directory = Path(directory)
        self.source = source
        self.redact = redact  # replace personal data in `raw` (the PII step is on): rejects live in the release
        self._fh = None
        self._rank = None

    def open_for(self, rank: int) -> None:
        self._rank = rank

    def write(self, file: str, line: int | None, reason: str, field: str | None = None, raw: object = None) -> None:
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # "w": a rerun of the same task rewrites its own rejects instead of appending duplicates
            self._fh = open(self.directory / f"{self.source}-{self._rank or 0:05d}.jsonl", "wb")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="backslashreplace")
        elif raw is not None and not isinstance(raw, str):
            raw = orjson.dumps(raw, default=str).decode()
        if isinstance(raw, str) and self.redact:
            from filters.pii import redact

            raw = redact(raw)[0]
        rec = {"source": self.source, "file": file, "line": line, "field": field, "reason": reason,
               "raw": raw[:RAW_LIMIT] if isinstance(raw, str) else raw}
        self._fh.write(orjson.dumps(rec) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
