import json
import subprocess
import sys
from pathlib import Path

import pytest
from datatrove.data import Document

import manifests
from curation.config import load_job
from curation.pipeline import run_job
from filters.config import DomainListConfig
from filters.domains import CATEGORIES, SHIPPED, DomainListFilter, DomainLists, read_entries, url_host
from tests.conftest import REPO, write_job

BUILD = REPO / "filters" / "data" / "build_domain_lists.py"

# upstream-format lists (content-farm-terminator's syntax), small enough to read
UPSTREAM = {
    "scam-sites": "  # Title: Scam Sites Filters\n  # Licence: MIT License\n\nscam-shop.example  #165 notice\n203.0.113.7\nwww.fake-bank.example\n",
    "content-farms": ("  # Licence: MIT License\nfarm.example\nfarm-*.test\n"
                      "/^https?://(?:[\\w-]+\\.)*(?:blog\\.shared\\.example/farmer1)(?=[/?#]|$)/\n"),  # one blog on a shared host: skipped
    "extra-content-farms": "",
    "nearly-content-farms": "meh.example\n",
    "sns-content-farms": "/^https?://(?:(?:[\\w-]+\\.)?facebook\\.com|fb\\.(?:com|me))/(?:groups/)?(?:123)(?=[/?#]|$)/\n",
    "fake-news": ("hoax.example #fake\n"
                  "/^https?://(?:[\\w-]+\\.)*(?:rumour\\.example|gossip\\.example)(?=[/?#]|$)/\n"
                  "/^https?://(?:[\\w-]+\\.)*(?:notizie24)(?:\\.[\\w-]+)*(?=[:/?#]|$)/\n"),
    "bad-cloners": "farm.example\n",  # also a content farm: the drop wins over the tag
}


@pytest.fixture
def small_lists(tmp_path) -> Path:
    src = tmp_path / "upstream"
    src.mkdir()
    for name, text in UPSTREAM.items():
        (src / f"{name}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "lists"
    proc = subprocess.run([sys.executable, str(BUILD), str(src), "--commit", "a" * 40, "--date", "2026-01-02", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def doc(url=None, text="一段有網址的文字。", source="web") -> Document:
    meta = {"source": source}
    if url is not None:
        meta["url"] = url
    return Document(text=text, id="x", metadata=meta)


def test_build_keeps_host_rules_and_counts_what_it_skips(small_lists):
    info = json.loads((small_lists / "VERSION.json").read_text())
    assert info["version"].startswith("content-farm-terminator@aaaaaaaaaaaa+") and info["built"] == "2026-01-02"
    farms = info["categories"]["content_farm"]
    assert farms["entries"] == 2 and farms["patterns"] == 1 and farms["regex_skipped"] == 1
    assert read_entries(small_lists / "scam_site.txt.gz") == ["203.0.113.7", "fake-bank.example", "scam-shop.example"]  # www. dropped
    assert read_entries(small_lists / "fake_news.txt.gz") == ["gossip.example", "hoax.example", "notizie24.*", "rumour.example"]
    assert info["categories"]["sns_content_farm"]["entries"] == 0 and info["categories"]["sns_content_farm"]["regex_skipped"] == 1
    header = (small_lists / "scam_site.txt.gz").read_bytes()
    import gzip

    text = gzip.decompress(header).decode()
    assert "danny0838/content-farm-terminator" in text and "commit " + "a" * 40 in text and "MIT License" in text and "Built 2026-01-02" in text
    # the same input on another day: the same rules, the same version
    again = small_lists.parent / "again"
    subprocess.run([sys.executable, str(BUILD), str(small_lists.parent / "upstream"), "--commit", "a" * 40, "--date", "2026-02-03",
                    "--out", str(again)], check=True, capture_output=True)
    assert json.loads((again / "VERSION.json").read_text())["version"] == info["version"]


def test_hosts_subdomains_and_patterns_match(small_lists):
    lists = DomainLists.load(small_lists)
    assert lists.match("farm.example") == {"content_farm": "farm.example", "bad_cloner": "farm.example"}
    assert lists.match("a.b.farm.example")["content_farm"] == "farm.example"  # a subdomain matches its parent's rule
    assert lists.match("notfarm.example") == {} and lists.match("farm.example.org") == {}  # a label boundary, not a substring
    assert lists.match("www.fake-bank.example") == {"scam_site": "fake-bank.example"}
    assert lists.match("203.0.113.7") == {"scam_site": "203.0.113.7"} and lists.match("1.203.0.113.7") == {}
    assert lists.match("farm-abc.test") == {"content_farm": "farm-*.test"} and lists.match("cdn.farm-x.test")
    assert lists.match("farm.test") == {}
    assert lists.match("news.notizie24.it") == {"fake_news": "notizie24.*"} and lists.match("rumour.example") == {"fake_news": "rumour.example"}
    assert lists.match("blog.shared.example") == {}  # a path rule was skipped: the shared host stays


def test_url_host_reads_what_readers_give():
    assert url_host("https://User@WWW.Farm.Example:8080/a?b#c") == "www.farm.example"
    assert url_host("farm.example/path") == "farm.example" and url_host("//farm.example/x") == "farm.example"
    assert url_host("https://臺灣.tw/") == "臺灣.tw".encode("idna").decode() == "xn--nnx388a.tw"
    assert url_host("https://farm.example./") == "farm.example"
    assert url_host(None) is None and url_host("") is None and url_host("http://[broken/") is None
    assert url_host("see the post above") is None and url_host("https://[2001:db8::1]/x") == "2001:db8::1"


def test_drop_tag_and_off_per_category(small_lists):
    step = DomainListFilter(DomainListConfig(), lists_dir=small_lists)
    dropped = doc("https://m.scam-shop.example/buy")
    assert step.filter(dropped) == (False, "domain_scam_site")
    assert dropped.metadata["annotations"]["domain_list"] == {"scam_site": "scam-shop.example"}
    assert step.filter(doc("https://farm.example/")) == (False, "domain_content_farm")  # also a bad cloner (tag): the drop wins
    tagged = doc("https://hoax.example/story")
    assert step.filter(tagged) is True and tagged.metadata["annotations"]["domain_list"] == {"fake_news": "hoax.example"}
    assert step.stats["tagged_domain_fake_news"].total == 1 and step.stats["source:web/tagged_domain_fake_news"].total == 1
    assert step.stats["url_checked"].total == 3
    relaxed = DomainListFilter(DomainListConfig(content_farm="tag", scam_site="off", bad_cloner="off"), lists_dir=small_lists)
    kept = doc("https://farm.example/")
    assert relaxed.filter(kept) is True and kept.metadata["annotations"]["domain_list"] == {"content_farm": "farm.example"}
    off = doc("https://scam-shop.example/")
    assert relaxed.filter(off) is True and "annotations" not in off.metadata
    assert "scam_site" not in relaxed.lists.categories  # an `off` list is not even loaded
    nothing = DomainListFilter(DomainListConfig(**{c: "off" for c in CATEGORIES}), lists_dir=small_lists)
    assert nothing.filter(doc("https://scam-shop.example/")) is True and nothing.models() == []  # no list, no version


def test_documents_without_a_url_pass_untouched(small_lists):
    step = DomainListFilter(DomainListConfig(), lists_dir=small_lists)
    for d in (doc(), doc(url=""), doc(url=None), doc("not a url at all")):
        before = dict(d.metadata)
        assert step.filter(d) is True
        assert d.metadata == before and d.text == "一段有網址的文字。"
    assert "url_checked" not in step.stats.stats  # a url field that holds no URL is no URL


def test_a_list_edited_by_hand_is_refused(small_lists):
    import gzip

    path = small_lists / "scam_site.txt.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"added-by-hand.example\n"))
    with pytest.raises(ValueError, match="do not match VERSION.json"):
        DomainLists.load(small_lists)


def test_shipped_lists_load_and_hold_known_entries():
    info = json.loads((SHIPPED / "VERSION.json").read_text())
    assert set(info["categories"]) == set(CATEGORIES) and info["commit"] == "4937df8010c02bb08558a559d2e2b43507b7ca3d"
    assert sum(c["bytes"] for c in info["categories"].values()) < 1_000_000
    lists = DomainLists.load()
    assert lists.version == info["version"]
    assert lists.match("www.kknews.cc")["content_farm"] == "kknews.cc"  # the best-known Chinese content farm
    assert lists.match("zh.wikiwand.com")["bad_cloner"] == "wikiwand.com"
    assert lists.match("app.zaoiesf.com")["scam_site"] == "app.zaoiesf.com"
    assert lists.match("165.227.24.198") == {"content_farm": "165.227.24.198"}  # an IPv4 rule: that address only
    for ordinary in ("www.ptt.cc", "zh.wikipedia.org", "udn.com", "www.cna.com.tw", "law.moj.gov.tw", "help.libreoffice.org"):
        assert lists.match(ordinary) == {}, ordinary
    # every config category is a list, and every list a config field
    assert set(CATEGORIES) == set(DomainListConfig.model_fields) - {"enabled", "lists_dir"}


def test_run_drops_tags_and_records_the_lists_version(tmp_path):
    rows = [{"id": "ok", "url": "https://www.cna.com.tw/news/1", "text": "中央社報導，今天的天氣晴朗，適合出門走走。"},
            {"id": "farm", "url": "https://www.kknews.cc/zh-tw/a", "text": "這是一篇被大量轉貼的文章內容，標題很聳動。"},
            {"id": "scam", "url": "http://app.zaoiesf.com/login", "text": "恭喜中獎，請輸入帳號密碼領取獎金。"},
            {"id": "clone", "url": "https://www.wikiwand.com/zh-tw/臺北", "text": "臺北市是中華民國的首都，位於臺灣北部。"},
            {"id": "nourl", "text": "沒有網址的一段文字，也不會被檢查。"}]
    src = tmp_path / "web.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    job = write_job(tmp_path, [{"name": "web", "kind": "jsonl", "path": str(src), "id_field": "id"}])
    release = run_job(load_job(job))
    m = manifests.load(release)
    step = next(s for s in m.steps if s.step == "domains")
    assert step.dropped_by_reason == {"domain_content_farm": 1, "domain_scam_site": 1}
    assert step.by_source["web"]["url_checked"] == 4 and step.by_source["web"]["tagged_domain_bad_cloner"] == 1
    assert step.by_source["web"]["tagged_domain_extra_content_farm"] == 1  # wikiwand is on both tag lists
    model = next(x for x in m.models if x.step == "domains")
    assert model.name == json.loads((SHIPPED / "VERSION.json").read_text())["version"]
    assert model.path == "twcurate:filters/data/domain_lists/VERSION.json"
    import polars as pl

    kept = pl.read_parquet(release / "data" / "**" / "*.parquet")
    assert sorted(kept["id"]) == ["web/clone", "web/nourl", "web/ok"]
    clone = json.loads(kept.filter(pl.col("id") == "web/clone")["annotations"][0])
    assert clone["domain_list"] == {"extra_content_farm": "wikiwand.com", "bad_cloner": "wikiwand.com"}
    rejected = pl.read_ndjson(release / "rejects" / "domains" / "web-00000.jsonl.gz")
    assert sorted(r["filter_reason"] for r in rejected["metadata"]) == ["domains:domain_content_farm", "domains:domain_scam_site"]


def test_a_lists_dir_without_version_is_a_config_error(tmp_path):
    from curation.errors import ConfigError

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "x"}\n')
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], steps={"domains": {"lists_dir": "nowhere"}})
    with pytest.raises(ConfigError, match="steps.domains.lists_dir: no VERSION.json"):
        load_job(job)


def test_lists_rebuilt_in_place_are_read_again_in_the_same_process(small_lists, tmp_path):
    """Every task of a process shares one copy of the lists, but a folder rebuilt since (a scheduler calling run_job
    night after night) is loaded again, and one edited by hand is refused again, not served from memory."""
    from filters.domains import DomainLists

    before = DomainLists.shared(small_lists)
    assert DomainLists.shared(small_lists) is before and not before.match("new-farm.example")
    src = tmp_path / "upstream"
    (src / "content-farms.txt").write_text(UPSTREAM["content-farms"] + "new-farm.example\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(BUILD), str(src), "--commit", "b" * 40, "--date", "2026-02-03", "--out", str(small_lists)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    after = DomainLists.shared(small_lists)
    assert after.version != before.version and "content_farm" in after.match("new-farm.example")
    edited = small_lists / json.loads((small_lists / "VERSION.json").read_text())["categories"]["scam_site"]["file"]
    import gzip

    edited.write_bytes(gzip.compress(b"hand-added.example\n"))
    with pytest.raises(ValueError, match="do not match"):
        DomainLists.shared(small_lists)


def test_a_model_file_replaced_in_place_is_loaded_again(tmp_path):
    from filters.shared import _LOADED, load_once

    f = tmp_path / "m.txt"
    f.write_text("one")
    loads = []

    def load():
        loads.append(f.read_text())
        return f.read_text()

    assert load_once("t", [f], load) == "one" and load_once("t", [f], load) == "one" and loads == ["one"]
    f.write_text("two!")
    assert load_once("t", [f], load) == "two!" and loads == ["one", "two!"]
    assert sum(1 for k in _LOADED if k[0] == "t") == 1  # the old copy was replaced, not kept beside the new one
