"""`curate exclude`: named documents leave a release and stay out of every later incremental release (issue 40)."""

import json
import os

import polars as pl

import manifests
from curation.cli import main
from tests.conftest import SAMPLES, write_job
from tests.test_export import small_release, write

PAGES = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]


def ids(release) -> list[str]:
    return sorted(pl.read_parquet(f"{release}/data/**/*.parquet")["id"])


def test_excluded_documents_leave_and_stay_out(tmp_path, capsys):
    release, job = small_release(tmp_path, version="auto")
    v1, inbox = str(release), tmp_path / "inbox"
    capsys.readouterr()
    (tmp_path / "ids.txt").write_text("x/p1\n# a comment\nx/p3\n", encoding="utf-8")
    (tmp_path / "urls.txt").write_text("https://help.example.org/4\n", encoding="utf-8")
    assert main(["exclude", v1, "--ids", str(tmp_path / "ids.txt"), "--urls", str(tmp_path / "urls.txt"),
                 "--reason", "takedown: personal data"]) == 0
    v2 = capsys.readouterr().out.strip().splitlines()[-1]
    assert v2.endswith("/t/0.1.1") and ids(v2) == ["x/p0", "x/p2", "y/l1"] and ids(v1) == ["x/p0", "x/p1", "x/p2", "x/p3", "x/p4", "y/l1"]
    m = manifests.load(v2)
    assert manifests.verify(v2) == [] and manifests.verify(v1) == []  # the parent is untouched
    assert m.parent == "../0.1.0" and m.totals["documents"] == 3 and [s.documents for s in m.sources] == [2, 1]
    assert [(e.reason, e.ids_requested, e.urls_requested, e.removed) for e in m.exclusions] == [("takedown: personal data", 2, 1, 3)]
    assert m.steps[-1].step == "exclude" and m.steps[-1].dropped_by_reason == {"excluded": 3}
    untouched = next(s for s in m.shards if s.source == "y")
    assert os.stat(f"{v2}/{untouched.path}").st_ino == os.stat(f"{v1}/{untouched.path}").st_ino  # hard-linked, not rewritten

    # the same page crawled again and a re-posted id come back in a new file: the next incremental release drops them
    write(inbox / "day2.jsonl", [{"id": "p3", "text": PAGES[3]}, {"id": "again", "text": PAGES[4], "url": "https://help.example.org/4"},
                                 {"id": "new", "text": PAGES[7]}])
    assert main(["run", str(job), "--since", v2]) == 0
    v3 = capsys.readouterr().out.strip().splitlines()[-1]
    assert ids(v3) == ["x/new", "x/p0", "x/p2", "y/l1"]
    m3 = manifests.load(v3)
    assert next(s for s in m3.increment.steps if s.step == "excluded").dropped_by_reason == {"excluded": 2}
    assert len(m3.exclusions) == 1 and (tmp_path / "out/t/0.1.2/exclusions/ids.txt").read_text() == "x/p1\nx/p3\n"
    assert manifests.verify(v3) == []


def test_an_exclusion_that_matches_nothing_publishes_nothing(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a.jsonl", [{"id": "p0", "text": PAGES[0]}])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}], version="auto")
    assert main(["run", str(job)]) == 0
    v1 = capsys.readouterr().out.strip().splitlines()[-1]
    (tmp_path / "ids.txt").write_text("x/typo\n", encoding="utf-8")
    assert main(["exclude", v1, "--ids", str(tmp_path / "ids.txt"), "--reason", "test"]) == 1
    assert "none of the 1 ids and 0 URLs is in the release" in capsys.readouterr().err
    assert not (tmp_path / "out/t/0.1.1").exists()
