"""Line-level cleaning (issue #28) and the segment-edit mechanism it shares with spam and toxicity."""

import json

from datatrove.data import Document

from curation.cli import main
from filters.cleaning import LineCleaner
from filters.config import CleaningConfig, QualityConfig, ScriptConfig
from filters.quality import QualityFilter
from filters.script import ScriptFilter
from filters.segments import edit_view, restore

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


# issue 39: edits a reader would agree with. Every text below was written for these tests in the shape of real forum
# posts: a one-word answer, a poll, a share footer, a technical paragraph that says "cookie"


def test_one_ordinary_ui_word_alone_on_a_line_is_the_authors_text():
    poll = "這次的公投你們怎麼投？\n同意\n不同意\n我自己是投同意，理由是電價太貴了"
    replies = "這篇文章寫得很好，我會轉給家人看\n分享\n原po辛苦了，期待下一篇\n讚\n更多\n留言"
    for text in (poll, replies):
        d, result = clean(text)
        assert result is True and d.text == text and d.metadata["annotations"]["edits"] == {}, text


def test_chrome_needs_several_ui_words_or_a_known_bar_phrase():
    article = "颱風明天清晨登陸，各縣市停班停課資訊請以人事行政總處公告為準。"
    for chrome in ("分享 Facebook LINE Twitter", "讚 分享", "上一篇 | 下一篇", "回到頂部", "延伸閱讀", "複製連結",
                   "小 中 大", "分享到 臉書"):
        d, _ = clean(article + "\n" + chrome)
        assert d.text == article, chrome
    # three of one word are still one word: an author cheering, not a bar of buttons
    assert clean(article + "\n讚 讚 讚")[0].text == article + "\n讚 讚 讚"


def test_show_more_lines_are_chrome_when_the_line_is_only_that():
    post = "昨天去看了新上映的動畫電影，畫面非常漂亮，劇情也很感人。"
    for ui in ("顯示更多", "查看更多", "看更多留言", "Show more", "展開全文", "繼續閱讀", "繼續閱讀…", "顯示更多留言", "Read more »"):
        d, _ = clean(post + "\n" + ui)
        assert d.text == post and "clean:page_chrome" in d.metadata["annotations"]["edits"], ui
    for text in ("我想看更多這類的電影心得", "繼續閱讀這本書之前，先去補了前一集"):
        assert clean(post + "\n" + text)[0].text == post + "\n" + text


def test_a_lone_quoted_line_or_a_poll_written_with_colons_is_the_authors():
    poll = "大家覺得哪一家的牛肉麵最好吃？\n: 林東芳\n: 永康\n: 老張\n歡迎推文投票"
    score = "這次考試我覺得自己準備得很充分\n> 100%\n希望成績出來不要打臉"
    for text in (poll, score):
        d, _ = clean(text)
        assert d.text == text and d.metadata["annotations"]["edits"] == {}, text
    # a run of quoted prose with no header is still a quote: a reply whose header was cut off
    reply = ": 之前在板上看到有人推薦這家店\n: 說他們的湯頭是用牛骨熬十二小時\n\n我去吃過了，湯頭確實很濃"
    d, _ = clean(reply)
    assert d.text == "\n我去吃過了，湯頭確實很濃"
    # in a reply that quotes a post, a lone quoted line between the answers is one more piece of the quote
    interleaved = ("※ 引述《abc (小明)》之銘言：\n: 這家店的服務很差\n: 等了一個小時才上菜\n\n我去的時候還好\n"
                   ": 價格也偏貴\n\n價格我覺得還算合理")
    d, _ = clean(interleaved)
    assert d.text == "\n我去的時候還好\n\n價格我覺得還算合理"


def test_share_footers_are_footer_lines_not_sentences_that_start_with_the_words():
    post = "今天終於把這台車開回家了，試駕了兩次才決定，油耗比想像中好很多。"
    for footer in ("- 分享自 Mobile01 討論區", "-- Sent from my Pixel 8", "—— 分享自 巴哈姆特電玩資訊站", "分享自 Yahoo奇摩新聞",
                   "Sent from my iPhone", "-----\nSent from JPTT on my iPhone"):
        d, _ = clean(post + "\n" + footer)
        assert d.text == post, footer
    for text in ("分享自己這次買車的經驗，希望對大家有幫助。", "From my experience, the hybrid is worth the price.",
                 "分享自家種的芭樂，很甜很好吃，歡迎大家來拿"):
        d, _ = clean(post + "\n" + text)
        assert d.text == post + "\n" + text, text


def test_a_paragraph_that_mentions_a_cookie_is_not_a_cookie_banner():
    tech = ("登入成功後伺服器會發一個 access cookie 給瀏覽器，之後每次請求都會自動帶上它，"
            "所以使用者不必重新輸入密碼；如果同意記住登入，這個 cookie 的效期會延長到三十天。")
    d, result = clean(tech)
    assert result is True and d.text == tech
    for short in ("伺服器用 access cookie 驗證身分，使用前要先登入", "cookie 過期之後使用者要重新登入"):
        assert clean(short)[0].text == short
    article = "市議會今天三讀通過自治條例，明年一月起實施。"
    for banner in ("本網站使用 Cookie 以提供更好的瀏覽體驗，繼續瀏覽即表示您同意我們的隱私權政策。",
                   "We use cookies to improve your experience. By continuing you agree to our Privacy Policy.",
                   "接受所有 Cookie", "Accept all cookies"):
        d, _ = clean(article + "\n" + banner)
        assert d.text == article, banner


# -- tag mode: an edit kind recorded and its line kept, to measure a rule on real output before it cuts --------------


def test_a_tagged_kind_keeps_its_lines_and_records_them():
    config = CleaningConfig(edit_actions={"quoted_reply": "tag"})
    step = LineCleaner(config)
    d = doc(PTT_REPLY, source="ptt")
    assert step.filter(d) is True
    quoted = PTT_REPLY.split("\n")[:4]
    assert d.text.split("\n")[:4] == quoted  # the quote stays; the signature and system lines still go
    ann = d.metadata["annotations"]
    assert ann["tagged_edits"] == {"clean:quoted_reply": {"segments": 4, "chars": sum(len(q) + 1 for q in quoted)}}
    assert "clean:quoted_reply" not in ann["edits"] and ann["edits"]["clean:template"]["segments"] == 4
    assert [(at, reason) for at, reason, _ in d.metadata["segment_tags"]] == [(i, "clean:quoted_reply") for i in range(4)]
    assert step.stats["tagged_quoted_reply"].total == 1 and step.stats["source:ptt/tagged_quoted_reply"].total == 1
    assert "edited_quoted_reply" not in step.stats.stats and step.stats["edited_template"].total == 1
    view = edit_view(d.text, d.metadata["segment_edits"], d.metadata["segment_tags"])
    assert "\n".join(line for line, _, _ in view) == PTT_REPLY
    assert [action for _, _, action in view] == ["tag"] * 4 + [None] * 2 + ["remove"] * 4


def test_a_tagged_kind_never_drops_a_document_as_mostly_that_kind():
    text = "※ 引述《someone》之銘言：\n: 原本的文章內容在這裡，很長很長的一段文字\n: 第二行也是引用的內容"
    assert clean(text)[1] == (False, "mostly_quoted_reply")
    d, result = clean(text, CleaningConfig(edit_actions={"quoted_reply": "tag"}))
    assert result is True and d.text == text


def test_tag_positions_count_lines_before_any_edit_across_steps():
    # a later step tags a line of text an earlier step already cut: its position is still the original line's
    from filters.config import ToxicityConfig
    from filters.toxicity import ToxicityFilter

    text = "※ 引述《a》之銘言：\n: 引用的內容\n今天去台中吃了一家新開的牛肉麵，湯頭很濃，推薦給大家。\n推 abc: 這家店真的很好吃\n噓 xyz: 你這個智障腦殘，去死啦"
    d = doc(text)
    assert LineCleaner(CleaningConfig()).filter(d) is True
    assert ToxicityFilter(ToxicityConfig(edit_actions={"toxic_segment": "tag"})).filter(d) is True
    assert d.text.endswith("去死啦") and d.metadata["segment_tags"] == [[4, "toxicity:toxic_segment", "噓 xyz: 你這個智障腦殘，去死啦"]]
    view = edit_view(d.text, d.metadata["segment_edits"], d.metadata["segment_tags"])
    assert [(reason, action) for _, reason, action in view] == [("clean:quoted_reply", "remove")] * 2 + [(None, None)] * 2 + [
        ("toxicity:toxic_segment", "tag")]


def test_edit_actions_are_checked_per_step():
    import pytest
    from pydantic import ValidationError

    from filters.config import SpamConfig, ToxicityConfig

    assert SpamConfig(edit_actions={"contact_line": "tag"}).edit_actions == {"contact_line": "tag"}
    assert ToxicityConfig(edit_actions={"toxic_segment": "tag"}).edit_actions == {"toxic_segment": "tag"}
    # the defaults earned on held-back real text (bench/RESULTS.md, issue 39): kinds under 0.90 precision tag
    assert CleaningConfig().edit_actions == {}
    assert SpamConfig().edit_actions == {"contact_line": "tag", "ad_line": "tag"}
    assert ToxicityConfig().edit_actions == {"toxic_segment": "tag"}
    with pytest.raises(ValidationError):
        CleaningConfig(edit_actions={"toxic_segment": "tag"})  # not a kind the cleaner edits
    with pytest.raises(ValidationError):
        CleaningConfig(edit_actions={"page_chrome": "keep"})


def test_a_tagged_contact_line_stays_under_the_review():
    from filters.config import SpamConfig
    from filters.spam import SpamFilter

    review = "這家餐廳的牛肉麵湯頭很濃，麵條很有嚼勁，份量也很多，價格算合理，下次還會再來。\n服務人員態度也很親切，推薦給大家。\n團購請加微信：abc12345"
    lines_only = {"classifier": False, "threshold": 100.0}  # the document is never an ad as a whole: only its lines are judged
    d = Document(text=review, id="x", metadata={"source": "s"})
    assert SpamFilter(SpamConfig(**lines_only, edit_actions={"contact_line": "remove"})).filter(d) is True and "微信" not in d.text
    d = Document(text=review, id="x", metadata={"source": "s"})
    assert SpamFilter(SpamConfig(**lines_only, edit_actions={"contact_line": "tag"})).filter(d) is True
    assert d.text == review and d.metadata["annotations"]["tagged_edits"] == {"spam:contact_line": {"segments": 1, "chars": len("團購請加微信：abc12345") + 1}}


# -- curate annotate shows what curate run would ship -----------------------------------------------------------------


def test_annotate_carries_the_edits_and_the_shipped_text(tmp_path):
    rows = [{"id": "r1", "text": PTT_REPLY}, {"id": "r2", "text": "今天天氣很好，我們一家人去公園散步，順便買了一杯珍珠奶茶。"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["annotate", str(src), "-o", str(out)]) == 0
    got = {g["id"]: g for g in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    reply = got["r1"]
    assert reply["text"] == "我也有去吃過，覺得麵條有點太軟了，不過湯頭確實不錯\n下次想試試看他們的乾拌麵，聽說也很多人推薦"
    assert reply["annotations"]["edits"]["clean:quoted_reply"]["segments"] == 4
    original = PTT_REPLY.split("\n")
    edits = reply["segment_edits"]
    assert [e["line"] for e in edits] == [0, 1, 2, 3, 6, 7, 8, 9]
    assert [e["reason"] for e in edits][:4] == ["clean:quoted_reply"] * 4 and {e["action"] for e in edits} == {"remove"}
    assert [e["text"] for e in edits] == [original[i] for i in (0, 1, 2, 3, 6, 7, 8, 9)]
    assert got["r2"]["segment_edits"] == [] and got["r2"]["text"] == rows[1]["text"]


def test_annotate_shows_tagged_edits_in_the_text_that_ships(tmp_path):
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "r1", "text": PTT_REPLY}, ensure_ascii=False) + "\n", encoding="utf-8")
    job = write_job(tmp_path, [{"name": "ptt", "kind": "jsonl", "path": str(src)}], steps={"clean": {"edit_actions": {"quoted_reply": "tag"}}})
    out = tmp_path / "out.jsonl"
    assert main(["annotate", str(src), "-o", str(out), "--config", str(job)]) == 0
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["text"].startswith("※ 引述《someone (某人)》之銘言：\n: 今天去吃了")
    assert [(e["line"], e["action"]) for e in got["segment_edits"]][:5] == [(0, "tag"), (1, "tag"), (2, "tag"), (3, "tag"), (6, "remove")]
    assert got["annotations"]["tagged_edits"]["clean:quoted_reply"]["segments"] == 4


def test_tagged_edits_reach_the_manifest_and_inspect(tmp_path, capsys):
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "r1", "text": PTT_REPLY}, ensure_ascii=False) + "\n", encoding="utf-8")
    job = write_job(tmp_path, [{"name": "ptt", "kind": "jsonl", "path": str(src)}], steps={"clean": {"edit_actions": {"quoted_reply": "tag"}}})
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out/t/0.1.0"
    clean_step = next(s for s in json.loads((release / "manifest.json").read_text())["steps"] if s["step"] == "clean")
    assert clean_step["other"]["tagged_quoted_reply"] == 1 and "edited_quoted_reply" not in clean_step["other"]
    capsys.readouterr()
    assert main(["inspect", str(release), "--kept", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "[tagged clean:quoted_reply] : 今天去吃了" in out and "[removed clean:template]" in out
