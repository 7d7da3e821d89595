"""Progress while a stage runs: datatrove marks each finished task with a file in `<logs>/completions/`; a watcher
thread counts them, moves the terminal's progress bar (tasks done, rate, ETA) and, when the output is not a terminal
(cron, Airflow), writes one `progress` line to the run log every `log_every_s` seconds instead."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class StageProgress:
    def __init__(self, name: str, tasks: int, logs: Path, bar=None, log=None, log_every_s: float = 60.0, poll_s: float = 1.0):
        self.name, self.tasks, self.completions = name, tasks, logs / "completions"
        self.bar, self.log, self.log_every_s, self.poll_s = bar, log, log_every_s, poll_s
        self.started = time.monotonic()
        self.done_at_start = self.done()
        self.shown = self.done_at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"progress {name}", daemon=True)

    def done(self) -> int:
        return sum(1 for _ in self.completions.iterdir()) if self.completions.is_dir() else 0

    def line(self) -> dict:
        """Tasks done, tasks per minute since this run started the stage, and the estimated seconds left."""
        done = self.done()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (done - self.done_at_start) / elapsed
        eta = (self.tasks - done) / rate if rate > 0 else None
        return {"stage": self.name, "tasks_done": done, "tasks": self.tasks, "tasks_per_min": round(rate * 60, 2),
                "elapsed_s": round(elapsed, 1), "eta_s": None if eta is None else round(eta, 1)}

    def _watch(self) -> None:
        last_log = time.monotonic()
        while not self._stop.wait(self.poll_s):
            done = self.done()
            if self.bar is not None and done > self.shown:
                self.bar.update(done - self.shown)
                self.shown = done
            if self.log is not None and time.monotonic() - last_log >= self.log_every_s:
                self.log.event("progress", **self.line())
                last_log = time.monotonic()

    def __enter__(self) -> StageProgress:
        if self.bar is not None and self.shown:
            self.bar.update(self.shown)  # tasks a resumed run finished before
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.bar is not None and self.tasks > self.shown:
            self.bar.update(self.tasks - self.shown)
        if self.log is not None:
            self.log.event("progress", **self.line())
