"""Input a scheduled run must not take quietly (issue 41): truncated or corrupt files, files in another encoding than
their head suggests, ids repeated across files read by different tasks. Each runs the real `curate run`."""

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard

from curation.cli import main
from tests.conftest import write_job

COMPRESS = {"gz": gzip.compress, "bz2": lambda b: bz2.compress(b, 1), "xz": lzma.compress,
            "zst": lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b)}


def records(n: int, what: str = "文件") -> list[dict]:
    return [{"id": f"r{i}", "text": f"第{i}篇{what}，內容足夠長而且每一篇都不同，編號{i}。"} for i in range(n)]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def release(tmp_path: Path, version: str = "0.1.0") -> Path:
    return tmp_path / "out" / "t" / version


def shard_rows(path: Path) -> list[dict]:
    return [r for f in sorted((path / "data").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def alert_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("curate: alert:")]


# -- truncated and corrupt files -----------------------------------------------------------------------------------

def cut_file(tmp_path: Path, ext: str, rows: list[dict]) -> Path:
    """A compressed JSONL file cut off two thirds of the way through (the first third or so of it decodes)."""
    blob = COMPRESS[ext](jsonl(rows))
    f = tmp_path / "in" / f"part.jsonl.{ext}"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(blob[: len(blob) * 2 // 3])
    return f


@pytest.mark.parametrize("ext", ["gz", "bz2", "xz", "zst"])
def test_a_truncated_compressed_file_publishes_with_an_alert_naming_it(tmp_path, capsys, ext):
    rows = records(6000)
    f = cut_file(tmp_path, ext, rows)
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f), "id_field": "id"}])
    assert main(["run", str(job)]) == 5
    alerts = alert_lines(capsys.readouterr().err)
    assert len(alerts) == 1 and str(f) in alerts[0] and "truncated or corrupt" in alerts[0], alerts
    manifest = json.loads((release(tmp_path) / "manifest.json").read_text())
    assert manifest["rejects"] == {"truncated_or_corrupt_file": 1} and manifest["alerts"] == [alerts[0][len("curate: alert: "):]]
    # nothing lost: every record before the break is in the release, in order, and the break is in the rejects
    kept = shard_rows(release(tmp_path))
    assert 0 < len(kept) < len(rows) and [r["text"] for r in kept] == [r["text"] for r in rows[: len(kept)]]
    reject = json.loads((release(tmp_path) / "rejects/read/x-00000.jsonl").read_text())
    assert reject["file"] == str(f) and reject["line"] == len(kept) + 1 and f"at record {len(kept) + 1}" in alerts[0]


def test_a_truncated_gzip_fails_a_strict_run_with_one_line_naming_it(tmp_path, capsys):
    f = cut_file(tmp_path, "gz", records(3000))
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f)}])
    assert main(["run", str(job), "--strict"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("curate: error:") and str(f) in err[0] and "truncated or corrupt" in err[0], err
    assert not release(tmp_path).exists()


@pytest.mark.parametrize("ext", ["xz", "zst"])
def test_a_corrupt_block_is_a_reject_and_an_alert_not_a_crash(tmp_path, capsys, ext):
    rows = records(6000)
    blob = bytearray(COMPRESS[ext](jsonl(rows)))
    blob[len(blob) // 2] ^= 0xFF
    f = tmp_path / f"part.jsonl.{ext}"
    f.write_bytes(bytes(blob))
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(jsonl(rows[:10]))
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f)}, {"name": "y", "kind": "jsonl", "path": str(ok)}])
    assert main(["run", str(job)]) == 5
    alerts = alert_lines(capsys.readouterr().err)  # (damaged records read before the check fails may add one of their own)
    assert any(a.startswith(f"curate: alert: source x: 1 input file truncated or corrupt: {f} at record") for a in alerts), alerts
    manifest = json.loads((release(tmp_path) / "manifest.json").read_text())
    assert manifest["rejects"]["truncated_or_corrupt_file"] == 1
    assert {s["name"]: s["documents"] for s in manifest["sources"]}["y"] == 10


def test_a_cut_off_warc_is_named_too(tmp_path, capsys):
    from tests.conftest import SAMPLES

    data = (SAMPLES / "news/libreoffice-help-zh-tw.warc.gz").read_bytes()
    f = tmp_path / "crawl.warc.gz"
    f.write_bytes(data[: len(data) * 6 // 10])  # warcio alone reads the first records and stops without a word
    job = write_job(tmp_path, [{"name": "web", "kind": "news", "path": str(f)}])
    assert main(["run", str(job)]) == 5
    alerts = alert_lines(capsys.readouterr().err)
    assert len(alerts) == 1 and str(f) in alerts[0], alerts
    assert len(shard_rows(release(tmp_path))) == 2


# -- encodings -------------------------------------------------------------------------------------------------------

def ascii_then_big5(ascii_bytes: int, big5_rows: int) -> tuple[bytes, int]:
    head, n = b"", 0
    while len(head) < ascii_bytes:
        head += json.dumps({"text": f"plain ASCII record number {n}, long enough to pass any length rule in this job"}).encode() + b"\n"
        n += 1
    return head + jsonl(records(big5_rows, "繁體中文文件")).decode().encode("cp950"), n


def test_big5_after_100kb_of_ascii_is_read_as_big5(tmp_path, capsys):
    data, n_ascii = ascii_then_big5(110_000, 200)
    f = tmp_path / "mixed-head.jsonl"
    f.write_bytes(data)
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f)}])
    assert main(["run", str(job)]) == 0, capsys.readouterr().err
    texts = [r["text"] for r in shard_rows(release(tmp_path))]
    assert len(texts) == n_ascii + 200 and texts[-1] == records(200, "繁體中文文件")[-1]["text"]
    assert json.loads((release(tmp_path) / "manifest.json").read_text())["rejects"] == {}


def test_big5_past_a_compressed_files_sample_is_decided_at_its_first_non_ascii_line(tmp_path, monkeypatch):
    """A compressed file is sampled at its start only: when that start is all ASCII, the encoding is decided where the
    first other byte comes, from the lines there (the reader's own check; the sample size made small to keep it fast)."""
    import curation.sources as sources
    from tests.test_readers import read

    monkeypatch.setattr(sources, "SAMPLE_COMPRESSED", 1 << 14)
    data, n_ascii = ascii_then_big5(100_000, 50)
    f = tmp_path / "late.jsonl.gz"
    f.write_bytes(gzip.compress(data))
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x")
    assert rejects == [] and len(docs) == n_ascii + 50 and docs[-1].text == records(50, "繁體中文文件")[-1]["text"]


def test_a_file_in_two_encodings_is_read_as_its_majority_and_the_alert_names_the_file(tmp_path, capsys):
    utf8, big5 = records(300, "文件"), records(40, "舊檔案")
    f = tmp_path / "two-encodings.jsonl"
    f.write_bytes(jsonl(utf8) + jsonl(big5).decode().encode("cp950"))
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f)}],
                    steps={"language": {"enabled": True, "languages": ["zh"]}})
    assert main(["run", str(job)]) == 5
    alerts = alert_lines(capsys.readouterr().err)
    assert alerts == [f"curate: alert: source x: file {f}: 40 lines are not valid utf-8, the encoding most of the file is in "
                      "(lines 301-340; rejected as invalid_utf8): a file in two encodings? split it, or set `encoding:` on the source"]
    manifest = json.loads((release(tmp_path) / "manifest.json").read_text())
    assert manifest["rejects"] == {"invalid_utf8": 40} and manifest["totals"]["documents"] == 300
    assert main(["run", str(job), "--strict", "--force"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and str(f) in err[0] and "not valid utf-8" in err[0]


# -- ids across tasks ------------------------------------------------------------------------------------------------

def run_tasks(tmp_path: Path, name: str, sources: list[dict], tasks: int, workers: int = 1, dedup: bool = False) -> tuple[int, Path]:
    root = tmp_path / name
    root.mkdir()
    job = write_job(root, sources, executor={"tasks": tasks, "workers": workers}, steps={"dedup": {"enabled": dedup}})
    return main(["run", str(job)]), release(root)


def test_ids_repeated_across_files_are_unique_and_the_same_for_any_task_count(tmp_path, capsys):
    """The issue's probe: web/x0 and web/x1 four times in one file, once more in the next: with two tasks each came
    out twice, the alert said 6 repeats for 8, and clusters.parquet named an ambiguous kept_id."""
    folder = tmp_path / "web"
    folder.mkdir()
    a = [{"id": f"x{i % 2}", "text": f"第一個檔案的第{i}篇文件，內容和其他的都不一樣，編號{i}，請保留。" * 3} for i in range(8)]
    b = [{"id": f"x{i}", "text": a[i]["text"]} for i in range(2)]  # the same texts again: dedup keeps one of each
    (folder / "a.jsonl").write_bytes(jsonl(a))
    (folder / "b.jsonl").write_bytes(jsonl(b))
    source = [{"name": "web", "kind": "jsonl", "path": str(folder / "*.jsonl"), "id_field": "id"}]
    published = {}
    for tasks, workers in [(1, 1), (2, 2)]:
        code, path = run_tasks(tmp_path, f"t{tasks}w{workers}", source, tasks, workers, dedup=True)
        assert code == 5
        alerts = alert_lines(capsys.readouterr().err)
        assert alerts[0] == "curate: alert: source web: 8 documents repeat an id already read; they were kept as <id>#2, #3, ...", alerts
        rows = shard_rows(path)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == 8  # 10 read, the 2 copies of b removed by dedup
        clusters = pq.read_table(path / "dedup/clusters.parquet").to_pylist()
        assert len(clusters) == 2 and all(ids.count(c["kept_id"]) == 1 for c in clusters)
        assert {c["removed_id"] for c in clusters} == {"web/x0#5", "web/x1#5"}  # b's copies: after a's four of each
        published[(tasks, workers)] = sorted((r["id"], r["text"]) for r in rows), clusters
    # (the content hash differs: it is over the shard files, and each task writes its own)
    assert published[(1, 1)] == published[(2, 2)], "ids, texts or clusters differ with the task count"


def test_the_same_warc_twice_gets_the_same_unique_ids_with_one_task_or_two(tmp_path, capsys):
    """Page ids from a WARC are listed without extracting text (every HTML page counts) and still agree with one task."""
    from tests.conftest import SAMPLES

    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in ("2024-01.warc.gz", "2024-02.warc.gz"):
        (folder / name).write_bytes((SAMPLES / "news/libreoffice-help-zh-tw.warc.gz").read_bytes())
    source = [{"name": "web", "kind": "news", "path": str(folder / "*.warc.gz")}]
    ids = {}
    for tasks in (1, 2):
        code, path = run_tasks(tmp_path, f"t{tasks}", source, tasks)
        assert code == 5 and "4 documents repeat an id" in capsys.readouterr().err
        ids[tasks] = sorted(r["id"] for r in shard_rows(path))
        assert len(ids[tasks]) == len(set(ids[tasks])) == 8
    assert ids[1] == ids[2] and sum(i.endswith("#2") for i in ids[1]) == 4
