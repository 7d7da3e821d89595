"""Errors that map to the documented exit codes of `curate`, and the one line each failure prints."""

from __future__ import annotations

import io
import os
import re
import signal
from pathlib import Path

EXIT_OK = 0
EXIT_DATA = 1  # data or verification failure
EXIT_USAGE = 2  # bad config or command line
EXIT_LOCKED = 3  # another run holds the release lock
EXIT_IO = 6  # the disk said no (full, read-only, permission): nothing published; fix it and rerun with --resume
EXIT_ALERTS = 5  # published, but with alerts (a source read nothing, a step dropped nearly everything): look before using it
# stopped by a signal: 128 + its number, as a shell reports a process a signal ended (SIGHUP 129, SIGINT 130,
# SIGTERM 143); nothing published, the work folder kept for --resume
EXIT_SIGNAL_BASE = 128
EXIT_INTERRUPTED = EXIT_SIGNAL_BASE + signal.SIGINT  # 130: Ctrl-C
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_code_for_signal(signum: int) -> int:
    return EXIT_SIGNAL_BASE + int(signum)


class CurateError(Exception):
    exit_code = EXIT_DATA


class ConfigError(CurateError):
    """A job config that cannot be run; raised before any work starts."""

    exit_code = EXIT_USAGE


class ReleaseExistsError(CurateError):
    exit_code = EXIT_USAGE


class LockedError(CurateError):
    exit_code = EXIT_LOCKED


class UsageError(CurateError):
    exit_code = EXIT_USAGE


def one_line(text: str) -> str:
    """A message on one line: its lines joined with "; " (a scheduler's log, and the run log, read one line)."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _open_file(obj) -> tuple[str, bool] | None:
    """(path, opened for writing) of an open file, or of the file a wrapper holds (fsspec's local files: `.f`)."""
    for candidate in (obj, getattr(obj, "f", None)):
        if isinstance(candidate, io.IOBase):
            name = getattr(candidate, "name", None)
            if isinstance(name, str) and name and not name.startswith("<"):
                try:
                    writing = candidate.writable()
                except ValueError:  # closed
                    writing = False
                return os.path.abspath(name), writing
    return None


def path_of_os_error(e: OSError) -> str | None:
    """The path an OSError is about. Its own `filename` when the call that failed had one (open, rename, mkdir);
    else, for a failed write or flush (a full disk: Python's and pyarrow's writes carry no file name), the file the
    raising frame, or the one that called it, was writing: an open file among its locals. None when neither says
    (an error that crossed a process boundary keeps no frames)."""
    if e.filename:
        return f"{e.filename} -> {e.filename2}" if e.filename2 else str(e.filename)
    tb, frames = e.__traceback__, []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames[-2:]):
        found = [f for f in map(_open_file, [frame.f_locals.get("self"), *frame.f_locals.values()]) if f]
        if found:
            return sorted(found, key=lambda f: not f[1])[0][0]  # a file being written before one being read
    return None


# loguru's diagnose lines name each frame's variables; an open file as `<_io.BufferedWriter name='PATH'>`, cut to
# its first ~120 characters with "..." when longer; the writer's frames hold the file's name relative to its folder
_OPEN_FILE_REPR = re.compile(r"<_io\.\w+ name='([^'\n]+?)(?:'>|\.\.\.$)", re.MULTILINE)
_RELATIVE_NAME = re.compile(r"[└│] '([^'\n/][^'\n]*\.[a-z0-9]+)'$", re.MULTILINE)


def path_in_task_logs(work: Path, e: OSError) -> str | None:
    """The file a task in a worker process was writing when it failed with `e`. Its exception reached this process
    without frames, but datatrove logged it in the task's log with each frame's variables (loguru's diagnose): the
    innermost open file named there, in the newest task log ending with this error. A name loguru cut short is
    completed from the files under `work` that start with it and end with the name the writer's frames hold."""
    try:
        logs = sorted(work.glob("logs*/logs/task_*.log"), key=lambda f: f.stat().st_mtime, reverse=True)[:32]
    except OSError:
        return None
    last_line = f"{type(e).__name__}: [Errno {e.errno}]"
    for log in logs:
        try:
            with open(log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 256 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        end = text.rfind(last_line)
        if end < 0:
            continue
        region = text[max(text.rfind("| ERROR", 0, end), 0):end]
        names = [m for m in _OPEN_FILE_REPR.finditer(region) if os.path.isabs(m.group(1))]
        if not names:
            continue
        name = names[-1]
        if name.group(0).endswith("'>"):
            return name.group(1)
        prefix = name.group(1)
        for relative in reversed(_RELATIVE_NAME.findall(region)):
            found = [str(f) for f in Path(work).rglob(Path(relative).name)
                     if str(f).startswith(prefix) and str(f).endswith("/" + relative)]
            if len(found) == 1:
                return found[0]
    return None


def os_error_line(e: OSError, where: Path | None = None) -> str:
    """`I/O failure PATH: [Errno N] text`: what docs/operations.md promises for a full or read-only disk. PATH is the file
    when it can be told (from the error, its frames, or the log of the worker's task that raised it), else
    `under FOLDER` (the work folder the run was writing) when one is given."""
    path = path_of_os_error(e) or (path_in_task_logs(where, e) if where is not None and e.errno else None)
    place = f" {path}" if path else f" under {where}" if where else ""
    text = e.strerror or (os.strerror(e.errno) if e.errno else str(e)) or type(e).__name__
    code = f"[Errno {e.errno}] " if e.errno else ""
    return one_line(f"I/O failure{place}: {code}{text}")



def failure_line(e: BaseException | None, where: Path | None = None) -> str:
    """The one line a failure gets in the run log's `failed` event: what `curate` prints after `curate: error: `
    (an I/O error as `I/O failure PATH: [Errno N] text`), or the exception's type and message for anything else."""
    if e is None:
        return "failed"
    if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
        return os_error_line(e, where)
    if isinstance(e, (CurateError, FileNotFoundError, ValueError)) or type(e).__name__ == "LocalServerError":
        return one_line(str(e)) or type(e).__name__
    return one_line(f"{type(e).__name__}: {e}".rstrip(": "))
