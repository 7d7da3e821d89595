import json
import os
import shutil
import subprocess

import pytest
import yaml

import manifests

from curation import stats
from curation.cli import main
from curation.config import load_job
from curation.pipeline import run_job
from tests.conftest import SAMPLES, write_job

TW = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]
ENGLISH = ["Use automatic redaction to define words and patterns that are automatically marked for redaction.",
           "Click the Browse online templates button in the dialog to select and download more templates."]
SIMPLIFIED = "软件和内存的视频网络设置都在这里，请打开默认的服务器。这是一段简体中文的文字，用来测试过滤。"


@pytest.fixture
def known_release(tmp_path):
    """A run whose drops are known: 2 English, 1 Simplified, 1 exact duplicate, 3 Traditional documents kept,
    split over two sources."""
    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps({"id": f"a{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TW[1:4])), encoding="utf-8")
    b = tmp_path / "b.jsonl"
    rows = [{"id": "en1", "text": ENGLISH[0]}, {"id": "en2", "text": ENGLISH[1]}, {"id": "cn", "text": SIMPLIFIED}, {"id": "dup", "text": TW[1]}]
    b.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    job = write_job(tmp_path, [{"name": "a", "kind": "jsonl", "path": str(a)}, {"name": "b", "kind": "jsonl", "path": str(b)}],
                    steps={"language": {"enabled": True}, "script": {"enabled": True, "action": "drop"},
                           "dedup": {"enabled": True, "source_priority": ["a"]}})
    return run_job(load_job(job))


def test_stats_numbers_match_known_drops(known_release):
    release, manifest = stats.release_dir(known_release)
    f = {row["source"]: row for row in stats.funnel(manifest).to_dicts()}
    assert f["a"] == {"source": "a", "read": 3, "normalize": 3, "pii": 3, "domains": 3, "clean": 3, "language": 3, "script": 3, "dedup": 3, "kept": 3}
    assert f["b"] == {"source": "b", "read": 4, "normalize": 4, "pii": 4, "domains": 4, "clean": 4, "language": 2, "script": 1, "dedup": 0, "kept": 0}
    drops = {(r["step"], r["reason"], r["source"]): r["documents"] for r in stats.drop_reasons(manifest).to_dicts()}
    assert drops == {("language", "other_language", "b"): 2, ("script", "script_hans", "b"): 1, ("dedup", "exact_duplicate", "b"): 1}
    table = stats.stats_table(manifest)
    en = table.filter((table["step"] == "language") & (table["reason"] == "other_language")).row(0, named=True)
    assert en["characters"] == sum(len(t) for t in ENGLISH)
    parquet = __import__("polars").read_parquet(release / "stats" / "steps.parquet")
    assert parquet.equals(table)
    scores = {r["score"]: r for r in stats.score_quantiles(release).to_dicts()}
    assert scores["lang_score"]["n"] == 7 and scores["hant_ratio"]["n"] == 5  # English text never reaches the script step


def test_stats_cli_json_csv_and_compare(known_release, tmp_path, capsys):
    assert main(["stats", str(known_release), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"funnel", "drops", "scores", "steps"} <= set(data)
    assert main(["stats", str(known_release), "--csv"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.splitlines()[0] == "step,source,outcome,reason,documents,characters" and "other_language" in csv_text
    converted = known_release.parent.parent.parent / "converted"
    job = yaml.safe_load((converted.parent / "job.yaml").read_text())
    job["steps"]["script"]["action"] = "convert"  # the Simplified document is now converted, not dropped
    job["output"] = str(converted)
    (converted.parent / "converted.yaml").write_text(yaml.safe_dump(job, allow_unicode=True))
    newer = run_job(load_job(converted.parent / "converted.yaml"))
    rows = {(r["step"], r["reason"]): r for r in stats.compare(manifests.load(known_release), manifests.load(newer)).to_dicts()}
    assert rows[("script", "script_hans")]["old_rate"] == pytest.approx(1 / 5) and rows[("script", "script_hans")]["new_rate"] is None
    assert rows[("script", "script_hans")]["change"] == pytest.approx(-1 / 5)  # the drop went away: a negative change
    assert rows[("language", "other_language")]["change"] == 0
    assert main(["stats", str(known_release), "--compare", str(newer)]) == 0
    out = capsys.readouterr().out
    assert "funnel per source" in out and "drop rates compared" in out
    # `stats A --compare B` reads B as the earlier release: A drops the Simplified document that B converted
    line = next(x for x in out.splitlines() if "script_hans" in x and "null" in x)
    assert [c.strip() for c in line.strip("│ ").split("┆")][2:] == ["null", "0.2", "0.2"]


def test_inspect_samples_are_filtered_and_repeatable(known_release, capsys):
    release = known_release
    picked = stats.sample(release, step="language", reason="other_language", source="b", n=5, seed=3)
    assert sorted(d["id"] for d in picked) == ["b/en1", "b/en2"]
    assert [d["id"] for d in stats.sample(release, n=2, seed=7)] == [d["id"] for d in stats.sample(release, n=2, seed=7)]
    assert {d["source"] for d in stats.sample(release, kept=True, n=10)} == {"a"}
    assert main(["inspect", str(release), "--step", "script", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "b/cn" in out and "script:script_hans" in out and '"script": "hans"' in out


def chromium() -> str | None:
    path = shutil.which("chromium")
    if path is None and os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
    return path


def run_chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chrome-profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_in_headless_chromium(known_release, tmp_path):
    if chromium() is None:
        pytest.skip("chromium not installed (CI installs it)")
    report = tmp_path / "report.html"
    assert main(["report", str(known_release), "-o", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert "cdn" not in page.lower().split("<body>", 1)[1][:2000] and "plotly" in page  # plotly.js is inline
    dom = run_chromium(["--dump-dom", report.as_uri()], tmp_path)
    assert dom.returncode == 0
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count('class="main-svg"') >= 2 * 4  # funnel, reasons and score histograms drew their SVG
    assert "script: script_hans" in dom.stdout and "b/cn" in dom.stdout
    shot = tmp_path / "report.png"
    run_chromium(["--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_console_error_detection_is_not_vacuous(tmp_path):
    if chromium() is None:
        pytest.skip("chromium not installed (CI installs it)")
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); missingFunction();</script></body></html>")
    result = run_chromium(["--dump-dom", bad.as_uri()], tmp_path)
    assert len(console_messages(result.stderr)) == 2


def test_stats_tables_use_the_terminals_width(known_release, capsys, monkeypatch):
    """Issue 41: tables wrapped at ~100 columns in a 160-column terminal."""
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["stats", str(known_release)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "source" in line and "read" in line)
    assert all(step in header for step in ("normalize", "language", "script", "dedup", "kept"))  # one row, unwrapped
