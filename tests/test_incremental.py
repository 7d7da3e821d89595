import json

import polars as pl
import yaml

import manifests
from curation.cli import main
from tests.conftest import SAMPLES, write_job

PAGES = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def ids(release) -> list[str]:
    return sorted(pl.read_parquet(f"{release}/data/**/*.parquet")["id"])


def test_since_reads_only_new_files_dedups_and_carries_the_parent(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "day1.jsonl", [{"id": f"p{i}", "text": PAGES[i]} for i in range(4)])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}],
                    steps={"dedup": {"enabled": True}}, version="auto")
    assert main(["run", str(job)]) == 0
    v1 = capsys.readouterr().out.strip().splitlines()[-1]
    write(inbox / "day2.jsonl", [{"id": "n1", "text": PAGES[5]}, {"id": "n2", "text": PAGES[6]}, {"id": "again", "text": PAGES[0]}])
    assert main(["run", str(job), "--since", v1]) == 0
    v2 = capsys.readouterr().out.strip().splitlines()[-1]
    assert v2.endswith("/t/0.1.1")
    assert ids(v2) == ["x/n1", "x/n2", "x/p0", "x/p1", "x/p2", "x/p3"]  # old + new, the re-posted page dropped
    m = manifests.load(v2)
    assert m.parent == v1 and manifests.verify(v2) == []
    read = next(s for s in m.steps if s.step == "read:x")
    assert read.input == 3 and read.other["input_files"] == 1  # only day2.jsonl was read
    dedup = next(s for s in m.steps if s.step == "dedup")
    assert dedup.dropped_by_reason == {"released_duplicate": 1}
    assert sorted(f.path.rsplit("/", 1)[-1] for f in m.sources[0].input_files) == ["day1.jsonl", "day2.jsonl"]
    assert any("parent-0.1.0" in s.path for s in m.shards)

    assert main(["run", str(job), "--since", v2]) == 0  # nothing new: no release, exit 0
    assert "nothing new" in capsys.readouterr().out
    assert not (tmp_path / "out/t/0.1.2").exists()


def test_incremental_config_uses_the_newest_release(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a.jsonl", [{"id": "a", "text": PAGES[1]}])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}], version="auto", incremental=True)
    assert main(["run", str(job)]) == 0  # first run: no release yet, reads everything
    capsys.readouterr()
    write(inbox / "a.jsonl", [{"id": "a", "text": PAGES[1]}, {"id": "b", "text": PAGES[2]}])  # a file that changed is new
    assert main(["run", str(job)]) == 0
    v2 = capsys.readouterr().out.strip().splitlines()[-1]
    assert v2.endswith("0.1.1") and ids(v2) == ["x/a", "x/a", "x/b"]  # no dedup configured: the parent copy stays
    assert manifests.load(v2).parent.endswith("0.1.0")
    data = yaml.safe_load(job.read_text())
    assert data["incremental"] is True
