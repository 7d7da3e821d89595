import gzip
import json

import pytest
from datatrove.data import Document

from curation.cli import main
from filters.config import PiiConfig, QualityConfig, SpamConfig, ToxicityConfig
from filters.pii import PiiRedactor, luhn, redact, valid_tw_id
from filters.quality import QualityFilter, TextStats, _class_table
from filters.spam import SpamFilter
from filters.toxicity import ToxicityFilter
from tests.conftest import SAMPLES, write_job

LAW = json.loads((SAMPLES / "legal/moj-law-export.json").read_text(encoding="utf-8"))["Laws"][0]
LAW_TEXT = LAW["LawName"] + "\n" + "\n".join(f"{a['ArticleNo']}　{a['ArticleContent']}" for a in LAW["LawArticles"])
NEWS = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]
QUOTE = "行政院長在記者會上表示：「我們會持續檢討政策，並且傾聽民眾的聲音。」他也強調，政府將在下個月提出具體方案，供各界討論。"
NUMBERS_TABLE = "\n".join(["年度　營收（億元）　成長率", "2019　1,234　3.2%", "2020　1,301　5.4%", "2021　1,455　11.8%",
                           "2022　1,502　3.2%", "2023　1,610　7.2%", "上表為本公司近五年營收，資料來源為年度財報。"])


def doc(text: str) -> Document:
    return Document(text=text, id="x", metadata={"source": "s"})


def quality(text: str, **cfg):
    d = doc(text)
    return QualityFilter(QualityConfig(**cfg)).filter(d), d.metadata["annotations"]


# -- quality -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [LAW_TEXT, QUOTE * 2, NUMBERS_TABLE, *NEWS[1:4]])
def test_clean_legal_news_quotes_and_tables_survive(text):
    result, ann = quality(text)
    assert result is True and ann["quality"] == "ok" and ann["quality_reasons"] == []


@pytest.mark.parametrize("text,reasons", [
    ("太短了。", ["too_short"]),
    ("Hello world. This page is mostly English text with just 一點中文 inside it for the test. " * 2, ["low_cjk_ratio"]),
    ("★☆★☆★☆★☆ 限時 ★☆★☆★☆ 優惠 ★☆★☆★☆★☆ 免費 ★☆★☆★☆★☆ 送 ★☆★☆★☆★☆★☆★☆", ["low_cjk_ratio", "too_many_symbols", "repetitive_ngrams"]),
    ("！！！？？？，，，。。。、、、」」」「「「！！？？。。，，、、；；：：…… 好" * 2, ["low_cjk_ratio", "too_much_punctuation"]),
    ("\n".join(["首頁 產品介紹 關於我們 最新消息", "服務項目 客戶案例 常見問題", "聯絡我們 隱私權政策 網站地圖",
                "登入會員 註冊帳號 購物車", "熱門商品 新品上市 特價專區", "追蹤我們 臉書粉絲團 官方帳號"]), ["few_sentence_ends"]),
    ("這是一段重複的內容，會一直出現。\n" * 8 + "只有這一行不同。", ["duplicate_lines"]),
    ("好棒棒好棒棒" * 30, ["repetitive_ngrams"]),
    ("\n".join(f"• 第{i}項商品，限時特價。" for i in range(12)), ["repetitive_ngrams", "bullet_list"]),
    ("\n".join(["首頁", "新聞", "體育", "財經", "娛樂", "科技", "生活", "國際", "社會", "地方", "影音", "專題"]) + "\n本網站內容版權所有。", ["few_sentence_ends", "navigation_menu"]),
    ("這段文字的編碼壞掉了：锟斤拷锟斤拷烫烫烫，還有 Ã¤Ã¶Ã¼ 等亂碼出現在文章裡面。" * 2, ["mojibake"]),
])
def test_each_quality_reason_fires(text, reasons):
    """Every reason the rules give, in order; the step drops with the first (several rules see a page of symbols)."""
    result, ann = quality(text)
    assert ann["quality_reasons"] == reasons and result == (False, reasons[0]), ann
    assert ann["quality"] == "low" and ann["quality_score"] < 1


def test_chronology_lines_read_as_statements_but_table_rows_do_not():
    filmography = "\n".join(["1979 蝶變", "1983 新蜀山劍俠", "1991黃飛鴻", "1992新龍門客棧", "2001 蜀山傳",
                               "2005 七劍", "2010 狄仁傑之通天帝國", "2011 龍門飛甲", "2018 狄仁傑之四大天王"])
    assert quality(filmography)[0] is True
    ranking = "\n".join(["買超排行", "證券代號 證券名稱 買超張數", "2303 聯電 9,733", "2313 華通 7,385",
                           "2891 中信金 5,666", "2606 裕民 4,200", "2368 金像電 3,735", "2882 國泰金 3,101"])
    result, ann = quality(ranking)
    assert result is not True and "few_sentence_ends" in ann["quality_reasons"]


def test_forum_posts_with_short_lines_or_a_list_are_not_navigation_menus():
    post = "\n".join(["就剛剛", "聽朋友傳來", "恐怖的消息", "說作弊英", "立院有17案要通過", "要控制我們的", "言論自由",
                       "這個女魔頭", "怎麼如此的可怕", "要限制我們的言論自由", "大家要小心"])
    question = "\n".join(["女友近期生日，想要帶她去吃和牛燒肉，有找了以下幾間餐廳，想問一下以肉質來說哪間較推薦呢",
                           "台北", "1.八和", "2.旺盛苑", "3.燃", "台中", "4.俺達", "5.燒肉本氣", "6.脂 板前", "7.赤阪屋", "謝謝各位"])
    for text in (post, question):
        result, ann = quality(text)
        assert "navigation_menu" not in ann["quality_reasons"], (text, ann)


def test_decoration_and_links_are_not_counted_as_text():
    # a separator line is one symbol, a box-drawing border none, and a link in capitals is a link
    table = _class_table()
    plain = TextStats.of("標題\n內文一段，說明事情的經過。", table)
    ruled = TextStats.of("標題\n" + "=" * 40 + "\n內文一段，說明事情的經過。", table)
    boxed = TextStats.of("─" * 20 + "\n內文一段，說明事情的經過。\n" + "│" * 3, table)
    assert ruled.symbols == plain.symbols + 1 and boxed.symbols == plain.symbols
    linked = TextStats.of("詳見 WWW.EXAMPLE.COM/NEWS 與 Https://example.com/a 的說明。", table)
    assert linked.url_chars == len("WWW.EXAMPLE.COM/NEWS") + len("Https://example.com/a") and linked.latin_letters == 0
    # the top 4-gram: the longest run after sorting may be first, last or in between
    for text in ("好棒棒好" * 10 + "其他文字內容", "其他文字內容" + "好棒棒好" * 10, "甲乙丙丁" * 5):
        assert TextStats.of(text, table).top_ngram_chars > 0
    assert TextStats.of("一二三四五六七八九十", table).top_ngram_chars == 0


def test_quality_thresholds_are_config():
    text = "好棒棒好棒棒" * 30
    assert quality(text, max_top_ngram_ratio=1.0)[0] is True
    assert quality("太短了。", min_chars=3)[0] is True


# -- spam --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,reason", [
    ("最新娛樂城首儲送1000，百家樂真人荷官，體驗金免費領，加賴 @abc123 立即加入！", "spam_gambling"),
    ("急用錢？免押免保，當日撥款，信用瑕疵也可以，加LINE：loan888", "spam_loan"),
    ("约炮 外约 定点茶，私讯我 微信", "spam_sex"),
    ("保證獲利！帶單老師每天報飆股，穩賺不賠，月入十萬不是夢", "spam_scam"),
    ("熱門關鍵字\n" + "\n".join(["台北|新北|桃園|台中|台南|高雄|基隆|新竹|嘉義|苗栗|彰化"] * 2), "keyword_stuffing"),
])
def test_spam_reasons_fire(text, reason):
    d = doc(text)
    assert SpamFilter(SpamConfig()).filter(d) == (False, reason)
    assert d.metadata["annotations"]["spam"] is True and d.metadata["annotations"]["spam_score"] >= 3


@pytest.mark.parametrize("text", [
    "警方今日破獲一個非法線上博弈集團，該集團經營娛樂城網站，涉嫌洗錢。檢方表示將依賭博罪起訴相關人員，並呼籲民眾切勿參與博弈。",
    LAW_TEXT, QUOTE, NUMBERS_TABLE, "本法所稱之地方，包括台北、新北、桃園、台中、台南、高雄、基隆、新竹、嘉義、苗栗等縣市。", *NEWS])
def test_news_about_gambling_and_clean_text_are_not_spam(text):
    d = doc(text)
    assert SpamFilter(SpamConfig()).filter(d) is True and d.metadata["annotations"]["spam"] is False


def test_hard_wrapped_lists_and_quoted_pitches_in_news_are_not_spam():
    wrapped = ("元大台灣高息低波此次50檔成分股中新增及刪除15檔，換股比例為30%。\n\n"
               "新增成分股有大成、長榮鋼、聯強、超豐、潤弘、裕民、凱基金、玉山金、台新金、永豐\n"
               "金、華立、群益證、帆宣、復盛應用、至上；並刪除亞泥、豐興、創見、可成、國產、京\n"
               "城銀、統一證、遠百、晶技、中租-KY、精成科、精誠、矽格、中鼎、裕融。")
    warning = ("警方呼籲，網路上假投資詐騙廣告多，總是標榜「保證獲利」、「穩賺不賠」的手法來騙取被害人上鉤，"
               "提醒民眾投資股票時應透過合法證券公司操作。\nhttps://udn.com/news/story/7320/8438643")
    spam = SpamFilter(SpamConfig(classifier=False))
    for text in (wrapped, warning):
        d = doc(text)
        assert spam.filter(d) is True, d.metadata["annotations"]
    # the same pitch said plainly, with the same link, is still an ad
    assert spam.filter(doc("保證獲利，穩賺不賠的投資群組，快來加入！\nhttps://udn.com/news/story/7320/8438643")) == (False, "spam_scam")


# -- toxicity ----------------------------------------------------------------------------------------
def test_toxicity_lexicon_in_both_scripts():
    for text in ("幹你娘咧，這什麼爛東西，白痴才會買", "操你妈的，王八蛋，滚蛋"):
        d = doc(text)
        assert ToxicityFilter(ToxicityConfig(classifier=False, lexicon_hits_per_1k=2)).filter(d) == (False, "toxic_lexicon")
        assert d.metadata["annotations"]["toxic"] is True
    for text in (LAW_TEXT, QUOTE, *NEWS):
        d = doc(text)
        assert ToxicityFilter(ToxicityConfig()).filter(d) is True and d.metadata["annotations"]["toxic"] is False


# -- PII ---------------------------------------------------------------------------------------------
def test_checksums():
    assert valid_tw_id("A123456789") and not valid_tw_id("A123456788")
    assert valid_tw_id("A800000014")  # new-format resident certificate
    assert valid_tw_id("AC01234567")  # old-format resident certificate
    assert not valid_tw_id("A323456789")
    assert luhn("4111 1111 1111 1111") and not luhn("4111 1111 1111 1112")


def test_redaction_output():
    text = ("聯絡我：0912-345-678 或 (02)2345-6789，信箱 abc.def@example.com.tw，身分證 A123456789，"
            "卡號 4111 1111 1111 1111，IP 192.168.1.10。無效：A123456788、4111 1111 1111 1112、第123條、1,234 元。")
    out, kinds = redact(text)
    assert out == ("聯絡我：<PHONE> 或 <PHONE>，信箱 <EMAIL>，身分證 <TW_ID>，卡號 <CREDIT_CARD>，IP <IP>。"
                   "無效：A123456788、4111 1111 1111 1112、第123條、1,234 元。")
    assert kinds == ["credit_card", "email", "ip", "phone", "tw_id"]
    d = doc(text)
    assert PiiRedactor(PiiConfig(kinds=["email"])).filter(d) is True
    assert "<EMAIL>" in d.text and "0912-345-678" in d.text and d.metadata["annotations"]["pii"] == ["email"]


def test_nothing_written_to_a_release_keeps_the_original_values(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"text": "Call me at 0912-345-678 or mail abc@example.com, this is an English post."}),
        '{"text": "broken line with 0987-654-321 and A123456789',
        json.dumps({"text": "我的電話是 0912-345-678，身分證 A123456789，請保密。這是一段中文的內容，足夠長來判斷語言。"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(src)}], steps={"language": {"enabled": True}})
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out/t/0.1.0"
    written = b""
    for f in release.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            written += gzip.decompress(data) if f.suffix == ".gz" else data
    for secret in (b"0912-345-678", b"0987-654-321", b"A123456789", b"abc@example.com"):
        assert secret not in written
    assert b"<PHONE>" in written and b"<TW_ID>" in written


def test_annotate_has_content_filter_fields(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "q", "text": QUOTE * 2}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["annotate", str(src), "-o", str(out)]) == 0
    ann = json.loads(out.read_text(encoding="utf-8"))["annotations"]
    assert {"quality", "quality_reasons", "spam", "spam_score", "toxic", "toxicity_score", "pii"} <= set(ann)
    assert ann["kept"] is True


# -- forum and LINE text (issue #18) -------------------------------------------------------------------
# Written for these tests in the shape of PTT posts: picture links and line-broken clauses
PICTURE_POST = ("如題，今天去逛展場看到這個模型\nhttps://i.imgur.com/k7pnaG8.jpeg\nhttps://pbs.twimg.com/media/GfO7Hx3a.jpg\n"
                "做工真的很細緻\n連背面都有上色\nhttps://youtu.be/DLkNQgh4Ons\n不知道之後會不會再版\n有人也有買的嗎")
FORUM_LINES = "\n".join(["如題", "我一開始覺得這遊戲怎麼會紅", "玩了以後才發現", "這遊戲實在太神了", "明明就是黑白的",
                         "我怎麼看到了顏色", "最重要的是劇情", "到底是誰寫的這麼好"])


def test_picture_links_are_not_contact_handles():
    d = doc(PICTURE_POST)
    assert SpamFilter(SpamConfig()).filter(d) is True
    assert "contact" not in d.metadata["annotations"]["spam_signals"]
    # a LINE ID, an add-friend link and a phone number are
    ad = "想賺錢的朋友加賴 @money888 或 https://line.me/R/ti/p/@money888 電話 0912-345-678 " * 2
    assert SpamFilter(SpamConfig()).filter(doc(ad)) == (False, "spam_contact")


def test_forum_posts_survive_quality():
    for text in (PICTURE_POST, FORUM_LINES):
        result, ann = quality(text)
        assert result is True, ann


def test_links_with_little_text_are_link_heavy():
    result, ann = quality("好文分享\nhttps://today.line.me/TW/article/qYNNpG?utm_source=lineshare\nhttps://goo.gl/E14XtA")
    assert result == (False, "link_heavy")


def test_spam_patterns_led_by_their_first_character_match_as_written_with_lookarounds():
    # BODY_CODE, CHAIN_DEMAND and REPORTING are written to begin with a consumed character (so sre can skip to it);
    # they must find exactly what the plain forms with a leading (?<!\d) or (?=...) find, match for match
    import random
    import re

    import filters.spam as S

    plain = {
        S.BODY_CODE: r"(?<!\d)1[4-8]\d\s*[/.／-]\s*[3-7]\d\s*[/.／-]\s*[A-Ha-hＡ-Ｈ](?![A-Za-z])",
        S.CHAIN_DEMAND: r"(?=[轉傳發分])" + S.CHAIN_DEMAND.pattern,
        S.REPORTING: f"(?:{'|'.join(S.REPORTING_WORDS)}|(?<!\\d)165(?!\\d))",
    }
    pieces = list("0123456789１/.／- \nABCabcＡx轉傳發分享送出給到至個位組以上群人朋友親一二十者報警詐團呼假查謠法檢") + [
        "165", "162/45/C", "轉發給10個群組", "記者", "詐騙集團"]
    rnd = random.Random(40)
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40))) for _ in range(30000)]
    for shipped, written in plain.items():
        reference = re.compile(written)
        for text in texts:
            assert [(m.span(), m.group()) for m in shipped.finditer(text)] == \
                   [(m.span(), m.group()) for m in reference.finditer(text)], (shipped.pattern[:30], text)
    assert S.BODY_CODE.search("身高162/45/C") and not S.BODY_CODE.search("2162/45/C")  # the look-behind still holds
    assert S.REPORTING.findall("記者報導，撥1650") == ["記者", "報導"]
