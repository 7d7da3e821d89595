import json
from pathlib import Path

import polars as pl
import yaml

import manifests
from curation.cli import main
from tests.conftest import SAMPLES, write_job

PAGES = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]


# written for this test: new articles, unlike any sample
NEW_ARTICLES = [
    "臺南市政府今天宣布，今年的古都燈節將延長兩週，展區從孔廟一路延伸到林百貨周邊。市府表示，去年燈節吸引超過八十萬人次參觀，"
    "帶動周邊店家營業額成長約三成，今年也會增加接駁公車班次，並在主要路口安排交通指揮人員，請民眾多利用大眾運輸前往。",
    "中央氣象署指出，明天起東北季風增強，北部和東北部氣溫將明顯下降，清晨最低溫可能只有十二度左右，迎風面的基隆北海岸、"
    "宜蘭地區會有局部短暫雨。氣象署提醒，早晚溫差大，民眾外出記得添加衣物，心血管疾病患者更要注意保暖。",
    "新竹縣一所國小的學生利用課後時間整理學校後方的荒地，種下地瓜、空心菜和九層塔，收成後送到社區的共餐據點，讓長輩吃到"
    "新鮮蔬菜。帶隊老師說，孩子們從翻土、澆水到記錄生長情形都親自動手，也學會了如何和社區長輩打招呼、聊天。",
]


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
    assert m.parent == "../0.1.0" and (Path(v2) / m.parent).resolve() == Path(v1).resolve() and manifests.verify(v2) == []
    read = next(s for s in m.increment.steps if s.step == "read:x")
    assert read.input == 3 and read.other["input_files"] == 1  # only day2.jsonl was read
    assert m.increment.input_files == {"x": 1} and m.increment.parent_version == "0.1.0"
    assert next(s for s in m.steps if s.step == "read:x").input == 7  # the manifest's steps: parent's 4 + these 3
    dedup = next(s for s in m.increment.steps if s.step == "dedup")
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
    assert manifests.load(v2).parent == "../0.1.0"
    data = yaml.safe_load(job.read_text())
    assert data["incremental"] is True


def test_a_nightly_run_with_one_new_file_is_quiet_strict_and_compares_like_with_like(tmp_path, demo_job, capsys):
    """Issue 41's probe: the demo job, then one news file added and `--since`: no source alerts for the sources with
    nothing new (exit 0, also with --strict), and `manifest diff` compares cumulative step stats with the parent's."""
    data = yaml.safe_load(demo_job.read_text())
    news = tmp_path / "news"
    news.mkdir()
    for f in (SAMPLES / "news").iterdir():
        (news / f.name).write_bytes(f.read_bytes())
    next(s for s in data["sources"] if s["name"] == "news")["path"] = str(news / "*")
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert main(["run", str(demo_job)]) == 0
    v1 = capsys.readouterr().out.strip().splitlines()[-1]
    write(news / "more.jsonl", [{"url": f"https://news.example.org/{i}", "content": text} for i, text in enumerate(NEW_ARTICLES)])
    assert main(["run", str(demo_job), "--since", v1, "--strict"]) == 0
    v2 = capsys.readouterr().out.strip().splitlines()[-1]
    m, parent = manifests.load(v2), manifests.load(v1)
    assert m.alerts == [] and m.increment.input_files == {"zhwiki": 0, "news": 1, "laws": 0, "ptt": 0}
    lang, lang_parent = (next(s for s in x.steps if s.step == "language") for x in (m, parent))
    assert lang.input == lang_parent.input + next(s for s in m.increment.steps if s.step == "language").input
    assert lang.dropped >= lang_parent.dropped > 0  # the parent's drops are still counted: no "6.9% -> 0.0%"
    assert main(["manifest", "diff", v1, v2]) == 0
    assert "-> 0.0%" not in capsys.readouterr().out


def test_a_release_without_documents_is_never_exit_0(tmp_path, capsys):
    """A typo'd language (`zhh`) drops everything; fewer documents than alert_min_documents were read, yet the run
    alerts (exit 5) and fails with --strict (exit 1)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a.jsonl", [{"id": f"p{i}", "text": PAGES[i]} for i in range(4)])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}],
                    steps={"language": {"enabled": True, "languages": ["zhh"]}}, version="auto")
    assert main(["run", str(job)]) == 5
    assert "release: 0 documents kept of 4 read" in capsys.readouterr().err
    assert main(["run", str(job), "--strict"]) == 1
    assert not (tmp_path / "out/t/0.1.1").exists()
