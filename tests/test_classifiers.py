"""The spam/toxicity classifiers: recipe training round trip, script folding, number folding, shipped models
loading by default, and the fallback when no model is installed. Model quality is measured in bench/, not here."""

import hashlib
import json
import random

import opencc
import pytest
from datatrove.data import Document

import filters.textclassifier as tc
from curation.cli import main
from filters.config import SpamConfig, ToxicityConfig
from filters.spam import SpamFilter
from filters.textclassifier import TextClassifier, features, shipped_card
from filters.toxicity import ToxicityFilter
from tests.conftest import SAMPLES

INSULTS = ["白痴", "智障", "腦殘", "王八蛋", "廢物", "人渣", "賤人", "去死"]
FRAMES = ["你這個{}，閉嘴啦", "{}才會這樣想，{}", "真是{}一個，{}", "滾開，{}，{}"]
CLEAN = ["今天下午市政府召開記者會，說明明年度的預算編列方向。", "這家店的牛肉麵湯頭清爽，麵條也很有嚼勁。",
         "颱風預計明天清晨登陸，氣象署提醒民眾做好防颱準備。", "圖書館週末延長開放時間，方便學生準備期末考。",
         "研究團隊發現，每天散步三十分鐘有助於改善睡眠品質。", "高鐵公司宣布春節連假加開班次，明天開放訂票。"]


def labeled_rows(n: int, seed: int) -> list[dict]:
    """Hand-made labeled rows (a stand-in for a real labeled set, which tests may not need): insults in sentence
    frames vs. clean sentences with a varying suffix."""
    rng = random.Random(seed)
    rows = [{"text": rng.choice(FRAMES).format(rng.choice(INSULTS), rng.choice(INSULTS)), "label": 1} for _ in range(n)]
    rows += [{"text": rng.choice(CLEAN) + f"第{i}則。", "label": 0} for i in range(n)]
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_recipe(tmp_path, name="tox"):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    write_jsonl(data / "train.jsonl", labeled_rows(120, 0))
    write_jsonl(data / "dev.jsonl", labeled_rows(30, 1))
    write_jsonl(data / "nosplit.jsonl", labeled_rows(60, 2))
    recipe = tmp_path / f"{name}.recipe.yaml"
    recipe.write_text(f"""
name: {name}
positive_label: toxic
negative_label: clean
seed: 3
sets:
  - {{path: train.jsonl, part: train}}
  - {{path: dev.jsonl, part: dev}}
  - {{path: nosplit.jsonl, split: {{seed: 13, train: 0.7, dev: 0.1}}, parts: [train, dev]}}
evaluate:
  - {{path: nosplit.jsonl, name: held out, split: {{seed: 13, train: 0.7, dev: 0.1}}, parts: [test]}}
fasttext: {{epoch: 25, lr: 0.5, dim: 50, bucket: 500000}}
quantize: false
""", encoding="utf-8")
    return recipe, data


def test_recipe_round_trip_is_bit_for_bit_and_scores_in_the_step(tmp_path, capsys):
    recipe, data = write_recipe(tmp_path)
    for out in ("a", "b"):
        assert main(["train-classifier", str(recipe), "-o", str(tmp_path / out), "--data-root", str(data)]) == 0
    a, b = (tmp_path / "a" / "tox.bin").read_bytes(), (tmp_path / "b" / "tox.bin").read_bytes()
    assert a == b, "the same recipe over the same files must give the same model bytes"
    card = json.loads((tmp_path / "a" / "tox.json").read_text())
    assert card["sha256"] == hashlib.sha256(a).hexdigest() and 0 < card["threshold"] < 1
    assert [s["set"] for s in card["trained_on"]] == ["train.jsonl", "dev.jsonl", "nosplit.jsonl"]
    held_out = card["metrics"]["held out"]
    assert held_out["rows"] > 0 and held_out["f1"] > 0.9 and "held out (s2twp)" in card["metrics"]
    assert "held out: precision" in capsys.readouterr().out

    step = ToxicityFilter(ToxicityConfig(lexicon_hits_per_1k=1000), model_path=tmp_path / "a" / "tox.json")
    d = Document(text="你這個人渣，真是廢物一個", id="x")
    assert step.filter(d) == (False, "toxic_classifier") and d.metadata["annotations"]["toxicity_score"] >= card["threshold"]
    assert step.filter(Document(text="颱風預計明天清晨登陸，氣象署提醒民眾做好防颱準備。", id="y")) is True
    # the same score without a corroborating hit of the configured kind and weight keeps the document
    # (comment_lexicon_weight out of reach: the words alone would make a short comment toxic)
    for config in (ToxicityConfig(lexicon_hits_per_1k=1000, classifier_alone=1.0, corroborating_categories=["slur"],
                                  comment_lexicon_weight=5),
                   ToxicityConfig(lexicon_hits_per_1k=1000, classifier_alone=1.0, corroborating_weight=1.5,
                                  comment_lexicon_weight=5)):  # 人渣 0.7 + 廢物 0.5
        d = Document(text="你這個人渣，真是廢物一個", id="x")
        step = ToxicityFilter(config, model_path=tmp_path / "a" / "tox.json")
        assert step.filter(d) is True and d.metadata["annotations"]["toxicity_score"] >= card["threshold"]


def test_recipe_names_the_bad_row(tmp_path, capsys):
    recipe, data = write_recipe(tmp_path)
    with open(data / "train.jsonl", "a", encoding="utf-8") as f:
        f.write('{"label": 1}\n')
    assert main(["train-classifier", str(recipe), "-o", str(tmp_path / "m"), "--data-root", str(data)]) == 1
    err = capsys.readouterr().err
    assert "train.jsonl:241" in err and "'text'" in err and not (tmp_path / "m" / "tox.bin").exists()


def test_script_folding_makes_traditional_score_like_simplified():
    simplified = "这种人又无耻又恶心，自己算什么东西，还要求别人这样那样"
    traditional = opencc.OpenCC("s2twp").convert(simplified)
    assert traditional != simplified and features(traditional) == features(simplified)
    clf = TextClassifier(shipped_card("toxicity"))
    assert abs(clf.probability(traditional) - clf.probability(simplified)) < 0.02


def test_numbers_and_x_placeholders_are_one_feature():
    # the SMS set wrote the digits of its spam rows as x: both spellings must look the same to a model
    assert features("回复xxxx退订，详询xxx-xxxxxxxx") == features("回复1234退订，详询021-55551234")
    assert features("加我 0912345678") == features("加我 xxxxxxxxxx")
    assert "box" in features("a box of vx") and "vx" in features("a box of vx")
    assert "<num" not in features("box")


def test_shipped_models_load_by_default_in_run_and_annotate(tmp_path):
    assert shipped_card("spam") and shipped_card("toxicity")
    assert SpamFilter(SpamConfig()).classifier is not None and ToxicityFilter(ToxicityConfig()).classifier is not None
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [{"text": "你這個人渣，真是廢物一個，滾回去吧，王八蛋才會這樣想"},
                      {"text": (SAMPLES / "news" / "libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8")[:400]}])
    out = tmp_path / "out.jsonl"
    assert main(["annotate", str(src), "-o", str(out)]) == 0
    rows = [json.loads(line)["annotations"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert all("spam_probability" in r and "toxicity_score" in r for r in rows)
    assert rows[0]["toxic"] is True and rows[0]["toxicity_score"] > rows[1]["toxicity_score"]


def test_without_a_shipped_model_the_lexicon_works_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "MODELS", tmp_path)  # an install without the model files
    tox, spam = ToxicityFilter(ToxicityConfig()), SpamFilter(SpamConfig())
    assert tox.classifier is None and spam.classifier is None
    d = Document(text="幹你娘，王八蛋，白痴，智障，腦殘，去死", id="x")
    assert tox.filter(d) == (False, "toxic_lexicon")
    clean = Document(text="颱風預計明天清晨登陸，氣象署提醒民眾做好防颱準備。", id="y")
    assert spam.filter(clean) is True and "spam_probability" not in clean.metadata["annotations"]
    with pytest.raises(FileNotFoundError, match="nope.json"):
        ToxicityFilter(ToxicityConfig(), model_path=tmp_path / "nope.bin")


@pytest.mark.parametrize("text", ["臺灣的軟體 3.5 版\t更新ABC def", "  加LINE：abc123，限時優惠！！ 09xx-xxx-xxx ", "混合 text 與 數字 2024年12月",
                                  "全形　空白與\u3000換行\n第二行", "", "a\x1cb\u2028c𠀋字",
                                  "！㘓㘔 x1 㑮x"])  # 㘓 folds to 𪢌, outside the Han ranges: not a token of its own
def test_features_split_like_spacing_out_every_han_character(text):
    # the one-pass tokenizer must give the models exactly the input they were trained on
    folded = tc.NUMBER.sub(tc._number_token, text.translate(tc.traditional_to_simplified()).lower())
    assert tc.features(text) == " ".join(tc.CJK.sub(r" \1 ", folded).split())
    assert tc.han_count(text) == len(tc.CJK.findall(text))


def test_spam_and_toxicity_featurize_a_document_once():
    tc.scored_chunks.cache_clear()
    spam, tox = SpamFilter(SpamConfig()), ToxicityFilter(ToxicityConfig())
    d = Document(text="颱風預計明天清晨登陸，氣象署提醒民眾做好防颱準備。" * 30, id="x")
    spam.filter(d)
    tox.filter(d)
    info = tc.scored_chunks.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    # the cached pieces are what scoring each chunk on its own gives
    chunk_scores = tox.classifier.chunk_probabilities(d.text)
    assert len(chunk_scores) == len(tc.chunks(d.text, tox.classifier.card.chunk_chars)) > 1
    assert chunk_scores[0][1] == pytest.approx(tox.classifier.probability(tc.chunks(d.text, 300)[0]))


def test_recipe_sweep_chooses_by_dev_f1(tmp_path, capsys, monkeypatch):
    # bench/quality/sweep_recipe.py trains the recipe once per setting and names the setting with the best dev F1
    from bench.quality.sweep_recipe import sweep

    recipe, data = write_recipe(tmp_path)
    monkeypatch.setattr("sys.argv", ["sweep_recipe", str(recipe), "--data-root", str(data), "--epoch", "1", "25", "--dim", "8"])
    sweep()
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [json.loads(line) for line in lines[:-1]]
    assert [(r["epoch"], r["dim"]) for r in rows] == [(1, 8), (25, 8)]
    assert all(r["bucket"] == 500000 and "held out F1" in r for r in rows)  # unswept settings come from the recipe
    best = json.loads(lines[-1].removeprefix("best by dev F1: "))
    assert best == max(rows, key=lambda r: r["dev_f1"])


def test_fold_table_is_the_han_dict_it_replaced():
    """features' translate table (a list by code point) gives what the dict of Han characters gave, for every code point."""
    from filters.hanfold import traditional_to_simplified

    t2s = traditional_to_simplified()
    folded = {c: t2s.get(c, chr(c)) for lo, hi in ((0x3400, 0xA000), (0xF900, 0xFB00)) for c in range(lo, hi)}
    as_dict = {c: f" {d} " if tc.CJK.fullmatch(d) else d for c, d in folded.items()}
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert every.translate(tc._fold_and_space()) == every.translate(as_dict)


def test_features_same_as_numbers_after_spacing():
    """features() lower-cases and replaces numbers before spacing Han out (a shorter text to search); the order it
    replaced (space Han, lower-case, numbers) gives the same line, final sigma and look-arounds included."""
    def spaced_first(text):
        text = text.translate(tc._fold_and_space()).lower()
        if tc.MAY_HOLD_NUMBER.search(text):
            text = tc.NUMBER.sub(tc._number_token, text)
        return " ".join(text.split())

    rng = random.Random(3)
    alphabet = "0123456789０１２３４５６７８９xXaAbwyzΣσς KİI.,:/-\n\t 中文說話國語體台灣發Ａ\u3400\u4dc0\uf900\u0345\u00b7'’"
    for _ in range(20_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert tc.features(s) == spaced_first(s), repr(s)
