"""The example jobs beside the demo (examples/forum.yaml, examples/web.yaml) run end to end: on the bundled samples
they name, and with their steps on a tiny input holding what they are there to show (a Simplified document dropped,
a stray Simplified line in a Traditional one converted, a content-farm page dropped)."""

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

import manifests
from curation.cli import main
from curation.config import load_job
from tests.conftest import REPO

EXAMPLES = REPO / "examples"

TRADITIONAL_LINES = ["最近在研究怎麼在 Debian 上打包自己的軟體，照著新手維護者指南一步一步做。",
                     "遇到的第一個問題是相依套件的設定，後來發現要先把建置環境準備好才行。",
                     "有位朋友傳給我一段說明，我直接貼在這裡給大家參考：",
                     "大家有什麼建議的流程嗎？謝謝各位的幫忙。"]
STRAY = "在开始打包之前，你需要确认已经正确安装了开发所需要的附加软件包。"  # a copied Simplified line
SIMPLIFIED = ("在开始打包之前，你需要确认已经正确安装了开发所需要的附加软件包。\n这些软件包不包含任何已经被标记为必需的软件包，"
              "我们假设你已经安装了这些软件包。\n请详细阅读每个程序的文档，至少了解其一般的用途。")


def example_job(name: str, tmp_path: Path, sources: list[dict] | None = None) -> Path:
    """An example job as shipped, its paths made absolute and its output under tmp_path; `sources` replace its own."""
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    for src in data["sources"]:
        src["path"] = str((EXAMPLES / src["path"]).resolve())
    if sources is not None:
        data["sources"] = sources
    data["output"] = str(tmp_path / "out")
    job = tmp_path / f"{name}.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return job


def run(job: Path, capsys) -> tuple[Path, manifests.Manifest, pl.DataFrame]:
    assert main(["run", str(job)]) == 0
    release = Path(capsys.readouterr().out.strip().splitlines()[-1])
    return release, manifests.load(release), pl.read_parquet(release / "data" / "**" / "*.parquet")


def drops(m: manifests.Manifest) -> dict[tuple[str, str, str], int]:
    return {(st.step, key[len("dropped_"):], source): n for st in m.steps if not st.step.startswith("read:")
            for source, counts in st.by_source.items() for key, n in counts.items() if key.startswith("dropped_")}


@pytest.mark.parametrize("name", ["forum", "web"])
def test_examples_name_the_settings_for_a_taiwan_corpus(name):
    job = load_job(EXAMPLES / f"{name}.yaml")  # the bundled samples it names exist
    assert job.steps.script.action == "drop" and job.steps.clean.simplified_lines == "convert"
    assert job.steps.domains.enabled and job.steps.dedup.enabled


def test_forum_example_on_the_bundled_sample(tmp_path, capsys):
    release, m, df = run(example_job("forum", tmp_path), capsys)
    # the sample's posts: three Code of Conduct sayings in Simplified (dropped), three mostly Traditional (kept)
    assert {s.name: s.documents for s in m.sources} == {"ptt": 3}
    assert drops(m) == {("script", "script_mixed", "ptt"): 3}
    annotations = [json.loads(a) for a in df["annotations"]]
    assert {a["script"] for a in annotations} == {"hant"} and not any(a.get("converted") for a in annotations)


def test_web_example_on_the_bundled_samples(tmp_path, capsys):
    release, m, df = run(example_job("web", tmp_path), capsys)
    assert {s.name: s.documents for s in m.sources} == {"web": 4, "web_jsonl": 7, "web_cn": 0}
    assert drops(m) == {("language", "other_language", "web_jsonl"): 1, ("language", "other_language", "web_cn"): 1,
                        ("script", "script_hans", "web_cn"): 3}
    domains = next(s for s in m.steps if s.step == "domains")
    assert domains.other["url_checked"] == 16  # every page has its URL; none is on a list
    assert not any(json.loads(a).get("converted") for a in df["annotations"])


def test_forum_example_drops_simplified_posts_and_converts_a_stray_line(tmp_path, capsys):
    posts = [{"article_id": "tw", "article_title": "[問題] 打包流程", "author": "a", "board": "Linux", "date": "Mon Jan  1 12:00:00 2024",
              "content": "\n".join(TRADITIONAL_LINES[:3] + [STRAY] + TRADITIONAL_LINES[3:]),
              "messages": [{"push_tag": "推", "push_userid": "b", "push_content": "先把建置環境準備好，再照指南一步一步來就好。"}]},
             {"article_id": "cn", "article_title": "[分享] 打包说明", "author": "c", "board": "Linux", "date": "Mon Jan  2 12:00:00 2024",
              "content": SIMPLIFIED, "messages": []}]
    src = tmp_path / "posts.jsonl"
    src.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), encoding="utf-8")
    job = example_job("forum", tmp_path, [{"name": "ptt", "kind": "social", "path": str(src)}])
    release, m, df = run(job, capsys)
    assert df["id"].to_list() == ["ptt/tw"]
    text, ann = df["text"][0], json.loads(df["annotations"][0])
    assert "確認已經正確安裝了開發所需要的附加軟體包" in text and STRAY not in text  # converted in place, Taiwan wording
    assert ann["converted_lines"] == 1 and ann["script"] == "hant" and not ann.get("converted")
    assert all(line in text for line in TRADITIONAL_LINES)  # the post's own lines untouched
    assert drops(m) == {("script", "script_hans", "ptt"): 1}
    dropped = [json.loads(line) for line in gzip.open(release / "rejects" / "script" / "ptt-00000.jsonl.gz", "rt", encoding="utf-8")]
    assert dropped[0]["text"].endswith(SIMPLIFIED.splitlines()[-1])  # dropped as written, not converted


def test_web_example_drops_content_farms_and_simplified_pages_and_converts_a_stray_line(tmp_path, capsys):
    page = "\n".join(TRADITIONAL_LINES[:3] + [STRAY] + TRADITIONAL_LINES[3:])
    rows = [{"url": "https://help.example.org/zh-TW/packaging.html", "content": page},
            {"url": "https://www.kknews.cc/zh-tw/tech/abc.html", "content": "\n".join(TRADITIONAL_LINES)},
            {"url": "https://zh.wikiwand.com/zh-tw/打包", "content": "\n".join(reversed(TRADITIONAL_LINES))},
            {"url": "https://help.example.org/zh-CN/packaging.html", "content": SIMPLIFIED}]
    src = tmp_path / "pages.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    job = example_job("web", tmp_path, [{"name": "web_jsonl", "kind": "jsonl", "path": str(src), "text_field": "content", "id_field": "url"}])
    release, m, df = run(job, capsys)
    assert df["id"].to_list() == ["web_jsonl/https://help.example.org/zh-TW/packaging.html"]
    text, ann = df["text"][0], json.loads(df["annotations"][0])
    assert "確認已經正確安裝了開發所需要的附加軟體包" in text and ann["converted_lines"] == 1
    assert drops(m) == {("domains", "domain_content_farm", "web_jsonl"): 1, ("domains", "domain_bad_cloner", "web_jsonl"): 1,
                        ("script", "script_hans", "web_jsonl"): 1}
    farm = [json.loads(line) for line in gzip.open(release / "rejects" / "domains" / "web_jsonl-00000.jsonl.gz", "rt", encoding="utf-8")]
    assert {r["metadata"]["annotations"]["domain_list"].get("content_farm") for r in farm} == {"kknews.cc", None}
