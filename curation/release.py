"""Release directories: version resolution, the write-elsewhere-then-rename rule, and `ReleaseBuild`, the one way
every command (curate run, synth, label-quality, mix) makes a release."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from curation import runlog
from curation.errors import CurateError, ReleaseExistsError
from manifests import storage


def parse_semver(v: str) -> tuple[int, int, int] | None:
    parts = v.split(".")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else None  # type: ignore[return-value]


def released_versions(output: Path, name: str, marker: str = "manifest.json") -> list[str]:
    """Published versions of `name`: directories holding `marker` (a release's manifest.json, a mixture's mixture.json).
    For a staging folder, those in the bucket it stages for."""
    if remote := storage.staged_for(output):
        names = storage.released_versions(remote, name, marker)
    else:
        root = output / name
        names = [d.name for d in root.iterdir() if (d / marker).is_file()] if root.is_dir() else []
    return sorted((v for v in names if parse_semver(v)), key=lambda v: (parse_semver(v), v))


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
    """Where a run writes: `<output>/.work/<name>/<version>/` while running, `<output>/<name>/<version>/` when done.
    When `output` is the staging folder of an object-storage output (manifests.storage.staging_root), the work folder
    is there and "done" is `<url>/<name>/<version>` in the bucket (`remote`), uploaded by `publish`."""

    def __init__(self, output: Path, name: str, version: str, marker: str = "manifest.json"):
        self.output = output
        self.name = name
        self.version = version
        self.marker = marker  # what a finished release holds: manifest.json, or a mixture's mixture.json
        self.final = output / name / version
        remote = storage.staged_for(output)
        self.remote = storage.join(remote, name, version) if remote else None
        self.work = output / ".work" / name / version
        self.staging = self.work / "release"
        self.logs = self.work / "logs"

    def parent_copy(self, version: str) -> Path:
        """Where a run whose releases are in object storage keeps its copy of the parent release `version` (of the same
        name): in the work folder, which only the holder of this version's lock writes and `publish` removes."""
        return self.work / "parent" / version

    def lineage(self, parent: Path) -> str:
        """The parent's path relative to this release's folder ("../0.1.0"); a `parent_copy` stands for the release
        beside this one in the bucket."""
        if parent.parent == self.work / "parent":
            parent = self.final.parent / parent.name
        return os.path.relpath(parent, self.final)

    def published(self) -> bool:
        if self.remote:
            return storage.exists(storage.join(self.remote, self.marker))
        return self.final.exists()

    def prepare(self, force: bool = False, resume: bool = False) -> None:
        if self.published() and not force:
            where = self.remote or self.final
            raise ReleaseExistsError(f"release {where} already exists; releases are immutable (use --force to replace it)")
        if self.work.exists() and not resume:
            shutil.rmtree(self.work)
        self.staging.mkdir(parents=True, exist_ok=True)
        runlog.layout_prepared(self.output, self.name, self.version, self.work, resume=resume, force=force)

    def publish(self) -> Path | str:
        """Atomically move the finished staging directory into place (rename within one filesystem). A stop signal
        (SIGTERM, Ctrl-C) waits until the release is in place, so it is never half there: with --force, never the old
        one moved away and the new one not yet in. Object storage: uploaded, manifest last (storage.upload_release); the
        work folder, the staged release in it, is removed only once the upload is whole, so a run stopped during the
        upload publishes with --resume."""
        if self.remote:
            with runlog.signals_deferred():
                storage.upload_release(self.staging, self.remote, self.marker)
                runlog.layout_published(self.remote)
            shutil.rmtree(self.work, ignore_errors=True)
            return self.remote
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


def strict_check(alerts: list[str], strict: bool, work: Path) -> list[str]:
    """The alert rule of every release: alerts are kept in its manifest and make the exit code 5; with `strict`, any
    alert fails the run here, before anything is published (exit 1), the work folder kept for a look."""
    if alerts and strict:
        raise CurateError(f"{len(alerts)} alert(s), strict run not published (work kept in {work}): " + "; ".join(alerts))
    return alerts


class ReleaseBuild:
    """How a command makes a release, so the CLI and Python callers follow the same rules: the release lock (a second
    run of the same name and version exits 3; a stale lock is taken over), the work folder (fresh, or resumed), the
    alert rule (`strict_check`) and the atomic publish. Use as a context manager around the whole build:

        with ReleaseBuild(job.output_dir, job.name, job.version, force=force, strict=strict) as build:
            build.prepare()
            ...write into build.staging...
            build.check_alerts(alerts)
            path = build.publish()
    """

    def __init__(self, output: Path, name: str, version: str, force: bool = False, resume: bool = False, strict: bool = False,
                 marker: str = "manifest.json", run_id: str | None = None):
        from curation.runlog import new_run_id

        self.layout = ReleaseLayout(output, name, resolve_version(output, name, version, marker), marker)
        self.force, self.resume, self.strict = force, resume, strict
        self.run_id = run_id or new_run_id()
        self.lock = None

    @property
    def version(self) -> str:
        return self.layout.version

    @property
    def staging(self) -> Path:
        return self.layout.staging

    @property
    def work(self) -> Path:
        return self.layout.work

    def __enter__(self) -> ReleaseBuild:
        from curation.runlog import ReleaseLock

        self.lock = ReleaseLock(self.layout.output / ".work" / self.layout.name / f"{self.version}.lock", self.run_id).__enter__()
        return self

    def prepare(self) -> None:
        """The work folder, under the lock: an existing release stops the build unless `force`; an earlier work
        folder is kept with `resume`, else started afresh."""
        self.layout.prepare(force=self.force, resume=self.resume)

    def __exit__(self, *exc) -> None:
        self.lock.__exit__(*exc)

    def check_alerts(self, alerts: list[str]) -> list[str]:
        return strict_check(alerts, self.strict, self.work)

    def publish(self) -> Path:
        return self.layout.publish()
