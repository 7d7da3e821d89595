"""A run's work folder exchanged through object storage, for Ray workers on nodes that share no filesystem with the
driver (`executor.work_url`).

Every stage reads what the stages before it wrote into the work folder (shards, signatures, bucket runs, pairs, the
ids census, completion markers, stats) by local path, and the dedup stages memory-map those files, so the folder
stays local on every machine. What crosses machines is a copy at `<work_url>/<name>/<version>/`:

- the driver `push`es its folder before a stage (what it wrote since: the executor's description, a parent release,
  the previous stage's merged results) and `pull`s after it (what the workers wrote);
- a worker on a node that does not see the driver's folder `pull`s before its first task of the stage (a node first
  reached by this run is emptied first, so an earlier run's leftovers at the same path are never read), and `push`es
  what the stage wrote there after the stage's last task, completion markers last, so a marker is never there
  without its task's output.

Each side remembers what it last exchanged (`.mirror-state.json` in its folder: every file's size, mtime and the
object's ETag), so a file goes across only when it changed. Workers of one node share its folder: a file lock makes
one of them do the exchange and the others find nothing left to do. Names starting with `.mirror` stay local.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from manifests import storage

try:
    import fcntl
except ImportError:  # pragma: no cover - no file locks (not POSIX): one worker per node
    fcntl = None

STATE, LOCK = ".mirror-state.json", ".mirror.lock"
# an empty folder crosses as an empty object of this name inside it: a stage may expect a folder an earlier one made
EMPTY_FOLDER = ".mirror-empty-folder"
MARKERS = "completions"  # the folder of datatrove's per-task completion markers: pushed after everything else


class WorkMirror:
    """The local work folder `root` and its copy at `url`, for the run `run_id` (a fresh one per `curate run`, so a
    worker node tells this run's files from an earlier run's). Picklable (three strings): Ray ships it to the workers."""

    def __init__(self, url: str, root: str, run_id: str):
        self.url, self.root, self.run_id = url, root, run_id

    def _fs(self):
        return storage.filesystem(self.url)

    def _local(self) -> dict[str, tuple[int, int]]:
        """rel -> (size, mtime) of every file, and `<folder>/EMPTY_FOLDER` -> (0, 0) for every empty folder."""
        out = {}
        # os.walk passes over what vanishes while it looks (a task elsewhere on the node renaming its .partial file)
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".mirror")]  # a pull's download folder
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            if rel != "." and not dirs and not names:
                out[f"{rel}/{EMPTY_FOLDER}"] = (0, 0)
            for name in names:
                if not name.startswith(".mirror"):
                    try:
                        st = os.stat(os.path.join(folder, name))
                    except FileNotFoundError:
                        continue
                    out[name if rel == "." else f"{rel}/{name}"] = (st.st_size, st.st_mtime_ns)
        return out

    def _remote(self, fs, base: str) -> dict[str, str]:
        """rel -> the object's ETag (work_url is S3 only: config.ExecutorConfig)."""
        if not fs.exists(base):
            return {}
        return {p[len(base) + 1:]: info["ETag"] for p, info in fs.find(base, detail=True).items() if p.startswith(base + "/")}

    @contextmanager
    def _locked_state(self):
        """{"run": the run that last exchanged this folder, "files": rel -> [size, mtime, tag] as last exchanged}."""
        Path(self.root).mkdir(parents=True, exist_ok=True)
        with open(Path(self.root) / LOCK, "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            path = Path(self.root) / STATE
            state = json.loads(path.read_text()) if path.exists() else {}
            state.setdefault("files", {})
            yield state
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)

    def push(self) -> int:
        """Uploads every file that changed here since the last exchange and deletes the copies of files removed here;
        returns how many files went up. Completion markers go last."""
        fs, base = self._fs()
        with self._locked_state() as state:
            files, local = state["files"], self._local()
            changed = sorted(rel for rel, (size, mtime) in local.items() if files.get(rel, [None, None])[:2] != [size, mtime])
            gone = [rel for rel in files if rel not in local]
            if gone:
                fs.rm([f"{base}/{rel}" for rel in gone])
            for rel in gone:
                del files[rel]
            # many at once (s3fs sends a list concurrently): a stage leaves thousands of small files (132 bucket
            # runs a first-stage task), which one request after another took minutes to send
            markers = {rel for rel in changed if MARKERS in rel.split("/")[:-1]}
            for group in ([rel for rel in changed if rel not in markers], sorted(markers)):
                paths = [rel for rel in group if not rel.endswith(EMPTY_FOLDER)]
                if paths:
                    fs.put([str(Path(self.root) / rel) for rel in paths], [f"{base}/{rel}" for rel in paths])
                empty = [rel for rel in group if rel.endswith(EMPTY_FOLDER)]
                if empty:
                    fs.pipe({f"{base}/{rel}": b"" for rel in empty})
            if changed:
                fs.invalidate_cache(base)
                tags = self._remote(fs, base)
                for rel in changed:
                    files[rel] = [*local[rel], tags.get(rel)]
            return len(changed)

    def pull(self, worker: bool = False) -> int:
        """Downloads every object that changed there since the last exchange; on a `worker` node, also deletes what was
        deleted there (unless it changed here since). A `worker` node's folder last exchanged by another run, or never, is emptied
        first, so an earlier run's leftovers at the same path are never read; within a run, what the node's tasks
        wrote and have not sent yet is kept (a replacement worker pulls while others of its node are running).
        Returns how many files came down."""
        fs, base = self._fs()
        with self._locked_state() as state:
            root = Path(self.root)
            if worker and state.get("run") != self.run_id:
                for rel in self._local():
                    if not rel.endswith(EMPTY_FOLDER):
                        (root / rel).unlink()
                state["files"] = {}
            state["run"] = self.run_id
            files, remote, local = state["files"], self._remote(fs, base), self._local()
            for rel in [rel for rel in files if rel not in remote]:
                # deleted there: on a worker node too, unless changed here since; the driver's own folder is the
                # original, which a missing or emptied copy (an edited work_url, an expired bucket rule) never empties
                if worker and rel in local and local[rel] == tuple(files[rel][:2]) and not rel.endswith(EMPTY_FOLDER):
                    (root / rel).unlink()
                del files[rel]
            wanted = sorted(rel for rel, tag in remote.items() if rel not in files or files[rel][2] != tag)
            # all at once into a download folder, then each renamed into place: no file is ever there half-written
            part = root / ".mirror-part"
            shutil.rmtree(part, ignore_errors=True)
            got = [rel for rel in wanted if not rel.endswith(EMPTY_FOLDER)]
            for folder in {(part / rel).parent for rel in got}:
                folder.mkdir(parents=True, exist_ok=True)
            if got:
                fs.get([f"{base}/{rel}" for rel in got], [str(part / rel) for rel in got])
            for rel in wanted:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                if rel.endswith(EMPTY_FOLDER):
                    files[rel] = [0, 0, remote[rel]]
                    continue
                os.replace(part / rel, root / rel)
                st = (root / rel).stat()
                files[rel] = [st.st_size, st.st_mtime_ns, remote[rel]]
            shutil.rmtree(part, ignore_errors=True)
            return len(wanted)

    def clear(self) -> None:
        """Deletes the copy (a fresh run's start; a published release's end)."""
        fs, base = self._fs()
        if fs.exists(base):
            fs.rm(base, recursive=True)
        state = Path(self.root) / STATE
        if state.exists():
            state.unlink()
