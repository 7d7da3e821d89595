"""Release directories: version resolution and the write-elsewhere-then-rename rule."""

from __future__ import annotations

import shutil
from pathlib import Path

from curation import runlog
from curation.errors import ReleaseExistsError


def parse_semver(v: str) -> tuple[int, int, int] | None:
    parts = v.split(".")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else None  # type: ignore[return-value]


def released_versions(output: Path, name: str, marker: str = "manifest.json") -> list[str]:
    """Published versions of `name`: directories holding `marker` (a release's manifest.json, a mixture's mixture.json)."""
    root = output / name
    if not root.is_dir():
        return []
    found = [(parse_semver(d.name), d.name) for d in root.iterdir() if (d / marker).is_file()]
    return [v for key, v in sorted(f for f in found if f[0])]


def resolve_version(output: Path, name: str, version: str, marker: str = "manifest.json") -> str:
    """`auto` bumps the patch number of the newest release in `output` (0.1.0 when there is none)."""
    if version != "auto":
        return version
    existing = released_versions(output, name, marker)
    if not existing:
        return "0.1.0"
    major, minor, patch = parse_semver(existing[-1])
    return f"{major}.{minor}.{patch + 1}"


class ReleaseLayout:
    """Where a run writes: `<output>/.work/<name>/<version>/` while running, `<output>/<name>/<version>/` when done."""

    def __init__(self, output: Path, name: str, version: str):
        self.output = output
        self.name = name
        self.version = version
        self.final = output / name / version
        self.work = output / ".work" / name / version
        self.staging = self.work / "release"
        self.logs = self.work / "logs"

    def prepare(self, force: bool = False, resume: bool = False) -> None:
        if self.final.exists() and not force:
            raise ReleaseExistsError(f"release {self.final} already exists; releases are immutable (use --force to replace it)")
        if self.work.exists() and not resume:
            shutil.rmtree(self.work)
        self.staging.mkdir(parents=True, exist_ok=True)
        runlog.layout_prepared(self.output, self.name, self.version, self.work, resume=resume, force=force)

    def publish(self) -> Path:
        """Atomically move the finished staging directory into place (rename within one filesystem). A stop signal
        (SIGTERM, Ctrl-C) waits until the release is in place, so it is never half there: with --force, never the old
        one moved away and the new one not yet in."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        with runlog.signals_deferred():
            trash = None
            if self.final.exists():  # only reached with --force
                trash = self.work / "replaced"
                self.final.rename(trash)
            try:
                self.staging.rename(self.final)
            except OSError:
                if trash is not None:  # put the old release back: one or the other is in place, never neither
                    trash.rename(self.final)
                raise
            runlog.layout_published(self.final)
        shutil.rmtree(self.work, ignore_errors=True)
        return self.final
