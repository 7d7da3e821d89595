"""Run identity, the release lock and structured (JSON lines) logs for scheduled runs."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

from curation.errors import LockedError


def datatrove_logs_on_stderr(verbose: bool) -> None:
    """datatrove logs through loguru: INFO on stderr with -v, else warnings and errors only. Called by the CLI and again
    around every stage, since importing datatrove and running a task in this process both re-add its DEBUG sink."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING")


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ReleaseLock:
    """An exclusive lock file per output/name/version. A second run exits with code 3; a lock left by a
    process that no longer exists on this host is stale and is taken over."""

    def __init__(self, path: Path, run_id: str):
        self.path = path
        self.run_id = run_id
        self.stale_taken_over: dict | None = None

    def __enter__(self) -> ReleaseLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": self.run_id, "since": time.time()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    holder = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    holder = {}
                same_host = holder.get("host") == socket.gethostname()
                if holder and (not same_host or _alive(int(holder.get("pid", -1)))):
                    raise LockedError(f"{self.path}: locked by run {holder.get('run_id')} (pid {holder.get('pid')} on "
                                      f"{holder.get('host')}); wait for it to finish") from None
                self.stale_taken_over = holder
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            return self
        raise LockedError(f"{self.path}: could not take the lock")

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


class RunLog:
    """Appends one JSON object per event (with the run id) to `<output>/logs/<name>-<version>.jsonl`."""

    def __init__(self, path: Path, run_id: str, **context):
        self.path = path
        self.run_id = run_id
        self.context = context

    def event(self, event: str, **fields) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run_id": self.run_id, "event": event, **self.context, **fields}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


def held_by_live_run(lock: Path) -> bool:
    """Whether a release lock file names a process that still runs (on this host; another host's lock counts as held)."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    return _alive(int(holder.get("pid", -1)))
