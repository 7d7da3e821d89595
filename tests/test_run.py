import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

import manifests
from curation.pipeline import run_job

from curation.cli import main
from tests.conftest import write_job

MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|\{\||'''|</?[a-zA-Z][^>]*>|\x1b")


def test_demo_release_end_to_end(demo_job, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(demo_job)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    release = tmp_path / "out" / "demo" / "0.1.0"
    assert proc.stdout.strip().splitlines()[-1] == str(release)
    manifest = json.loads((release / "manifest.json").read_text())
    df = pl.read_parquet(release / "data" / "**" / "*.parquet")
    counts = dict(df.group_by("source").len().iter_rows())
    # 2 LibreOffice help pages left (mostly) untranslated English are dropped by language ID; 2 more, half or
    # more Chinese (Han letters >= cjk_majority, an English word counted as one letter), are kept
    assert counts == {"zhwiki": 4, "news": 14, "laws": 3, "ptt": 6}
    assert set(df["kind"]) == {"wiki", "news", "legal", "social"}
    for text in df["text"]:
        assert not MARKUP.search(text), text[:200]
        assert "\r" not in text and "  " not in text
    assert df["id"].n_unique() == df.height
    assert manifest["totals"]["documents"] == df.height
    assert {s["name"]: s["documents"] for s in manifest["sources"]} == counts
    assert all(s["input_files"] for s in manifest["sources"])
    assert manifest["mixture_weights"]["laws"] == pytest.approx(2 * manifest["mixture_weights"]["news"])
    normalize = next(s for s in manifest["steps"] if s["step"] == "normalize")
    assert normalize["input"] == 29 and normalize["by_source"]["ptt"] == {"in": 6, "kept": 6, "chars_kept": 2122}  # 2,250 read, less ANSI colour codes and indentation
    assert not (tmp_path / "out" / ".work" / "demo" / "0.1.0").exists()
    language = next(s for s in manifest["steps"] if s["step"] == "language")
    news = language["by_source"]["news"]
    assert {k: v for k, v in news.items() if not k.startswith("chars")} == {"in": 16, "kept": 14, "dropped_other_language": 2}
    assert news["chars_kept"] + news["chars_dropped_other_language"] == sum(  # what the step before it passed on
        s["by_source"]["news"]["chars_kept"] for s in manifest["steps"] if s["step"] == "clean")
    # the demo converts Simplified/mixed posts and the zh-CN help pages to Taiwan Traditional
    annotations = [json.loads(a) for a in df["annotations"]]
    assert {a["script"] for a in annotations} == {"hant"}
    converted = [a for a, src in zip(annotations, df["source"]) if a.get("converted")]
    # mostly Traditional posts with stray Simplified characters have just those characters repaired
    repaired = [a for a in annotations if a.get("repaired")]
    assert len(converted) == 6 and {a["original_script"] for a in converted} == {"hans", "mixed"}
    assert len(repaired) == 3 and {a["original_script"] for a in repaired} == {"mixed"}


def test_release_is_immutable_and_auto_bumps(demo_job, tmp_path, capsys):
    assert main(["run", str(demo_job)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert first.endswith("/demo/0.1.0")
    assert main(["run", str(demo_job)]) == 0  # version: auto
    assert capsys.readouterr().out.strip().endswith("/demo/0.1.1")
    pinned = yaml.safe_load(demo_job.read_text()) | {"version": "0.1.1"}
    demo_job.write_text(yaml.safe_dump(pinned))
    assert main(["run", str(demo_job)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["run", str(demo_job), "--force"]) == 0


def test_bad_records_end_up_in_release_rejects(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "ok one"}\n{"text": oops}\n{"text": "   "}\n{"text": "ok two"}\n')
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}])
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out" / "t" / "0.1.0"
    assert pl.read_parquet(release / "data" / "**" / "*.parquet").height == 2
    rejects = [json.loads(line) for line in (release / "rejects" / "read" / "x-00000.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "malformed_json"), (3, "empty_text")]
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["rejects"] == {"malformed_json": 1, "empty_text": 1}


def test_normalizer_drops_are_written_with_reason(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "長度足夠的一段正常文字。"}\n{"text": "短"}\n', encoding="utf-8")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], steps={"normalize": {"min_chars": 5}})
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out" / "t" / "0.1.0"
    dropped = pl.read_ndjson(release / "rejects" / "normalize" / "x-00000.jsonl.gz")
    assert dropped["text"].to_list() == ["短"]
    assert dropped["metadata"][0]["filter_reason"] == "normalize:too_short"


def test_progress_lines_in_the_run_log_when_not_a_terminal(tmp_path):
    from curation.cli import main
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"第{i}份文件的內容，足夠長來通過品質檢查的一段中文文字。"}, ensure_ascii=False) + "\n"
                           for i in range(40)), encoding="utf-8")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], executor={"tasks": 3, "workers": 1},
                    progress_every_s=0.5)
    assert main(["run", str(job)]) == 0  # pytest's stderr is not a terminal
    events = [json.loads(line) for line in (tmp_path / "out/logs/t-0.1.0.jsonl").read_text().splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["stage"] == "read and filter"
    assert progress[-1]["tasks_done"] == progress[-1]["tasks"] == 3 and "eta_s" in progress[-1] and "tasks_per_min" in progress[-1]


def test_plan_predicts_the_small_release_and_warns_where_settings_do_not_fit(demo_job, tmp_path, capsys):
    from curation.config import load_job
    from curation.plan import make_plan

    job = load_job(demo_job)
    plan = make_plan(job)
    # a fresh process, as a scheduled run is: with one worker datatrove runs tasks in the calling process, and inside
    # pytest that process already holds every model earlier tests loaded (708 MB measured for a 310 MB task)
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(demo_job)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    release = Path(run.stdout.strip().splitlines()[-1])
    manifest = json.loads((release / "manifest.json").read_text())
    actual = {s["name"]: (s["documents"], s["characters"], s["tokens"]) for s in manifest["sources"]}
    # the sample is the whole (small) input: the plan's kept documents, characters and tokens are the release's
    # (the demo's near-duplicate removal takes nothing here)
    assert {s.name: (s.kept_docs, s.kept_chars, s.kept_tokens) for s in plan.sources} == actual
    # its stages are the run's, and its memory per task is of the order the run's tasks logged (time on a shared CI
    # machine varies too much to assert)
    events = [json.loads(line) for line in next((release.parents[1] / "logs").glob("*.jsonl")).read_text().splitlines()]
    measured = {e["stage"]: e for e in events if e["event"] == "stage_done"}
    assert [st["stage"] for st in plan.stages] == list(measured)
    read_mb = measured["read and filter"]["task_peak_rss_mb"]
    # standalone the demo's read task peaks at ~310-350 MB (plan: 350), also in CI's venv; late in the full suite the
    # same fresh process measured 708-726 MB and once 1,376 MB on a clean clone (not explained yet: RESULTS, issue 41
    # notes), hence 0.2, not 0.5: only a plan off by 5x fails here; bench/scale/workers.py measures its accuracy
    assert 0.2 * read_mb <= plan.stages[0]["task_mb"] <= 2 * read_mb
    assert all(st["seconds"] > 0 for st in plan.stages) and plan.totals["seconds"] == sum(st["seconds"] for st in plan.stages)
    assert main(["plan", str(demo_job)]) == 0
    out = capsys.readouterr().out
    assert "read and filter" in out and "dedup clusters" in out and "no setting looks too small" in out
    data = yaml.safe_load(demo_job.read_text())
    data["executor"] = {"kind": "slurm", "tasks": 2000, "workers": 64, "mem_per_cpu_gb": 0.1, "partition": "cpu"}
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    warnings = make_plan(load_job(demo_job)).warnings
    assert any(w.startswith("memory:") for w in warnings) and any(w.startswith("slurm:") for w in warnings)
    assert any(w.startswith("tasks:") for w in warnings)  # 2000 tasks for 8 files


def random_text_dedup_job(tmp_path: Path, docs: int, tasks: int, workers: int) -> Path:
    """A job over `docs` unrelated texts (random Han characters: dedup removes nothing, so no alert) with dedup on."""
    import random

    rng, pool = random.Random(3), "天地玄黃宇宙洪荒日月盈昃辰宿列張寒來暑往秋收冬藏閏餘成歲律呂調陽雲騰致雨露結為霜金生麗水玉出崑岡"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": "".join(rng.choices(pool, k=120))}, ensure_ascii=False) + "\n"
                           for _ in range(docs)), encoding="utf-8")
    return write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], executor={"tasks": tasks, "workers": workers},
                     steps={"dedup": {"enabled": True}})


def test_run_log_times_every_stage_and_records_task_memory(tmp_path):
    job = random_text_dedup_job(tmp_path, docs=40, tasks=2, workers=1)
    assert main(["run", str(job)]) == 0
    events = [json.loads(line) for line in (tmp_path / "out/logs/t-0.1.0.jsonl").read_text().splitlines()]
    done = {e["stage"]: e for e in events if e["event"] == "stage_done"}
    assert list(done) == ["read and filter", "lsh buckets", "dedup clusters", "dedup filter", "finalize"]
    assert all(e["seconds"] > 0 for e in done.values())
    # every task logs its process's peak memory; a Python process with the models loaded holds well over 50 MB
    assert all(e["task_peak_rss_mb"] > 50 for s, e in done.items() if s != "finalize")
    assert done["finalize"]["driver_peak_rss_mb"] > 50
    manifest = json.loads(next((tmp_path / "out/t").glob("*/manifest.json")).read_text())
    assert "task memory" not in [s["step"] for s in manifest["steps"]]


def test_shard_writer_copies_share_one_token_counter():
    """datatrove copies the writer for every task; each copy loading its own BPE vocabulary grew a worker ~50 MB a
    task, so the copies share one counter per tokenizer and process."""
    import copy

    from curation.shards import ShardWriter

    first = ShardWriter("/tmp/x", "qwen2.5")
    second = copy.deepcopy(ShardWriter("/tmp/x", "qwen2.5"))
    assert first.counter is second.counter
    assert first.counter.count("今天天氣很好") == second.counter.count("今天天氣很好") > 0


def test_release_is_the_same_for_any_worker_count_with_many_tasks(tmp_path):
    """Many read tasks make the dedup bucket tasks verify across many part pairs (the per-task mapping cache)."""
    from curation.config import load_job
    from tests.conftest import write_job

    texts = [f"這是第{i % 23}篇關於臺灣夜市小吃的文章，介紹鹽酥雞、蚵仔煎與珍珠奶茶的做法和歷史，第{i % 7}段。" * 3 for i in range(240)]
    for k in range(12):
        (tmp_path / f"in{k:02d}.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts[k::12]),
                                                   encoding="utf-8")
    hashes, totals = [], []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        root.mkdir()
        job = write_job(root, [{"name": "x", "kind": "jsonl", "path": str(tmp_path / "in*.jsonl")}],
                        executor={"tasks": 12, "workers": workers}, steps={"dedup": {"enabled": True}})
        m = manifests.load(run_job(load_job(job)))
        hashes.append(m.content_hash)
        totals.append(m.totals["documents"])
    assert hashes[0] == hashes[1]
    assert totals[0] == totals[1] < 240  # the repeated texts were removed


def test_datatrove_logs_stay_off_the_terminal_with_several_workers_unless_verbose(tmp_path, capfd):
    """Worker processes inherit the terminal's stderr: without -v only curate's own lines reach it."""
    job = random_text_dedup_job(tmp_path, docs=30, tasks=4, workers=2)
    assert main(["run", str(job)]) == 0
    err = capfd.readouterr().err
    assert "datatrove" not in err and "Launching pipeline" not in err and "tasks completed" not in err, err[:2000]
    assert main(["-v", "run", str(job), "--force"]) == 0
    assert "Launching pipeline" in capfd.readouterr().err
