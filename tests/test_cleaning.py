"""Line-level cleaning (issue #28) and the segment-edit mechanism it shares with spam and toxicity."""

import json

from datatrove.data import Document

from curation.cli import main
from filters.cleaning import LineCleaner
from filters.config import CleaningConfig, QualityConfig, ScriptConfig
from filters.quality import QualityFilter
from filters.script import ScriptFilter
from filters.segments import restore

# written for these tests in the shape of a PTT reply: quote header, quoted lines, the reply, signature, system lines
PTT_REPLY = """※ 引述《someone (某人)》之銘言：
: 今天去吃了巷口那家新開的牛肉麵，湯頭很濃郁
: 價格也算合理，一碗一百五十元
:
我也有去吃過，覺得麵條有點太軟了，不過湯頭確實不錯
下次想試試看他們的乾拌麵，聽說也很多人推薦
--
我的簽名檔：吃遍台北
※ 發信站: 批踢踢實業坊(ptt.cc), 來自: <IP> (臺灣)
※ 文章網址: https://www.ptt.cc/bbs/Food/M.1700000000.A.123.html"""

POEM = "床前明月光\n疑是地上霜\n舉頭望明月\n低頭思故鄉\n床前明月光\n疑是地上霜"
LAW = "第一章 總則\n第一條 為保障人民權益，特制定本法。\n第二章 罰則\n第一章 總則\n第二條 本法所稱主管機關為內政部。"
PRICES = "大杯 50元\n中杯 40元\n小杯 30元\n大杯 50元\n加珍珠 10元"


def doc(text, kind="jsonl", source="s"):
    return Document(text=text, id="d", metadata={"source": source, "kind": kind})


def clean(text, config=None, kind="jsonl"):
    d = doc(text, kind)
    result = LineCleaner(config or CleaningConfig()).filter(d)
    return d, result


def test_quoted_reply_and_templates_are_removed_and_recorded():
    d, result = clean(PTT_REPLY)
    assert result is True
    assert d.text == "我也有去吃過，覺得麵條有點太軟了，不過湯頭確實不錯\n下次想試試看他們的乾拌麵，聽說也很多人推薦"
    edits = d.metadata["annotations"]["edits"]
    assert edits["clean:quoted_reply"]["segments"] == 4
    assert edits["clean:template"]["segments"] == 4  # --, the signature line, 發信站, 文章網址
    # the original comes back line for line, each removed line with its reason
    restored = restore(d.text, d.metadata["segment_edits"])
    assert "\n".join(line for line, _ in restored) == PTT_REPLY
    assert [r for _, r in restored][:4] == ["clean:quoted_reply"] * 4


def test_copied_blocks_and_long_repeated_sentences_go_short_and_listed_repeats_stay():
    post = "今天去看了那部新上映的電影，劇情節奏很緊湊\n演員的表現也相當自然，推薦大家去看看"
    reply = post + "\n\n我也覺得不錯，尤其是配樂的部分非常用心"  # a reply that copies the post it answers, no quote marks
    d, _ = clean(post + "\n" + reply)
    assert d.text == post + "\n\n我也覺得不錯，尤其是配樂的部分非常用心"
    assert d.metadata["annotations"]["edits"]["clean:repeated_line"]["segments"] == 2
    sentence = "這是一段很長很長的討論內容，我想知道大家對這個議題的看法是什麼呢？"
    d, _ = clean(sentence + "\n我覺得還不錯\n" + sentence)
    assert d.text == sentence + "\n我覺得還不錯"
    log = "harrybbs 買了 1 張 西區新王\nnabel250 買了 3 張 東區\nharrybbs 買了 1 張 西區新王\nCalmEarth 買了 5 張 勇士"
    for text in (POEM, LAW, PRICES, log, "營業時間：11:45-21:15，週一公休喔\n第二家分店\n營業時間：11:45-21:15，週一公休喔"):
        d, result = clean(text)  # a refrain, a law's repeated heading, a price list, a log, a labelled field: left alone
        assert result is True and d.text == text and d.metadata["annotations"]["edits"] == {}, text


def test_laws_are_never_edited():
    text = "第一條 為保障人民權益，特制定本法，並依下列規定辦理之事項。\n: 引號開頭的一行\n第一條 為保障人民權益，特制定本法，並依下列規定辦理之事項。"
    d, _ = clean(text, kind="legal")
    assert d.text == text


def test_page_chrome_and_footers():
    text = ("台北市今天將舉辦跨年晚會，預計吸引數十萬人參加，市府提醒民眾搭乘大眾運輸。\n分享 Facebook LINE Twitter\n"
            "本網站使用Cookie以提供更好的瀏覽體驗，繼續瀏覽即表示您同意。\n延伸閱讀\nSent from my iPhone")
    d, _ = clean(text)
    assert d.text == "台北市今天將舉辦跨年晚會，預計吸引數十萬人參加，市府提醒民眾搭乘大眾運輸。"
    edits = d.metadata["annotations"]["edits"]
    assert edits["clean:page_chrome"]["segments"] == 3 and edits["clean:template"]["segments"] == 1
    # words that are chrome only when a line holds nothing else
    prose = "我在LINE上分享了這篇文章給朋友，大家都覺得延伸閱讀的部分很有幫助。"
    assert clean(prose)[0].text == prose


def test_a_simplified_line_in_a_traditional_post_is_removed_not_the_post():
    text = ("今天和朋友去爬山，天氣很好，山上的風景非常漂亮，大家都玩得很開心。\n"
            "这是一段从网络上复制过来的简体中文内容，没有经过转换就贴上来了。\n"
            "下山後我們去吃了當地有名的小吃，價格便宜又好吃，推薦給大家。")
    d, _ = clean(text)
    assert "网络" not in d.text and d.text.count("\n") == 1
    assert d.metadata["annotations"]["edits"]["clean:simplified_line"]["segments"] == 1
    d = doc(text)
    assert ScriptFilter(ScriptConfig()).filter(d) == (False, "script_mixed")  # without the cleaner: the post is lost
    d, _ = clean(text, CleaningConfig(simplified_lines="convert"))
    assert "網路" in d.text and d.text.count("\n") == 2 and d.metadata["annotations"]["converted_lines"] == 1
    # a mostly Simplified document is the script step's to judge, not cut to its Traditional lines
    mostly = "这是一段简体中文的文章内容，讨论了很多关于经济发展的问题和现象。\n這一行是繁體中文的內容，只是其中的一小部分而已。\n" * 1
    mostly += "另外还有一段简体中文的内容，继续讨论经济发展带来的各种影响。"
    assert clean(mostly)[0].text == mostly


def test_stray_simplified_characters_are_repaired_not_dropped():
    text = "今天開始霜降了，連續三天不要吃生冷的食物。脚踝處要保暖，因爲地上的寒氣開始上升了。這三天绝不能感冒生病哦。"
    d = doc(text)
    assert ScriptFilter(ScriptConfig()).filter(d) is True
    assert "腳踝" in d.text and "絕不" in d.text and d.metadata["annotations"]["repaired"] is True
    d = doc(text)
    assert ScriptFilter(ScriptConfig(mixed_repair_min=1.0)).filter(d) == (False, "script_mixed")


def test_a_reply_that_was_all_quote_is_dropped_under_the_rule_that_removed_most():
    text = "※ 引述《someone》之銘言：\n: 原本的文章內容在這裡，很長很長的一段文字\n: 第二行也是引用的內容"
    d, result = clean(text)
    assert result == (False, "mostly_quoted_reply")
    # a long quote above a real reply keeps the reply
    d, result = clean(text + "\n我完全同意你的看法，這件事情真的需要更多人關注")
    assert result is True and d.text == "我完全同意你的看法，這件事情真的需要更多人關注"


def test_short_posts_per_source_and_kind():
    q = QualityFilter(QualityConfig(min_chars_by_kind={"news": 50}, min_chars_by_source={"ptt": 10}))
    headline = "高鐵票價明年起調漲，部分路線漲幅超過一成"  # 20 characters: a complete headline
    assert q.filter(doc(headline)) is True
    assert q.filter(doc(headline, kind="news")) == (False, "too_short")
    assert q.filter(doc("今天天氣很好出門走走", source="ptt")) is True
    assert QualityFilter(QualityConfig()).filter(doc("今天天氣很好出門走走")) == (False, "too_short")


def test_edits_reach_stats_manifest_and_inspect(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "r1", "text": PTT_REPLY}, {"id": "r2", "text": "※ 引述《a》之銘言：\n: 只有引用的內容，沒有回覆任何東西的一篇文章"}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    from tests.conftest import write_job

    job = write_job(tmp_path, [{"name": "ptt", "kind": "jsonl", "path": str(src)}])
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out/t/0.1.0"
    manifest = json.loads((release / "manifest.json").read_text())
    clean_step = next(s for s in manifest["steps"] if s["step"] == "clean")
    assert clean_step["dropped_by_reason"] == {"mostly_quoted_reply": 1}
    assert clean_step["other"]["edited_quoted_reply"] == 2 and clean_step["other"]["segments_removed_template"] == 4
    capsys.readouterr()
    assert main(["stats", str(release)]) == 0
    out = capsys.readouterr().out
    assert "edited" in out and "quoted_reply" in out
    assert main(["inspect", str(release), "--kept", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "[removed clean:quoted_reply]" in out and "我也有去吃過" in out
