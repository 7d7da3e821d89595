"""Simplified/Traditional script and Taiwan-vs-mainland phrasing for Chinese documents.

fastText language ID says only "zh"; this step says which script the Han characters are written in and
whether the wording is Taiwanese (軟體/記憶體/影片/網路) or mainland (軟件/內存/視頻/網絡), which matters
even for text in Traditional characters (e.g. mechanically converted mainland text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick_rs
import numpy as np
from functools import cached_property, lru_cache
from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, StatName, annotations, count_for_source
from filters.config import ScriptConfig
from filters.hanfold import han_count
from filters.patterns import URL_WITH_HAN_PATH, may_hold_url
from filters.textclassifier import classifier_models, load_classifier

DATA = Path(__file__).parent / "data"


# a shared link's card title above (or before) its link, 【朱鸢：钓鱼执法？-哔哩哔哩】 then https://b23.tv/...: the linked
# page's words, quoted; the script of the post is what the author wrote around it
LINK_TITLE = re.compile(r"^[ \t]*【[^\n]*】[ \t]*(?=\n?[ \t]*https?://)", re.MULTILINE)


@lru_cache(maxsize=1)  # one per process, shared by every task (filters/shared.py says why)
def _codepoint_table() -> np.ndarray:
    """Lookup table from code point to class: 0 other, 1 Traditional-only, 2 Simplified-only."""
    table = np.zeros(0x40000, dtype=np.uint8)
    for cls, name in ((1, "hant_only.txt"), (2, "hans_only.txt")):
        chars = (DATA / name).read_text(encoding="utf-8").strip()
        table[[ord(c) for c in chars]] = cls
    table.flags.writeable = False  # shared by every task of the process
    return table


@dataclass(frozen=True)
class ScriptCounts:
    hant: int  # characters written only in Traditional
    hans: int  # characters written only in Simplified

    @property
    def distinct(self) -> int:
        return self.hant + self.hans

    @property
    def hant_ratio(self) -> float | None:
        return self.hant / self.distinct if self.distinct else None


class ScriptDetector:
    """Counts Traditional-only and Simplified-only Han characters (tables from OpenCC's character dictionaries;
    characters valid in both scripts, like 台/干/后/只, are ignored) and labels text hant | hans | mixed | none.
    Paragraphs are labelled too, so a Traditional article with a Simplified section comes out `mixed`."""

    def __init__(self, config: ScriptConfig):
        self.config = config

    @cached_property
    def _table(self) -> np.ndarray:
        return _codepoint_table()

    def counts(self, text: str) -> ScriptCounts:
        cls = self._classes(text)
        return ScriptCounts(int(np.count_nonzero(cls == 1)), int(np.count_nonzero(cls == 2)))

    def _classes(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return self._table[np.minimum(codes, len(self._table) - 1)]

    def label(self, counts: ScriptCounts) -> str:
        c = self.config
        if counts.distinct < c.min_distinct_chars:
            return "none"
        if min(counts.hant, counts.hans) <= c.max_stray_chars and counts.hant != counts.hans:
            return "hant" if counts.hant > counts.hans else "hans"
        ratio = counts.hant_ratio
        return "hant" if ratio >= c.hant_min else "hans" if ratio <= c.hans_max else "mixed"

    def detect(self, text: str) -> tuple[str, float | None]:
        """(script, hant_ratio) of the whole text; `mixed` also when paragraphs of the other script hold at least
        `mixed_paragraph_share` of the document's script-specific characters (a Traditional article with a
        Simplified section). A paragraph counts as the other script only when it is clearly so (hans_max/hant_min)
        on at least `paragraph_min_script_chars` characters: one 并 or 干 in a Traditional law paragraph is a
        legitimate Taiwan form or a variant, not mixing."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cls = self._table[np.minimum(codes, len(self._table) - 1)]
        # links are addresses, not writing (zh.wikipedia.org/zh-tw/网络谜踪 in a Traditional post), and link card titles are quotes
        for m in URL_WITH_HAN_PATH.finditer(text) if may_hold_url(text) else ():
            cls[m.start():m.end()] = 0
        for m in LINK_TITLE.finditer(text) if "【" in text else ():
            cls[m.start():m.end()] = 0
        kana = (codes >= 0x3040) & (codes <= 0x30FF)
        if kana.any():
            # a line with kana is Japanese, whose kanji (恋, 気, 広) OpenCC's tables call Simplified: a quoted
            # Japanese name or title in a Traditional post is not mixing, so its line's Han characters are not counted
            line = np.concatenate(([0], np.cumsum(codes == 10)[:-1]))
            cls = np.where(np.isin(line, np.unique(line[kana])), 0, cls)
        overall = ScriptCounts(int(np.count_nonzero(cls == 1)), int(np.count_nonzero(cls == 2)))
        script = self.label(overall)
        # a paragraph can only disagree if the document has characters of the other script at all
        if script not in ("hant", "hans") or min(overall.hant, overall.hans) == 0:
            return script, overall.hant_ratio
        other = "hans" if script == "hant" else "hant"
        starts = np.concatenate(([0], np.flatnonzero(codes == 10) + 1))
        starts = starts[starts < len(codes)]
        lengths = np.diff(np.append(starts, len(codes)))
        hant = np.add.reduceat((cls == 1).astype(np.int64), starts)
        hans = np.add.reduceat((cls == 2).astype(np.int64), starts)
        c = self.config
        other_chars = 0
        for t, h, n in zip(hant.tolist(), hans.tolist(), lengths.tolist()):
            if n > c.paragraph_min_chars and t + h >= c.paragraph_min_script_chars and self.label(ScriptCounts(t, h)) == other:
                other_chars += t + h
        if other_chars and other_chars >= c.mixed_paragraph_share * overall.distinct:
            return "mixed", overall.hant_ratio
        return script, overall.hant_ratio


def _load_phrases() -> dict[str, str]:
    table: dict[str, str] = {}
    for name in ("region_phrases_opencc.tsv", "region_phrases_reviewed.tsv"):  # reviewed entries override
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                phrase, region = line.split("\t")[:2]
                table[phrase] = region.strip()
    return {p: r for p, r in table.items() if r in ("tw", "cn", "neutral")}


def _with_simplified_forms(phrases: dict[str, str]) -> dict[str, str]:
    """The phrase table plus each phrase's Simplified form (OpenCC t2s, phrase level: 頭髮 -> 头发), so Simplified
    and mixed text is matched as written instead of being converted to Traditional first (an OpenCC pass per
    document). A Simplified form shared by a Taiwan and a mainland phrase says nothing and is left out."""
    import opencc

    words = list(phrases)
    simplified = opencc.OpenCC("t2s").convert("\n".join(words)).split("\n")
    forms: dict[str, set[str]] = {}
    for word, form in zip(words, simplified):
        if form != word and form not in phrases:
            forms.setdefault(form, set()).add(phrases[word])
    return {**phrases, **{form: regions.pop() for form, regions in forms.items() if len(regions) == 1}}


# words the phrase lists call mainland that are also right in Taiwan in a given sense, with the words that show that
# sense nearby and how far away they may stand: 質量 is mass in physics (quality elsewhere), 菜單 a restaurant's menu
# (a whole answer about a restaurant names its food far from the word), 前綴 a prefix in code, 指針 a clock's hands
# (Taiwan's pointer in code is 指標)
IN_CONTEXT = [
    (re.compile(r"質量"), re.compile(r"物體|密度|公斤|千克|重量|守恆|牛頓|加速度|慣性|能量|原子|引力|重力|[kK]g|體積|力學|質點|"
                                    r"行星|星球|天體|mass|[Mm]ass"), 60),
    (re.compile(r"菜單"), re.compile(r"餐廳|餐館|點餐|點菜|菜色|菜餚|料理|飲料|服務生|老闆|吃|店家|餐點|套餐|主餐|甜點|咖啡|早餐|午餐|"
                                    r"晚餐|食物|食材|廚師|主廚|用餐|美食|小吃|飯店"), 400),
    (re.compile(r"前綴|後綴"), re.compile(r"字串|陣列|prefix|suffix|演算法|程式|函式|樹|節點|string|array|[Tt]rie"), 60),
    (re.compile(r"指針"), re.compile(r"時鐘|鐘|錶|時針|分針|秒針|刻度|儀表|羅盤|指南針|點鐘|順時針|逆時針|錶盤"), 60),
]


def mask_in_context(text: str) -> str:
    """The text with each ambiguous word blanked where its Taiwan sense is shown within its window."""
    for word, context, window in IN_CONTEXT:
        if not word.search(text):
            continue
        text = word.sub(lambda m: "□" * len(m.group()) if context.search(
            text, max(0, m.start() - window), m.end() + window) else m.group(), text)
    return text


@lru_cache(maxsize=1)  # one per process, shared by every task (filters/shared.py says why)
def _phrase_matcher() -> tuple[ahocorasick_rs.AhoCorasick, np.ndarray, list[str]]:
    phrases = _with_simplified_forms(_load_phrases())
    words = list(phrases)
    # leftmost-longest, so 以太網路 wins over 網路 at the same position
    automaton = ahocorasick_rs.AhoCorasick(words, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
    signs = np.array([{"tw": 1, "cn": -1}.get(phrases[w], 0) for w in words], dtype=np.int8)
    signs.flags.writeable = False  # shared by every task of the process
    return automaton, signs, words


class TaiwanPhrasingScore:
    """Counts Taiwan-only vs mainland-only phrases (OpenCC's TWPhrases plus the reviewed list in
    filters/data/, each also in its Simplified form) and labels the text tw | cn | unknown. The reviewed list's
    `neutral` words are matched and counted nowhere: an ordinary word that a listed phrase straddles (避免提問 holds
    免提, hands-free) takes its characters first."""

    def __init__(self, config: ScriptConfig):
        self.config = config

    @property  # not cached on the step: a step is pickled for its tasks, and the automaton is not picklable
    def _matcher(self) -> tuple[ahocorasick_rs.AhoCorasick, np.ndarray, list[str]]:
        return _phrase_matcher()

    def counts(self, text: str) -> tuple[int, int]:
        """(Taiwan phrases, mainland phrases) found in the text; a word that is mainland only in one sense (質量 as
        quality) is not counted where the words around it show its Taiwan sense (質量 beside 公斤, 密度)."""
        automaton, sides, _ = self._matcher
        hits = [m[0] for m in automaton.find_matches_as_indexes(mask_in_context(text))]
        found = sides[hits] if hits else sides[:0]
        return int((found == 1).sum()), int((found == -1).sum())

    def mainland_phrases(self, text: str) -> list[str]:
        """The mainland phrases counted in the text, in order (what a rejection quotes as its evidence)."""
        automaton, sides, words = self._matcher
        return [words[m[0]] for m in automaton.find_matches_as_indexes(mask_in_context(text)) if sides[m[0]] == -1]

    def region(self, text: str) -> tuple[str, int, int]:
        tw, cn = self.counts(text)
        total = tw + cn
        if total < self.config.region_min_phrases:
            return "unknown", tw, cn
        if tw / total >= self.config.region_margin:
            return "tw", tw, cn
        if cn / total >= self.config.region_margin:
            return "cn", tw, cn
        return "unknown", tw, cn


# s2twp rewrites mainland wording into Taiwan's (軟件 -> 軟體); it does not turn Cantonese into Taiwan Mandarin, so a
# Hong Kong document set to drop is dropped even where the script step converts
CONVERTIBLE_REGIONS = frozenset({"cn"})
# Characters written Cantonese uses for its own words (嘅 咗 佢 冇 啲 嗰 喺 哋 嘢 ...) and Taiwan Mandarin does not: a
# cheap gate before the Cantonese detector reads a document. 係 and 唔 are left out: 關係, 係數 and 吱唔 are Mandarin.
CANTONESE_CHARS = re.compile("[嘅咗佢冇啲嗰喺哋嘢噉畀嚟諗乜瞓睇搵揾攞嬲喎㗎咩]")


class HongKongCantonese:
    """Written Cantonese, the language of Hong Kong forums (係/嘅/唔/咗/佢/冇/啲), told apart from Taiwan Mandarin by
    `cantonesedetect` (CanCLID, MIT; Lau, Lau and To 2024): Cantonese-only words and constructions counted in context
    (唔係, 點解, 而家, 返工; never 關係 or 係數) against standard-written-Chinese ones (這, 的, 是, 沒), per sentence. A
    document is `hk` when the detector calls it Cantonese, or mixed Cantonese and standard Chinese (a HK forum thread
    quoting news), and the text holds at least `hk_min_markers` Cantonese-only characters; the detector reads only
    documents past that gate (most Taiwan text has none of them), and at most `hk_max_chars` characters of each."""

    def __init__(self, config: ScriptConfig):
        self.config = config
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:  # created in the task: it compiles its tables once per worker
            from cantonesedetect.Detector import CantoneseDetector

            self._detector = CantoneseDetector()
        return self._detector

    def judge(self, text: str) -> tuple[bool, int, str | None]:
        """(Hong Kong Cantonese?, Cantonese-only characters seen in the head, the detector's judgement or None when
        the gate kept it from reading)."""
        head = text[:self.config.hk_max_chars]
        markers = len(CANTONESE_CHARS.findall(head))
        if markers < self.config.hk_min_markers:
            return False, markers, None
        judgement = str(self.detector.judge(head))
        return judgement in ("cantonese", "mixed"), markers, judgement


class RegionModel:
    """Taiwan vs mainland wording for text the phrase lists leave `unknown` (a paragraph of UI help names no 軟體 or
    視頻, yet says 檔案/預設/列印 where the mainland says 文件/默認/打印): the shipped fastText model (trained on the
    parallel zh_TW / zh_CN gettext catalogs, filters/models/region.recipe.yaml) or the configured one. Its features fold
    the script, so it judges wording only, in Traditional or Simplified text alike. It knows software wording best and
    is unsure of most other text, hence a high `region_confidence`."""

    def __init__(self, config: ScriptConfig, model_path: Path | None = None):
        self.config = config
        self.classifier = load_classifier("region", config.region_classifier, model_path or config.region_model_path)

    def region(self, text: str) -> tuple[str, float | None]:
        """(tw | cn | unknown, p(tw)); unknown when the model is absent, the text holds under `region_classifier_min_han`
        Han characters, or p(tw) lies within `region_confidence` of even."""
        if self.classifier is None or han_count(text) < self.config.region_classifier_min_han:
            return "unknown", None
        p = self.classifier.score(text)
        if p is None:
            return "unknown", None
        c = self.config.region_confidence
        return ("tw" if p >= c else "cn" if p <= 1 - c else "unknown"), round(p, 4)


class ScriptFilter(CurationFilter):
    """Labels Chinese documents with `script`, `hant_ratio` and `region` (Taiwan vs mainland phrase counts; where
    they do not decide, the region model: `region_by` says which, `region_probability` is the model's p(tw)) and
    acts on those that are not Taiwan Traditional (script hans or mixed; a region set to drop in `region_actions`):

    - `drop`: removed with reason `script_hans`, `script_mixed` or `region_cn`;
    - `convert`: rewritten with OpenCC `s2twp` (Simplified -> Taiwan Traditional with Taiwan phrasing),
      recording `original_script`, `original_region` and `converted: true`;
    - `tag`: kept unchanged, labels only.
    Region is `hk` (written Cantonese: `HongKongCantonese`), `tw`, `cn` or `unknown`; `region_actions` says what each
    region gets: `keep`, `tag` (counted as `tagged_region_<r>`; hk by default) or `drop` (reason `region_<r>`); every
    document's region is counted per source (`region_<r>`), so stats, the report and the manifest give each source's
    share. Documents with no script-specific characters (`none`: non-Chinese, or too short to tell) pass. Before any of
    that, a `mixed` document at least `mixed_repair_min` Traditional (stray Simplified characters in a Traditional
    post) has those characters converted and is judged again (`repaired: true`).
    """

    name = "script"

    def __init__(self, config: ScriptConfig, region_model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.detector = ScriptDetector(config)
        self.phrasing = TaiwanPhrasingScore(config)
        self.region_model = RegionModel(config, region_model_path)  # the path resolved against the job file
        self.cantonese = HongKongCantonese(config)
        self._converters: dict = {}  # OpenCC converters, created on first use in each worker

    def models(self):
        return classifier_models(self.region_model.classifier, self.config.region_model_path)

    def _convert(self, config: str, text: str) -> str:
        if config not in self._converters:
            import opencc

            self._converters[config] = opencc.OpenCC(config)
        return self._converters[config].convert(text)

    def _to_taiwan(self, text: str) -> str:
        return self._convert("s2twp", text)

    def analyse(self, text: str) -> dict:
        script, ratio = self.detector.detect(text)
        out = {"script": script, "hant_ratio": None if ratio is None else round(ratio, 4)}
        if script != "none" and self.config.hk_detection:
            # Cantonese first: its sentences also hold Taiwan or mainland phrases, which say nothing about the language
            is_hk, markers, judgement = self.cantonese.judge(text)
            if markers:
                out["hk_markers"] = markers
            if judgement is not None:
                out["cantonese"] = judgement
            if is_hk:
                return {**out, "region": "hk", "region_by": "cantonese", "region_probability": None,
                        "tw_phrases": 0, "cn_phrases": 0}
        region, tw, cn = ("unknown", 0, 0) if script == "none" else self.phrasing.region(text)
        region_by, p_tw = ("phrases" if region != "unknown" else None), None
        if script != "none" and region == "unknown":
            region, p_tw = self.region_model.region(text)
            region_by = "classifier" if region != "unknown" else None
        return {**out, "region": region, "region_by": region_by, "region_probability": p_tw, "tw_phrases": tw,
                "cn_phrases": cn}

    def _repair_stray_simplified(self, text: str) -> str:
        """Each Simplified-only character replaced by its Traditional form (OpenCC s2tw, one character at a time):
        characters valid in both scripts are never touched, so 皇后 stays 皇后."""
        table = self.detector._table
        chars = {c for c in text if ord(c) < len(table) and table[ord(c)] == 2}
        return text.translate({ord(c): self._convert("s2tw", c) for c in chars})

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ann = annotations(doc)
        ann.update(self.analyse(doc.text))
        if ann["script"] == "mixed" and (ann["hant_ratio"] or 0) >= self.config.mixed_repair_min:
            doc.text = self._repair_stray_simplified(doc.text)
            ann["original_script"], ann["repaired"] = "mixed", True
            ann.update(self.analyse(doc.text))
            self.stat_update("repaired_mixed")
        source = doc.metadata.get("source", "unknown")
        if ann["script"] != "none":
            count_for_source(self, f"region_{ann['region']}", source)
        region_action = self.config.region_actions.get(ann["region"], "keep")
        reason = None
        if ann["script"] in ("hans", "mixed"):
            reason = f"script_{ann['script']}"
        elif region_action == "drop":
            reason = f"region_{ann['region']}"
        elif region_action == "tag":
            count_for_source(self, StatName("tagged", f"region_{ann['region']}"), source)
        if reason is None or self.config.action == "tag":
            return True
        if reason.startswith("region_") and ann["region"] not in CONVERTIBLE_REGIONS:
            return False, reason
        if self.config.action == "drop":
            return False, reason
        doc.text = self._to_taiwan(doc.text)
        ann["original_script"], ann["original_region"], ann["converted"] = ann["script"], ann["region"], True
        ann.update(self.analyse(doc.text))
        self.stat_update(StatName("converted", reason).name)
        return True
