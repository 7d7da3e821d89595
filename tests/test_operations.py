import json
import os
import signal
import subprocess
import sys
import time

import manifests
from curation.cli import main
from tests.conftest import SAMPLES, write_job


def big_job(tmp_path, n=6000):
    pages = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]
    for part in range(4):
        with open(tmp_path / f"in{part}.jsonl", "w", encoding="utf-8") as f:
            for i in range(n // 4):
                k = part * n + i
                f.write(json.dumps({"id": f"d{k}", "text": f"第{k}篇：" + pages[k % len(pages)][k % 50:]}, ensure_ascii=False) + "\n")
    return write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(tmp_path / "in*.jsonl")}],
                     steps={"dedup": {"enabled": True}}, executor={"tasks": 4, "workers": 1},
                     alert_drop_share=1.0)  # the pages repeat on purpose: dedup removes nearly all, which is not news here


def curate(*args):
    # its own session, so the test can kill the whole job (datatrove's multiprocess manager included) as a
    # scheduler does
    return subprocess.Popen([sys.executable, "-m", "curation.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: int = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_kill_9_then_resume_gives_the_same_release(tmp_path):
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    clean_job, killed_job = big_job(tmp_path / "clean"), big_job(tmp_path / "killed")
    code, err = finish(curate("run", str(clean_job)))
    assert code == 0, err
    clean = manifests.load(tmp_path / "clean/out/t/0.1.0")

    proc = curate("run", str(killed_job))
    completions = tmp_path / "killed/out/.work/t/0.1.0/logs/completions"
    deadline = time.time() + 120
    while time.time() < deadline and not (completions.is_dir() and len(list(completions.iterdir())) >= 1):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 part-way through the first stage
    proc.communicate()
    done_at_kill = len(list(completions.iterdir()))
    assert 1 <= done_at_kill < 4, done_at_kill  # killed with work left: some tasks finished, some not
    assert not (tmp_path / "killed/out/t/0.1.0").exists()  # no half-written release

    code, err = finish(curate("run", str(killed_job), "--resume"))
    assert code == 0, err
    again = manifests.load(tmp_path / "killed/out/t/0.1.0")
    assert again.content_hash == clean.content_hash
    assert again.totals == clean.totals
    assert manifests.verify(tmp_path / "killed/out/t/0.1.0") == []


def test_concurrent_run_is_refused_with_exit_3(tmp_path, capsys):
    job = big_job(tmp_path, n=400)
    lock = tmp_path / "out/.work/t/0.1.0.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "run_id": "other"}))
        assert main(["run", str(job)]) == 3
        assert "locked by run other" in capsys.readouterr().err
        assert not (tmp_path / "out/t/0.1.0").exists()
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    job = big_job(tmp_path, n=400)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "out/.work/t/0.1.0.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "run_id": "crashed"}))
    assert main(["run", str(job)]) == 0
    assert not lock.exists()
    events = [json.loads(line) for line in (tmp_path / "out/logs/t-0.1.0.jsonl").read_text().splitlines()]
    # progress lines (not a terminal here) come between; the run's milestones are these
    milestones = [e["event"] for e in events if e["event"] != "progress"]
    assert milestones == ["stale_lock_taken_over", "start"] + ["stage_done"] * 5 + ["costs", "published"]
    assert [e["stage"] for e in events if e["event"] == "progress"] == ["read and filter", "lsh buckets", "dedup clusters", "dedup filter"]
    assert [e["stage"] for e in events if e["event"] == "stage_done"] == ["read and filter", "lsh buckets", "dedup clusters", "dedup filter",
                                                                          "finalize"]
    assert len({e["run_id"] for e in events}) == 1 and events[0]["previous"]["run_id"] == "crashed"


def test_sigterm_exits_143_and_resume_finishes(tmp_path):
    job = big_job(tmp_path)
    proc = curate("run", str(job))
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "out/.work/t/0.1.0/logs").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, 120)
    assert code == 143 and "--resume" in err  # 128 + SIGTERM, as a shell reports it (was 4)
    assert not (tmp_path / "out/t/0.1.0").exists() and not (tmp_path / "out/.work/t/0.1.0.lock").exists()
    assert finish(curate("run", str(job), "--resume"))[0] == 0
    assert manifests.verify(tmp_path / "out/t/0.1.0") == []


def test_small_failure_modes_say_so(tmp_path, capsys):
    """Issue #31 item 10 and names: each used to pass silently or end in a traceback."""
    from curation.cli import main
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "一段足夠長的中文內容，用來建立一個小小的發行版本，以便檢查指令的行為是否正確。"}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    bad = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], name="..")
    assert main(["run", str(bad)]) == 2 and "name" in capsys.readouterr().err
    bad = write_job(tmp_path, [{"name": "..", "kind": "jsonl", "path": str(src)}])
    assert main(["run", str(bad)]) == 2
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}])
    assert main(["run", str(job)]) == 0
    release = str(tmp_path / "out/t/0.1.0")
    capsys.readouterr()
    assert main(["inspect", release, "--step", "nosuchstep"]) == 2
    assert "its steps: normalize" in capsys.readouterr().err
    # a wrong text_field: every record rejected, an alert and exit 5 instead of a silent empty release
    wrong = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src), "text_field": "body"}], version="0.2.0")
    assert main(["run", str(wrong)]) == 5
    assert "source x: 0 documents read (missing_field 1)" in capsys.readouterr().err
    assert main(["run", str(wrong), "--strict", "--force"]) == 1
    # config diff names the key that changed
    assert main(["manifest", "diff", release, str(tmp_path / "out/t/0.2.0")]) == 0
    assert "sources[0].text_field" in capsys.readouterr().out


def test_a_disk_error_is_one_error_line_and_clean_removes_stopped_work(tmp_path, capsys):
    from curation.cli import main
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "內容"}, ensure_ascii=False) + "\n", encoding="utf-8")
    # the output path is a file: every write under it fails as a real OSError (ENOTDIR), the way a read-only or full disk
    # does (root ignores permission bits, so a read-only folder cannot be made here)
    (tmp_path / "blocked").write_text("not a folder")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], output=str(tmp_path / "blocked"))
    assert main(["run", str(job)]) == 6
    err = capsys.readouterr().err
    assert err.count("curate: error:") == 1 and "Errno 20" in err and "Traceback" not in err
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}])
    stale = tmp_path / "out/.work/t/0.1.0/release"
    stale.mkdir(parents=True)
    (stale / "part.parquet").write_bytes(b"x" * 1000)
    assert main(["clean", str(job)]) == 0
    assert not (tmp_path / "out/.work/t/0.1.0").exists() and "removed" in capsys.readouterr().out


def test_runs_starting_together_get_one_lock(tmp_path):
    """Runs started at the same moment (two cron entries, a retry): exactly one holds the lock, the others exit as
    locked; none reads the lock while its holder is still writing it and takes a live run's lock for a stale one."""
    import multiprocessing

    from curation.runlog import LockedError, ReleaseLock

    def contend(path, start, results):
        start.wait()
        try:
            with ReleaseLock(path, run_id=f"run-{os.getpid()}"):
                results.put("held")
                time.sleep(0.5)  # held while every other contender tries
        except LockedError:
            results.put("locked")

    ctx = multiprocessing.get_context("fork")
    for attempt in range(12):  # the race is narrow: the code before this test lost it in about 1 of 3 runs of 5
        path = tmp_path / f"{attempt}/0.1.0.lock"
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=contend, args=(path, start, results)) for _ in range(8)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes == ["held"] + ["locked"] * 7, outcomes
        assert not path.exists() and list(path.parent.iterdir()) == []  # no lock and no draft left behind
