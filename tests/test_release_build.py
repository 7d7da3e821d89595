"""Every command makes its release under the same rules (curation/release.py ReleaseBuild): the lock, the alert rule
and --strict, for Python callers as for the CLI."""

import json
import os
import socket

import pytest
import yaml

import manifests
from curation.cli import main
from curation.config import load_job
from curation.errors import CurateError, LockedError
from curation.pipeline import run_job
from tests.conftest import SAMPLES, write_job
from tests.test_quality_model import cpt_release, label_job  # noqa: F401 - the module-scoped release fixture


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: every request is refused
    return f"http://127.0.0.1:{port}/v1"


def test_a_label_run_whose_requests_all_fail_alerts_and_strict_publishes_nothing(tmp_path, cpt_release, capsys):  # noqa: F811
    job = label_job(tmp_path, cpt_release, closed_port(), sample=6, max_retries=0, timeout_s=1)
    assert main(["label-quality", str(job), "--strict"]) == 1
    assert "label-quality: 0 documents labeled of 6 requests (6 failed)" in capsys.readouterr().err
    assert not (tmp_path / "labels/qlabels/0.1.0").exists()
    assert main(["label-quality", str(job)]) == 5  # published, with the alert in its manifest
    assert manifests.load(tmp_path / "labels/qlabels/0.1.0").alerts == ["label-quality: 0 documents labeled of 6 requests (6 failed)"]


def test_a_synth_run_takes_the_release_lock(tmp_path, capsys):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"instruction": "臺灣最高的山？", "output": "玉山，海拔約 3,952 公尺。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    job = tmp_path / "s.yaml"
    job.write_text(yaml.safe_dump({"name": "sft", "version": "0.1.0", "output": str(tmp_path / "out"),
                                   "tasks": [{"kind": "import", "input": str(data)}]}, allow_unicode=True))
    lock = tmp_path / "out/.work/sft/0.1.0.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": "another-run"}))
    assert main(["synth", str(job)]) == 3  # another run of the same release holds it
    assert "locked by run another-run" in capsys.readouterr().err
    lock.unlink()
    assert main(["synth", str(job)]) == 0 and not lock.exists()


def test_python_callers_get_strict_and_incremental_as_the_cli_does(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    page = json.loads((SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()[1])["content"]
    (inbox / "a.jsonl").write_text(json.dumps({"id": "a", "text": page}, ensure_ascii=False) + "\n", encoding="utf-8")
    job = load_job(write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}], version="auto",
                             incremental=True, steps={"language": {"enabled": True, "languages": ["zhh"]}}))
    with pytest.raises(CurateError, match="strict run not published.*release: 0 documents kept of 1 read"):
        run_job(job, strict=True)
    first = run_job(job)  # published with its alert
    assert manifests.load(first).alerts and first.name == "0.1.0"
    assert run_job(job) is None  # incremental from Python too: the newest release recorded every input file


def test_two_runs_of_one_release_never_interleave(tmp_path):
    job = load_job(write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(SAMPLES / "news/*.jsonl"),
                                         "text_field": "content"}]))
    lock = tmp_path / "out/.work/t/0.1.0.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": "other"}))
    with pytest.raises(LockedError):
        run_job(job)
