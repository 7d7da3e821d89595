"""Issue 41: a scheduled run tells the truth when it stops. Every run log ends with an end event (`published`,
`failed` with the CLI's one line, `interrupted` with the signal); a stop signal leaves nothing half-published, removes
the lock and exits 128 + the signal, and `--resume` then publishes; a disk error names the path; `curate plan` warns
about an output it could not write. Each test runs `curate` as a real child process against real files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import manifests
from tests.conftest import write_job
from tests.llm_stub import Stub


def curate(*args, cwd=None) -> subprocess.Popen:
    # its own session, as a scheduler starts a task, so the test can see that no process of the job is left
    return subprocess.Popen([sys.executable, "-m", "curation.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=cwd)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, list[str]]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, [line for line in err.splitlines() if line.startswith("curate:")]


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def wait_for(log: Path, event: str, proc: subprocess.Popen, timeout: float = 60, count: int = 1) -> None:
    deadline = time.time() + timeout
    while sum(e["event"] == event for e in events(log)) < count:
        assert proc.poll() is None, f"curate exited ({proc.returncode}) before logging {event}: {proc.communicate()}"
        assert time.time() < deadline, f"no {event} event in {log} after {timeout} s"
        time.sleep(0.02)


def group_gone(pgid: int, timeout: float = 10) -> bool:
    """No process of the job's session is left (workers, datatrove's manager, a local LLM server)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def last_run(log: Path) -> list[dict]:
    """The events of the newest run in a run log (a resumed run appends to the same file)."""
    evs = events(log)
    return [e for e in evs if e["run_id"] == evs[-1]["run_id"]]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_ends_the_log_with_interrupted_and_resume_publishes(demo_job, tmp_path, sig):
    """Before: SIGTERM left `start`, `progress`, `stage_done` and nothing after (exit 4, the lock left behind); SIGINT
    logged `failed` with the message "KeyboardInterrupt: "; SIGHUP killed the run with no word at all."""
    out = tmp_path / "out"
    log, lock, release = out / "logs/demo-0.1.0.jsonl", out / ".work/demo/0.1.0.lock", out / "demo/0.1.0"
    proc = curate("run", demo_job)
    wait_for(log, "start", proc)
    time.sleep(0.3)  # inside the first stage: its tasks are running
    proc.send_signal(sig)  # the run's own process, as Airflow, systemd or Slurm signal it
    code, lines = finish(proc, 60)
    name = signal.Signals(sig).name
    assert code == 128 + sig  # 143 SIGTERM, 130 SIGINT, 129 SIGHUP: what a shell reports for a process a signal ended
    assert lines == [f"curate: interrupted by {name}; nothing published; rerun with --resume to continue"]
    run = last_run(log)
    assert run[0]["event"] == "start" and run[-1]["event"] == "interrupted"
    assert run[-1]["signal"] == name and run[-1]["exit_code"] == code and run[-1]["work"] == str(out / ".work/demo/0.1.0")
    assert [e["event"] for e in run].count("interrupted") == 1 and "failed" not in [e["event"] for e in run]
    assert not release.exists() and not lock.exists()
    assert (out / ".work/demo/0.1.0").is_dir()  # the work folder stays for --resume
    assert group_gone(proc.pid), "a process of the stopped run is still there"
    if sig != signal.SIGTERM:
        return
    code, lines = finish(curate("run", demo_job, "--resume"))
    assert code == 0, lines
    resumed = last_run(log)
    assert resumed[0]["event"] == "start" and resumed[0]["resume"] is True
    assert resumed[-1] == {**resumed[-1], "event": "published", "path": str(release)}
    assert manifests.verify(release) == [] and not lock.exists()


def test_sigterm_while_publishing_waits_for_the_rename(tmp_path):
    """A signal inside the publish step (the rename) is handled once the release is in place, never between the old
    release moved away (--force) and the new one moved in: the log says `published`, the release is whole."""
    import textwrap

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "一段足夠長的中文內容，用來建立一個小小的發行版本，以便檢查指令的行為是否正確。"},
                              ensure_ascii=False) + "\n", encoding="utf-8")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}])
    assert finish(curate("run", job))[0] == 0
    # the child stops itself with a real SIGTERM in the middle of publishing: after the old release was moved away
    script = tmp_path / "publish_signal.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from curation.cli import main

        rename = Path.rename
        def rename_then_signal(self, target):
            out = rename(self, target)
            if Path(target).name == "replaced":
                os.kill(os.getpid(), signal.SIGTERM)  # delivered now; the handler must wait for the new release
            return out
        Path.rename = rename_then_signal
        sys.exit(main(["run", {str(job)!r}, "--force"]))
    """), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    release = tmp_path / "out/t/0.1.0"
    assert proc.returncode == 143, proc.stderr
    assert f"curate: interrupted by SIGTERM; the release was published: {release}" in proc.stderr
    assert manifests.verify(release) == []
    run = last_run(tmp_path / "out/logs/t-0.1.0.jsonl")
    assert run[-1]["event"] == "published" and run[-1]["signal"] == "SIGTERM"
    assert not (tmp_path / "out/.work/t/0.1.0.lock").exists()


def synth_job(tmp_path: Path, base_url: str, seeds: int, marker: str = "") -> Path:
    import yaml

    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"{marker}第{i}個問題：臺灣的捷運方便嗎？", "response": "很方便。"},
                                       ensure_ascii=False) + "\n" for i in range(seeds)), encoding="utf-8")
    job = tmp_path / "synth.yaml"
    job.write_text(yaml.safe_dump({"name": "sft", "version": "0.1.0", "output": str(tmp_path / "out"),
                                   "llm": {"base_url": base_url, "model": "stub", "timeout_s": 5, "max_retries": 1, "concurrency": 2},
                                   "tasks": [{"kind": "paraphrase", "input": str(path), "count": 1}]}, allow_unicode=True),
                   encoding="utf-8")
    return job


def test_synth_keeps_a_run_log_that_ends_interrupted_then_published(tmp_path):
    """Before: `curate synth` wrote no run log at all; SIGTERM gave exit 4 and nothing a scheduler could read."""
    log = tmp_path / "out/logs/sft-0.1.0.jsonl"
    with Stub(latency=0.2) as stub:
        job = synth_job(tmp_path, stub.base_url, 16)
        proc = curate("synth", job)
        wait_for(log, "start", proc)
        deadline = time.time() + 30
        while stub.requests < 3 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        code, lines = finish(proc, 60)
        assert code == 143
        assert lines == ["curate: interrupted by SIGTERM; nothing published; rerun to continue (replies received so far are cached)"]
        run = last_run(log)
        assert [run[0]["event"], run[-1]["event"], run[-1]["signal"]] == ["start", "interrupted", "SIGTERM"]
        assert not (tmp_path / "out/sft/0.1.0").exists() and group_gone(proc.pid)
        code, lines = finish(curate("synth", job))
    assert code == 0, lines
    run = last_run(log)
    assert [e["event"] for e in run] == ["start", "published"] and run[-1]["path"] == str(tmp_path / "out/sft/0.1.0")


def test_a_failed_synth_ends_its_log_with_the_line_it_printed(tmp_path, capsys):
    """`--strict` with every request failing: exit 1, and the run log's `failed` event holds the stderr line."""
    from curation.cli import main

    with Stub() as stub:
        job = synth_job(tmp_path, stub.base_url, 2, marker="[always500] ")  # the stub answers HTTP 500 every time
        assert main(["synth", str(job), "--strict"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("curate: error: ")]
    assert len(err) == 1
    run = last_run(tmp_path / "out/logs/sft-0.1.0.jsonl")
    assert [e["event"] for e in run] == ["start", "failed"]
    assert run[-1]["error"] == err[0][len("curate: error: "):] and "strict" in run[-1]["error"]


def small_job(tmp_path: Path, **extra) -> Path:
    lines = [json.dumps({"id": f"d{i}", "text": f"第{i}段足夠長的中文內容，用來建立一個小小的發行版本。"}, ensure_ascii=False) for i in range(8)]
    for part in range(2):
        (tmp_path / f"in{part}.jsonl").write_text("\n".join(lines[part::2]) + "\n", encoding="utf-8")
    return write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(tmp_path / "in*.jsonl")}], **extra)


@pytest.mark.parametrize("workers", [1, 2])
def test_disk_full_names_the_file_in_one_line(tmp_path, workers):
    """A real ENOSPC: the first shard file the run writes is /dev/full (a symlink placed in the work folder of a
    resumed run), so the write fails in pyarrow's Parquet writer as it does on a full disk, where the OSError carries
    no file name. Before: `curate: error: I/O failure: [Errno 28] No space left on device`. With 2 workers the error
    comes from a worker process, its frames left behind: the path is read from that task's log."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    job = small_job(tmp_path, executor={"tasks": 2, "workers": workers})
    shard = tmp_path / "out/.work/t/0.1.0/release/data/x/000_00000.parquet"
    shard.parent.mkdir(parents=True)
    shard.symlink_to("/dev/full")
    code, lines = finish(curate("run", job, "--resume"))
    assert code == 6
    assert lines == [f"curate: error: I/O failure {shard}: [Errno 28] No space left on device"]
    run = last_run(tmp_path / "out/logs/t-0.1.0.jsonl")
    assert run[-1]["event"] == "failed" and run[-1]["error"] == lines[0][len("curate: error: "):]
    assert not (tmp_path / "out/t/0.1.0").exists() and not (tmp_path / "out/.work/t/0.1.0.lock").exists()
    shard.unlink()  # space again: the same run resumes and publishes
    code, lines = finish(curate("run", job, "--resume"))
    assert code == 0, lines
    assert last_run(tmp_path / "out/logs/t-0.1.0.jsonl")[-1]["event"] == "published"
    assert manifests.load(tmp_path / "out/t/0.1.0").totals["documents"] == 8


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A real small or read-only filesystem (needs root and permission to mount; the test skips otherwise)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def demo_with_output(demo_job: Path, output: Path) -> Path:
    import yaml

    data = yaml.safe_load(demo_job.read_text())
    data["output"] = str(output)
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    return demo_job


def test_the_demo_on_a_full_1mb_disk(demo_job, tmp_path):
    """The issue's probe itself: the demo job writing to a 1 MB filesystem that fills up during the first stage."""
    with tmpfs(tmp_path / "small", "size=1m") as small:
        job = demo_with_output(demo_job, small / "out")
        code, lines = finish(curate("run", job))
        assert code == 6
        assert len(lines) == 1 and lines[0].startswith(f"curate: error: I/O failure {small}/out/.work/demo/0.1.0/")
        assert lines[0].endswith(".parquet: [Errno 28] No space left on device")
        assert not (small / "out/demo/0.1.0").exists() and not (small / "out/.work/demo/0.1.0.lock").exists()
        assert last_run(small / "out/logs/demo-0.1.0.jsonl")[-1]["error"] == lines[0][len("curate: error: "):]


def plan_lines(job: Path) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "plan", str(job)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_plan_warns_about_an_output_it_cannot_write(demo_job, tmp_path):
    """Before: `no setting looks too small` for each of these."""
    assert plan_lines(demo_job)[-1] == "no setting looks too small"
    (tmp_path / "afile").write_text("not a folder")
    job = demo_with_output(demo_job, tmp_path / "afile" / "out")
    assert [line for line in plan_lines(job) if line.startswith("warning:")] == [
        f"warning: output: {tmp_path / 'afile'} is not a folder, so {tmp_path / 'afile/out'} cannot be created (a run fails with exit 6)"]
    if os.geteuid() != 0:  # permission bits stop anyone but root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        job = demo_with_output(demo_job, locked)
        assert f"warning: output: cannot write in {locked}: permission denied (a run fails with exit 6)" in plan_lines(job)
        locked.chmod(0o755)


def test_plan_warns_about_a_read_only_or_small_disk(demo_job, tmp_path):
    """As root, chmod 0o555 does not stop a write, so the read-only case is a read-only mount (skipped where none can
    be made); the small disk is a 16 KB tmpfs against the plan's own estimate of the demo's disk use (~66 KB)."""
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        job = demo_with_output(demo_job, ro / "out")
        warnings = [line for line in plan_lines(job) if line.startswith("warning:")]
        assert warnings == [f"warning: output: cannot write in {ro} (where {ro / 'out'} would be created): read-only file system "
                            f"(a run fails with exit 6)"]
    with tmpfs(tmp_path / "small", "size=16k") as small:
        job = demo_with_output(demo_job, small / "out")
        warnings = [line for line in plan_lines(job) if line.startswith("warning:")]
        assert len(warnings) == 1 and warnings[0].startswith("warning: disk: the run needs ~") and "16.0 KB free there" in warnings[0]
