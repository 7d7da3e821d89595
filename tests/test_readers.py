import bz2
import gzip
import json
import re
from pathlib import Path

import pytest
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import SourceConfig
from curation.sources import join_wraps, reader_for
from tests.conftest import SAMPLES

WIKI_MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|==|\{\||'''|File:|Category:")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def read(tmp_path, files, **source):
    src = SourceConfig(**{"name": "s", **source})
    reader = reader_for(src, [str(f) for f in files], str(tmp_path / "rejects"))
    docs = list(reader.run())
    rejects = []
    for f in sorted((tmp_path / "rejects").glob("*.jsonl")):
        rejects += [orjson.loads(line) for line in f.read_bytes().splitlines()]
    return docs, rejects, reader.stats


def test_wiki_real_sample(tmp_path):
    docs, rejects, stats = read(tmp_path, [SAMPLES / "wiki/zhwiki-sample.xml.bz2"], kind="wiki", path="x", license="CC BY-SA 4.0")
    assert len(docs) == 4 and rejects == []
    assert stats["skipped_redirect"].total == 1 and stats["skipped_namespace"].total == 1
    for d in docs:
        assert not WIKI_MARKUP.search(d.text), d.text[:300]
        assert d.metadata["source"] == "s" and d.metadata["kind"] == "wiki" and d.metadata["license"] == "CC BY-SA 4.0"
        assert d.metadata["title"].startswith("Debian參考手冊") and d.metadata["date"].startswith("2024-01")
        assert d.id.startswith("s/")
    # headings survive as their own paragraph, the infobox template and the table do not
    assert "\n\n軟體包配置\n\n" in docs[1].text
    assert "Infobox" not in docs[0].text and "wikitable" not in docs[0].text and "套件管理" not in docs[0].text


def test_news_jsonl_csv_and_warc(tmp_path):
    files = sorted((SAMPLES / "news").iterdir())
    docs, rejects, _ = read(tmp_path, files, kind="news", path="x", text_field="content", id_field="url")
    assert rejects == []
    by_file = {}
    for d in docs:
        by_file.setdefault(Path(d.metadata.get("file") or "").suffix, []).append(d)
    assert len(by_file[".jsonl"]) == 8 and len(by_file[".csv"]) == 4 and len(by_file[".gz"]) == 4
    for d in docs:
        assert not HTML_TAG.search(d.text)
        assert d.metadata["url"].startswith("https://help.libreoffice.org/")
        assert d.metadata["title"]
    warc = by_file[".gz"]
    assert all(len(d.text) > 100 for d in warc)


def test_legal_both_shapes_and_judgment(tmp_path):
    judgment = tmp_path / "judgment.json"
    judgment.write_text(json.dumps({"JID": "TPSV,112,台上,1,20230101,1", "JTITLE": "損害賠償", "JDATE": "20230101",
                                    "JFULL": "最高法院民事判決\r\n上訴人　甲\r\n主文\r\n上訴駁回。\r\n理由\r\n本件上訴人主張其受有損\r\n害，應予賠償。"}, ensure_ascii=False))
    files = sorted((SAMPLES / "legal").rglob("*.json")) + [judgment]
    docs, rejects, _ = read(tmp_path, files, kind="legal", path="x")
    assert rejects == []
    by_title = {d.metadata["title"]: d for d in docs}
    assert set(by_title) == {"民法", "中華民國刑法", "中華民國憲法", "損害賠償"}
    civil = by_title["民法"].text
    assert "第1條　民事，法律所未規定者，依習慣；無習慣者，依法理。" in civil  # CRLF wrap inside the article joined
    assert "\r" not in civil
    assert by_title["中華民國憲法"].metadata["url"].endswith("A0000001")
    assert by_title["中華民國憲法"].id == "s/A0000001"
    assert "受有損害，應予賠償。" in by_title["損害賠償"].text and by_title["損害賠償"].metadata["doc_type"] == "judgment"


def test_join_wraps_keeps_sentence_breaks():
    assert join_wraps("甲、\r\n乙。\r\n丙") == "甲、乙。\n丙"
    assert join_wraps("see the\r\nmanual") == "see the manual"


def test_social_with_and_without_comments(tmp_path):
    f = SAMPLES / "social/ptt-linux.json"
    with_c, rejects, _ = read(tmp_path, [f], kind="social", path="x", include_comments=True)
    without, _, _ = read(tmp_path / "b", [f], kind="social", path="x", include_comments=False)
    assert len(with_c) == len(without) == 6 and rejects == []
    assert with_c[0].text.startswith("[分享] 要有礼貌")
    assert "推 user0:" in with_c[0].text and "推 user0:" not in without[0].text
    assert with_c[0].metadata["author"].startswith("debian0") and with_c[0].metadata["board"] == "Linux"


def test_jsonl_bad_records_are_rejected_with_file_line_and_reason(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(b'{"text": "\xe5\xa5\xbd\xe7\x9a\x84 good", "id": 1}\n'
                  b'{"text": "broken\n'
                  b'{"body": "wrong field"}\n'
                  b'{"text": "bad \xff\xfe utf8"}\n'
                  b'{"text": 42}\n'
                  b'[1, 2]\n'
                  b'\n'
                  b'{"text": "last ok", "id": 7}\n')
    docs, rejects, stats = read(tmp_path, [f], kind="jsonl", path="x", id_field="id")
    assert [d.text for d in docs] == ["好的 good", "last ok"]
    assert [(r["line"], r["reason"], r["field"]) for r in rejects] == [
        (2, "malformed_json", rejects[0]["field"]), (3, "missing_field", "text"), (4, "invalid_utf8", "utf-8 at byte 88"),
        (5, "wrong_type", "text"), (6, "not_a_json_object", None)]
    assert all(r["file"] == str(f) for r in rejects)
    assert stats["rejected_malformed_json"].total == 1 and stats["rejected_missing_field"].total == 1


def test_wrong_text_field_rejects_every_record(tmp_path):
    f = tmp_path / "in.jsonl.gz"
    f.write_bytes(gzip.compress(b'{"content": "a"}\n{"content": "b"}\n'))
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x", text_field="body")
    assert docs == [] and [r["reason"] for r in rejects] == ["missing_field", "missing_field"]
    assert rejects[1]["line"] == 2 and rejects[1]["field"] == "body" and "content" in rejects[1]["raw"]


def test_empty_file_is_counted(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_bytes(b"")
    docs, rejects, stats = read(tmp_path, [f], kind="jsonl", path="x")
    assert docs == [] and [r["reason"] for r in rejects] == ["empty_file"]
    assert stats["rejected_empty_file"].total == 1


def test_truncated_bz2_keeps_pages_before_the_break(tmp_path):
    full = bz2.decompress((SAMPLES / "wiki/zhwiki-sample.xml.bz2").read_bytes())
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(bz2.compress(full)[:-200])
    docs, rejects, _ = read(tmp_path, [cut], kind="wiki", path="x")
    assert len(rejects) == 1 and rejects[0]["reason"] == "truncated_or_corrupt_file"
    assert rejects[0]["file"] == str(cut) and rejects[0]["line"] >= 1
    assert len(docs) < 4


def test_truncated_xml_without_compression(tmp_path):
    full = bz2.decompress((SAMPLES / "wiki/zhwiki-sample.xml.bz2").read_bytes()).decode()
    cut = tmp_path / "cut.xml"
    cut.write_text(full[: full.index("<page>", full.index("<page>") + 1) + 40])
    docs, rejects, _ = read(tmp_path, [cut], kind="wiki", path="x")
    assert len(docs) == 1 and rejects[0]["reason"] == "truncated_or_corrupt_file" and rejects[0]["line"] == 2


def test_malformed_legal_json_names_line(tmp_path):
    f = tmp_path / "law.json"
    f.write_text('{"法規名稱": "民法",\n "法規內容": [\n {"條號": "第 1 條" "條文內容": "x"}]}')
    docs, rejects, _ = read(tmp_path, [f], kind="legal", path="x")
    assert docs == [] and rejects[0]["reason"] == "malformed_json" and rejects[0]["line"] == 3


def test_legal_article_with_wrong_type(tmp_path):
    f = tmp_path / "law.json"
    f.write_text(json.dumps({"LawName": "某法", "LawArticles": [{"ArticleNo": "第 1 條", "ArticleContent": 5}]}))
    docs, rejects, _ = read(tmp_path, [f], kind="legal", path="x")
    assert docs == [] and rejects[0]["reason"] == "wrong_type"
    assert rejects[0]["field"] == "LawArticles[].content"


def test_parquet_and_csv_records(tmp_path):
    pq.write_table(pa.table({"body": ["一", None, "三"], "key": ["a", "b", "c"]}), tmp_path / "x.parquet")
    docs, rejects, _ = read(tmp_path, [tmp_path / "x.parquet"], kind="parquet", path="x", text_field="body", id_field="key")
    assert [d.id for d in docs] == ["s/a", "s/c"] and rejects[0]["line"] == 2 and rejects[0]["reason"] == "missing_field"
    csv_file = tmp_path / "x.csv"
    csv_file.write_bytes("text,id\n甲,1\n\"多\n行\",2\n".encode() + b"\xff\xfe,3\n")
    docs, rejects, _ = read(tmp_path / "c", [csv_file], kind="jsonl", path="x", id_field="id")
    assert [d.text for d in docs] == ["甲", "多\n行"] and rejects[0]["reason"] == "invalid_utf8" and rejects[0]["line"] == 5


# -- encodings and size limits (issue #31) ---------------------------------------------------------------------
ROWS = [{"id": 1, "text": "臺灣的老檔案常用大五碼儲存，讀取時要先判斷編碼。"}, {"id": 2, "text": "第二筆資料：繁體中文內容。"}]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp950", "gb18030"])
def test_files_are_decoded_in_their_own_encoding(tmp_path, encoding):
    f = tmp_path / "in.jsonl"
    f.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode(encoding))
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x", id_field="id")
    assert [d.text for d in docs] == [r["text"] for r in ROWS] and rejects == []


def test_an_encoding_can_be_forced_and_undecodable_lines_name_their_byte(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes((json.dumps(ROWS[0], ensure_ascii=False) + "\n").encode("cp950") + b'{"id": 3, "text": "\x81\x30"}\n')
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x", id_field="id", encoding="cp950")
    assert [d.text for d in docs] == [ROWS[0]["text"]]
    assert rejects[0]["reason"] == "invalid_encoding" and rejects[0]["line"] == 2 and rejects[0]["field"].startswith("cp950 at byte")


def test_oversized_records_and_documents_are_rejected_while_reading(tmp_path):
    f = tmp_path / "in.jsonl"
    big = json.dumps({"id": 9, "text": "長" * 5000}, ensure_ascii=False)
    f.write_text(json.dumps(ROWS[0], ensure_ascii=False) + "\n" + big + "\n" + json.dumps(ROWS[1], ensure_ascii=False) + "\n", encoding="utf-8")
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x", id_field="id", max_record_bytes=4096)
    assert [d.text for d in docs] == [ROWS[0]["text"], ROWS[1]["text"]]
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "record_too_large")]
    docs, rejects, _ = read(tmp_path, [f], kind="jsonl", path="x", id_field="id", max_document_chars=1000)
    assert len(docs) == 2 and [r["reason"] for r in rejects] == ["document_too_long"]


def test_a_repeated_id_never_makes_a_document_disappear(tmp_path):
    from tests.conftest import write_job
    from curation.cli import main

    f = tmp_path / "in.jsonl"
    rows = [{"id": "a", "text": "這是一份獨一無二的文件，內容和其他的都不一樣，請保留它。"},
            {"id": "a", "text": "第二份文件的內容，和第三份完全相同，去重時應該只留一份。"},
            {"id": "b", "text": "第二份文件的內容，和第三份完全相同，去重時應該只留一份。"}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(f), "id_field": "id"}], steps={"dedup": {"enabled": True}})
    assert main(["run", str(job)]) == 5  # published, with an alert about the repeated id
    texts = pq.read_table(sorted((tmp_path / "out/t/0.1.0/data").rglob("*.parquet"))).column("text").to_pylist()
    assert rows[0]["text"] in texts and len(texts) == 2
    manifest = json.loads((tmp_path / "out/t/0.1.0/manifest.json").read_text())
    assert any("repeat an id" in a for a in manifest["alerts"])


def test_repeated_ids_are_numbered_in_file_order_whatever_the_files_and_tasks(tmp_path):
    # many repeats within and across files (and an empty file): every task count gives each document the id a single
    # reader of all files in order gives it (the census of repeated ids that the tasks share)
    import random
    from collections import Counter

    rnd = random.Random(7)
    files = []
    for i in range(7):
        rows = [{"id": f"k{rnd.randint(0, 12)}", "text": f"第{i}個檔案的第{n}篇"} for n in range(rnd.randint(0, 9))]
        files.append(tmp_path / f"part{i}.jsonl")
        files[-1].write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    seen, expected = Counter(), {}
    for f in files:
        for line in f.read_bytes().splitlines():
            rec = orjson.loads(line)
            seen[rec["id"]] += 1
            expected[rec["text"]] = f"s/{rec['id']}" + (f"#{seen[rec['id']]}" if seen[rec["id"]] > 1 else "")
    assert max(seen.values()) > 3
    src = SourceConfig(name="s", kind="jsonl", path="x", id_field="id")
    for tasks in (1, 3, 7, 10):
        got = {}
        for rank in range(tasks):
            reader = reader_for(src, [str(f) for f in files], str(tmp_path / "rejects"), ids_dir=str(tmp_path / f"ids{tasks}"))
            got.update((d.text, d.id) for d in reader.run(rank=rank, world_size=tasks))
        assert got == expected, tasks
