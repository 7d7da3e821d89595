"""Run identity, the release lock and structured (JSON lines) logs for scheduled runs, and how a run ends.

Every run log ends with one end event: `published` (the release is in place), `failed` (with the one-line message
the CLI printed) or `interrupted` (with the signal: SIGTERM, SIGINT or SIGHUP). A stop signal ends the run at once:
its worker processes are killed, the end event is written, the release lock is removed and the process exits with
128 + the signal's number (143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP), as a shell reports it. A release is
published by one rename, during which stop signals wait (`signals_deferred`), so a stopped run has published all of
its release or none of it. The work folder stays for `--resume`."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

from curation.errors import STOP_SIGNALS, LockedError, exit_code_for_signal, failure_line, one_line

END_EVENTS = ("published", "failed", "interrupted")


def datatrove_logs_on_stderr(verbose: bool) -> None:
    """datatrove logs through loguru: INFO on stderr with -v, else warnings and errors only. Called by the CLI and again
    around every stage, since importing datatrove and running a task in this process both re-add its DEBUG sink."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING")


def quick_log_handlers() -> None:
    """Works out loguru's library folders once per process instead of once per log handler. loguru finds them
    (sysconfig, ~10 ms) each time a handler is added, to shorten tracebacks, and datatrove adds three handlers for
    every task of every stage: ~8 s of a 64-task, four-stage job on one core. The folders do not change while a
    process runs. `ExceptionFormatter._get_lib_dirs` is private to loguru (pinned in pyproject.toml): where it is
    missing or no longer a staticmethod, loguru is left as it is (only slower)."""
    import inspect

    try:
        from loguru._better_exceptions import ExceptionFormatter
    except ImportError:
        return
    lib_dirs = inspect.getattr_static(ExceptionFormatter, "_get_lib_dirs", None)
    if isinstance(lib_dirs, staticmethod) and not hasattr(lib_dirs.__func__, "cache_info"):
        ExceptionFormatter._get_lib_dirs = staticmethod(functools.lru_cache(maxsize=1)(lib_dirs.__func__))


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
            # the lock appears with its holder already written (a hard link of a finished file): a run that finds it
            # never reads it empty and takes a live run's lock for a stale one
            draft = self.path.with_name(f"{self.path.name}.{os.getpid()}.{self.run_id}")
            draft.write_text(json.dumps(info))
            try:
                os.link(draft, self.path)
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
            finally:
                draft.unlink(missing_ok=True)
            ACTIVE.lock = self
            return self
        raise LockedError(f"{self.path}: could not take the lock")

    def __exit__(self, *exc) -> None:
        self.release()
        if ACTIVE.lock is self:
            ACTIVE.lock = None

    def release(self) -> None:
        """Remove the lock file if it is still this run's (not one a later run took over)."""
        try:
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            holder = {}
        if holder.get("run_id", self.run_id) == self.run_id:
            self.path.unlink(missing_ok=True)


class RunLog:
    """Appends one JSON object per event (with the run id) to `<output>/logs/<name>-<version>.jsonl`. The newest
    RunLog of the process is the run a stop signal or the CLI's error handling ends (see `ACTIVE`)."""

    def __init__(self, path: Path, run_id: str, **context):
        self.path = path
        self.run_id = run_id
        self.context = context
        self.written = False  # a log with no line yet has no run to end
        self.ended = False
        ACTIVE.log = self

    def event(self, event: str, exc: BaseException | None = None, **fields) -> None:
        if event == "failed":
            # logged while the exception is handled (or given): its one line, the one the CLI prints (an OSError with
            # its path); Ctrl-C is not a failure
            exc = exc if exc is not None else sys.exc_info()[1]
            if isinstance(exc, KeyboardInterrupt):
                event, fields = "interrupted", {"signal": "SIGINT", "exit_code": exit_code_for_signal(signal.SIGINT)}
            else:
                fields["error"] = failure_line(exc, ACTIVE.work) if exc is not None else one_line(fields.get("error") or "") or "failed"
        end = event in END_EVENTS
        if end:
            if self.ended:
                return  # one end event per run
            self.ended = True
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run_id": self.run_id, "event": event, **self.context, **fields}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            self.written = True
        except OSError as e:
            if not end:
                if e.filename is None:
                    raise OSError(e.errno, e.strerror, str(self.path)) from e
                raise
            # the end event must not hide why the run ended (a full disk often takes the log with it)
            os.write(2, f"curate: warning: could not write the run log's {event} event: {failure_line(e)}\n".encode())


class _Active:
    """What this process is running now: the run log to end, the lock to remove, the work folder, and whether its
    release is already in place. Set by RunLog, ReleaseLock and ReleaseLayout; read by the stop-signal handler and by
    the CLI's error handling."""

    def __init__(self):
        self.owner: int | None = None  # the process whose stop handlers are installed (a forked worker is not it)
        self.reset()

    def reset(self, command: str | None = None) -> None:
        self.command = command
        self.log: RunLog | None = None
        self.lock: ReleaseLock | None = None
        self.work: Path | None = None
        self.published: Path | None = None
        # commands whose run log ReleaseLayout keeps (curate run keeps its own, with its lock)
        self.layout_logs = command in ("synth", "label-quality", "mix")
        self.deferring = 0
        self.pending: int | None = None

    @property
    def hint(self) -> str:
        if self.command in ("synth", "label-quality"):
            return "rerun to continue (replies received so far are cached)"
        return "rerun to continue" if self.command == "mix" else "rerun with --resume to continue"

    def running(self) -> bool:
        """A run log has lines and no end event yet."""
        return self.log is not None and self.log.written and not self.log.ended


ACTIVE = _Active()


def begin_command(command: str | None) -> None:
    ACTIVE.reset(command)


def layout_prepared(output: Path, name: str, version: str, work: Path, resume: bool, force: bool) -> None:
    """A release's work folder is ready: remember it; for synth, label-quality and mix start their run log here."""
    ACTIVE.work, ACTIVE.published = work, None
    if ACTIVE.layout_logs and not ACTIVE.running():
        log = RunLog(output / "logs" / f"{name}-{version}.jsonl", new_run_id(), name=name, version=version, command=ACTIVE.command)
        log.event("start", resume=resume, force=force)


def layout_published(final: Path) -> None:
    """The release was renamed into place (called inside `signals_deferred`)."""
    ACTIVE.published = final
    if ACTIVE.layout_logs and ACTIVE.running():
        ACTIVE.log.event("published", path=str(final))


def end_failed(exc: BaseException) -> None:
    """The CLI caught `exc`: end the run log with `failed` unless the run already ended it (curate run logs its own)."""
    if ACTIVE.running() and ACTIVE.published is None:
        ACTIVE.log.event("failed", exc=exc)


@contextlib.contextmanager
def signals_deferred():
    """Stop signals arriving inside wait until its end (publishing: the rename that puts a release in place)."""
    ACTIVE.deferring += 1
    try:
        yield
    finally:
        ACTIVE.deferring -= 1
        if not ACTIVE.deferring and ACTIVE.pending is not None:
            signum, ACTIVE.pending = ACTIVE.pending, None
            _on_stop_signal(signum, None)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (Linux); empty elsewhere."""
    parent_of = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parent_of[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parent_of.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _on_stop_signal(signum: int, frame) -> None:
    """SIGTERM (Airflow, systemd, Slurm, Kubernetes), SIGINT (Ctrl-C), SIGHUP (a closed terminal). Raising inside
    whatever datatrove or multiprocessing is doing can deadlock, so a run stops at once, like kill -9, but with its
    end event written and its lock removed: worker and manager processes go first (SIGKILL), so none is left holding
    the job's files or pipes; finished tasks are recorded by datatrove and `--resume` continues where it stopped."""
    if os.getpid() != ACTIVE.owner:  # a forked worker or manager: the run's own process reports and cleans up
        os._exit(exit_code_for_signal(signum))
    if ACTIVE.deferring:
        ACTIVE.pending = ACTIVE.pending or signum
        return
    if signum == signal.SIGINT and not ACTIVE.running():
        raise KeyboardInterrupt  # no run in progress (reading a config, hashing inputs): unwind as Python does
    code, name = exit_code_for_signal(signum), signal.Signals(signum).name
    try:
        for pid in _descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        published = ACTIVE.published
        if ACTIVE.running():
            if published is not None:  # the rename happened before the signal: the run published
                ACTIVE.log.event("published", path=str(published), signal=name)
            else:
                ACTIVE.log.event("interrupted", signal=name, exit_code=code, work=str(ACTIVE.work) if ACTIVE.work else None)
        if ACTIVE.lock is not None:
            ACTIVE.lock.release()
        if published is not None:
            said = f"; the release was published: {published}"
        elif ACTIVE.work is not None or ACTIVE.log is not None:
            said = f"; nothing published; {ACTIVE.hint}"
        else:
            said = ""
        os.write(2, f"curate: interrupted by {name}{said}\n".encode())
    finally:
        os._exit(code)


def install_stop_handlers() -> dict:
    """Install the stop-signal handler in this process (the CLI); returns the previous handlers for
    `restore_handlers`. Outside the main thread signals cannot be handled: nothing is installed."""
    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _on_stop_signal)
    except ValueError:
        pass
    ACTIVE.owner = os.getpid()
    return previous


def restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    ACTIVE.reset()


def held_by_live_run(lock: Path) -> bool:
    """Whether a release lock file names a process that still runs (on this host; another host's lock counts as held)."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    return _alive(int(holder.get("pid", -1)))
