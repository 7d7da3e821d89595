"""Benchmark decontamination: evaluation text (TMMLU+, TTQA, DRCD, MT-Bench-TW ...) must not be in a training corpus.

One matcher serves the CPT step and the SFT gate. Text is normalized so copies that differ in form still match: Han
characters folded to Simplified (OpenCC t2s, per character), full-width Latin and digits to ASCII, lower case,
punctuation and spaces dropped. Tokens are single Han characters and whole Latin/digit words (13 CJK characters are a
phrase; 13 Latin words a sentence: a run of 13 letters such as "ofthefollowing" is no longer a 13-gram). Every window
of `n` tokens is hashed (64-bit polynomial hash over token ids, mixed); an index keeps each evaluation item's hashes
whose low bits are zero (1 in `sample`) plus its 8 smallest, so a short item is never left out, together with the
item they came from. Only hashes are stored: an index of a licensed evaluation set can be shared without its text.

A document overlaps an item when at least `min_matches` of the item's stored hashes occur in it, or at least
`min_coverage` of them (a short item has few).
"""

from __future__ import annotations

import json
import re
from itertools import permutations
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from datatrove.data import Document

from filters.base import CurationFilter, StatName, StepModel, annotations, count_for_source
from filters.config import DecontaminationConfig
from filters.segments import remove_lines
from filters.patterns import URL, may_hold_url
from filters.hanfold import traditional_to_simplified

INDEX_VERSION = 1
# answer-option marks: (A) （B） and A. B、 at an option's start (written to begin with a character class, so the engine
# skips the other positions at once: 6x faster than the plain alternation)
OPTION_MARK = re.compile(r"[（(A-E](?:(?<=[（(])[ \t]*[A-Ea-e][ \t]*[)）]|(?<=[A-E])(?<![A-Za-z0-9.][A-E])[.．、](?=\s*[^\s\d]))")
MULT = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=1)
def _fold_array() -> np.ndarray:
    """Code point -> folded code point for the Basic Multilingual Plane: Traditional -> Simplified (per character),
    full-width ASCII -> ASCII, A-Z -> a-z. One array lookup folds a whole text."""
    table = np.arange(0x10000, dtype=np.uint32)
    for src, dst in traditional_to_simplified().items():
        if src < 0x10000:
            table[src] = ord(dst)
    for c in range(0xFF01, 0xFF5F):
        table[c] = c - 0xFEE0
    table[ord("A"): ord("Z") + 1] += 32
    table[0xFF21: 0xFF3B] = np.arange(ord("a"), ord("z") + 1)  # Ａ-Ｚ straight to a-z
    return table


WORD_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
WORD_BASE_INV = pow(WORD_BASE, -1, 2**64)


@lru_cache(maxsize=16)
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """WORD_BASE**k and its inverse**k modulo 2**64 for k < n (n rounded up, so a few lengths serve all texts)."""
    out = []
    for base in (WORD_BASE, WORD_BASE_INV):
        steps = np.full(n, base, dtype=np.uint64)
        steps[0] = 1
        with np.errstate(over="ignore"):
            out.append(np.cumprod(steps, dtype=np.uint64))
    return out[0], out[1]


def _word_ids(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each word's token id: a polynomial hash of its characters modulo 2**64, from one prefix sum over the text
    (stable across processes and machines, unlike Python's salted hash), moved above the Unicode range so it never
    equals a Han character's id."""
    size = 1 << max(int(len(codes)).bit_length(), 10)
    up, down = _powers(size)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * up[:len(codes)], dtype=np.uint64, out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * down[starts]
        h ^= h >> np.uint64(29)
    return h | np.uint64(1 << 40)


def tokens(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, character offset of each token in `text`), in text order: each Han character, and each run of
    ASCII letters and digits (a word), after folding. Links are addresses, not text: their characters are skipped."""
    if OPTION_MARK.search(text):  # answer-option marks (A) (B) / A. B. are layout, not text: blanked, offsets kept
        text = OPTION_MARK.sub(lambda m: " " * len(m.group()), text)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _fold_array()
    codes = np.where(codes < 0x10000, table[np.minimum(codes, 0xFFFF)], codes)
    if may_hold_url(text):
        for m in URL.finditer(text):
            codes[m.start():m.end()] = 32
    han = ((codes >= 0x3400) & (codes <= 0x9FFF)) | ((codes >= 0xF900) & (codes <= 0xFAFF))
    alnum = ((codes >= 97) & (codes <= 122)) | ((codes >= 48) & (codes <= 57))
    if not alnum.any():
        pos = np.flatnonzero(han)
        return codes[pos].astype(np.uint64), pos
    edges = np.flatnonzero(np.diff(np.concatenate(([0], alnum.view(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]
    wids = _word_ids(np.where(alnum, codes, 0), starts, ends)
    hpos = np.flatnonzero(han)
    pos = np.concatenate([hpos, starts])
    ids = np.concatenate([codes[hpos].astype(np.uint64), wids])
    order = np.argsort(pos, kind="stable")
    return ids[order], pos[order]


def window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit hash of every window of `n` consecutive tokens (empty when there are fewer)."""
    if len(ids) < n:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
        for j in range(n):
            h = h * MULT + ids[j: len(ids) - n + 1 + j]
        # splitmix64's finalizer: the low bits, which sampling reads, depend on every token
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def record_strings(record) -> list[str]:
    """Every string in a record, lists and nested objects included (a question, its choices, a reference answer)."""
    if isinstance(record, str):
        return [record]
    if isinstance(record, dict):
        return [s for v in record.values() for s in record_strings(v)]
    if isinstance(record, (list, tuple)):
        return [s for v in record for s in record_strings(v)]
    return []


METADATA_KEYS = re.compile(r"^(?:id|.*_id|uuid|url|source_file|source|path|file)$", re.IGNORECASE)


def item_strings(record) -> list[str]:
    """A record's strings, without its bookkeeping fields (id, source_file, url): those are not evaluation text."""
    if isinstance(record, dict):
        return record_strings({k: v for k, v in record.items() if not METADATA_KEYS.match(str(k))})
    return record_strings(record)


def read_eval_records(path: Path) -> list[tuple[str, list[str]]]:
    """(item id, strings) of every record of a JSONL, JSON (a list, or an object of records) or Parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        return [(str(r.get("id", i)), item_strings(r)) for i, r in enumerate(rows)]
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        if isinstance(data, dict) and all(isinstance(v, (dict, list)) for v in data.values()):
            return [(str(k), item_strings(v)) for k, v in data.items()]
        rows = data if isinstance(data, list) else [data]
        return [(str(r.get("id", i)) if isinstance(r, dict) else str(i), item_strings(r)) for i, r in enumerate(rows)]
    out = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
        out.append((str(r.get("id", lineno)) if isinstance(r, dict) else str(lineno), item_strings(r)))
    return out


@dataclass
class EvalIndex:
    """Sorted item hashes with the item each came from; items belong to named evaluation sets."""

    n: int
    sample: int
    hashes: np.ndarray  # uint64, sorted, unique
    items: np.ndarray  # uint32: the item of each hash
    item_set: np.ndarray  # uint16: the set of each item
    item_stored: np.ndarray  # uint32: hashes stored per item
    sets: list[str]
    item_ids: list[str] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def build(cls, sources: dict[str, Path], n: int = 13, sample: int = 4, min_kept: int = 8) -> EvalIndex:
        """An index of the evaluation sets `sources` (set name -> file)."""
        all_h, all_item, item_set, item_ids = [], [], [], []
        for s, (name, path) in enumerate(sources.items()):
            for item_id, strings in read_eval_records(path):
                # each string of a record is an item of its own (a second turn copied alone is contamination), and an
                # inline-option question ((A)...(B)...) is indexed whole, option by option and as the stem with each
                # option: a copy with the options reordered still holds the question and every option
                for k, t in enumerate(strings):
                    pieces = [t]
                    if OPTION_MARK.search(t):
                        stem, *options = OPTION_MARK.split(t)
                        # whichever option follows the stem, and whichever follows another option
                        pieces += [stem, *options, *(stem + o for o in options),
                                   *(a + b for a, b in permutations(options, 2))]
                    h = np.unique(np.concatenate([window_hashes(tokens(p)[0], n) for p in pieces]))
                    if not len(h):
                        continue  # shorter than one n-gram: a choice like 越南 is no evidence
                    keep = h[(h & np.uint64(sample - 1)) == 0] if sample > 1 else h
                    if len(keep) < min_kept:
                        keep = np.union1d(keep, h[:min_kept])  # h is sorted: its smallest
                    all_h.append(keep)
                    all_item.append(np.full(len(keep), len(item_ids), dtype=np.uint32))
                    item_set.append(s)
                    item_ids.append(f"{name}/{item_id}" + (f"#{k}" if len(strings) > 1 else ""))
        hashes = np.concatenate(all_h) if all_h else np.zeros(0, dtype=np.uint64)
        items = np.concatenate(all_item) if all_item else np.zeros(0, dtype=np.uint32)
        hashes, first = np.unique(hashes, return_index=True)  # a hash two items share counts for the first
        items = items[first]
        stored = np.bincount(items, minlength=len(item_ids)).astype(np.uint32)
        return cls(n, sample, hashes, items, np.array(item_set, dtype=np.uint16), stored, list(sources), item_ids)

    def merge(self, other: EvalIndex) -> EvalIndex:
        if (self.n, self.sample) != (other.n, other.sample):
            raise ValueError(f"decontamination indexes differ in n-gram size or sampling: {self.path} (n={self.n}, "
                             f"sample={self.sample}) vs {other.path} (n={other.n}, sample={other.sample})")
        offset = len(self.item_set)
        hashes = np.concatenate([self.hashes, other.hashes])
        items = np.concatenate([self.items, other.items + np.uint32(offset)])
        hashes, first = np.unique(hashes, return_index=True)
        items = items[first]
        item_set = np.concatenate([self.item_set, other.item_set + np.uint16(len(self.sets))])
        stored = np.bincount(items, minlength=len(item_set)).astype(np.uint32)
        return EvalIndex(self.n, self.sample, hashes, items, item_set, stored, self.sets + other.sets,
                         self.item_ids + other.item_ids)

    def save(self, path: Path) -> Path:
        meta = {"version": INDEX_VERSION, "n": self.n, "sample": self.sample, "sets": self.sets,
                "items_per_set": {s: int((self.item_set == i).sum()) for i, s in enumerate(self.sets)},
                "item_ids": self.item_ids}  # "set/id" of each item, so a hit names the item; ids, not text
        path = Path(path)
        with open(path, "wb") as f:  # np.savez on a path would append .npz to any other name
            np.savez_compressed(f, hashes=self.hashes, items=self.items, item_set=self.item_set,
                                item_stored=self.item_stored, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        return path

    @classmethod
    def load(cls, path: Path) -> EvalIndex:
        path = Path(path)
        try:
            z = np.load(path)
            meta = json.loads(bytes(z["meta"]).decode())
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{path}: not a decontamination index from `curate decont-index` ({e})") from None
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"{path}: index version {meta.get('version')}, this twcurate reads {INDEX_VERSION}: rebuild it")
        return cls(meta["n"], meta["sample"], z["hashes"], z["items"], z["item_set"], z["item_stored"], meta["sets"],
                   meta.get("item_ids", []), path=path)

    def describe(self) -> dict:
        return {"sets": self.sets, "n": self.n, "sample": self.sample, "items": int(len(self.item_set)),
                "hashes": int(len(self.hashes))}


@dataclass
class Overlap:
    """What a text shares with the index: per item, stored hashes found; the token offsets of the matched windows."""

    items: dict[int, int]
    positions: np.ndarray


class EvalMatcher:
    """Finds which evaluation items a text overlaps (`overlaps`) and decides contamination (`contaminated`)."""

    def __init__(self, index: EvalIndex, min_matches: int = 2, min_coverage: float = 0.5):
        self.index = index
        self.min_matches = min_matches
        self.min_coverage = min_coverage

    def overlap(self, text: str) -> Overlap:
        ids, pos = tokens(text)
        h = window_hashes(ids, self.index.n)
        if not len(h) or not len(self.index.hashes):
            return Overlap({}, np.zeros(0, dtype=np.int64))
        at = np.searchsorted(self.index.hashes, h)
        at[at == len(self.index.hashes)] = 0
        hit = self.index.hashes[at] == h
        if not hit.any():
            return Overlap({}, np.zeros(0, dtype=np.int64))
        found = np.unique(np.stack([self.index.items[at[hit]].astype(np.int64), at[hit]]), axis=1)
        items, counts = np.unique(found[0], return_counts=True)
        windows = np.flatnonzero(hit)
        return Overlap(dict(zip(items.tolist(), counts.tolist())), pos[windows])

    def contaminated(self, overlap: Overlap) -> dict[int, float]:
        """Items the text is contaminated with -> the share of their stored hashes it holds."""
        out = {}
        for item, found in overlap.items.items():
            stored = int(self.index.item_stored[item])
            if found >= self.min_matches or found >= self.min_coverage * stored:
                out[item] = found / max(stored, 1)
        return out

    def set_of(self, item: int) -> str:
        return self.index.sets[int(self.index.item_set[item])]


SHIPPED_INDEX = Path(__file__).parent / "data" / "tw_eval_index.npz"


def load_indexes(paths: list[Path], eval_files: dict[str, Path], n: int, sample: int) -> EvalIndex:
    """The configured indexes and evaluation files as one index."""
    parts = [EvalIndex.load(p) for p in paths]
    if eval_files:
        parts.append(EvalIndex.build(eval_files, n=parts[0].n if parts else n, sample=parts[0].sample if parts else sample))
    if not parts:
        raise ValueError("decontaminate: no index and no evaluation file configured (steps.decontaminate.indexes / eval_files)")
    index = parts[0]
    for p in parts[1:]:
        index = index.merge(p)
    return index


class Decontaminator(CurationFilter):
    """Finds evaluation text in documents (the indexes built by `curate decont-index`, the shipped Taiwan index, or
    evaluation files indexed at start) and, per `action`: drops the document (`contaminated`), removes the lines that
    hold the overlap (segment edits `decontaminate:eval_<set>`), or only tags it. Annotates `contamination`: per
    evaluation set, the items overlapped and the share of each item's stored n-grams found. A law article quoted in an
    exam question is a true hit: the question is in the corpus."""

    name = "decontaminate"

    def __init__(self, config: DecontaminationConfig, index_paths: list[Path], eval_files: dict[str, Path], **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.index_paths = index_paths
        self.eval_files = eval_files
        self._matcher: EvalMatcher | None = None

    @property
    def matcher(self) -> EvalMatcher:
        if self._matcher is None:  # loaded in each worker, not pickled with the pipeline
            index = load_indexes(self.index_paths, self.eval_files, self.config.ngram, self.config.sample)
            self._matcher = EvalMatcher(index, self.config.min_matches, self.config.min_coverage)
        return self._matcher

    def models(self) -> list[StepModel]:
        """Each index and evaluation file the step matches against, so the manifest records (and diffs) them."""
        out = [StepModel(f"decontamination:{p.stem}", p, "twcurate:filters/data/" + p.name if p == SHIPPED_INDEX else str(p))
               for p in self.index_paths]
        out += [StepModel(f"decontamination:{name}", p, str(p)) for name, p in self.eval_files.items()]
        return out

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        m = self.matcher
        overlap = m.overlap(doc.text)
        hits = m.contaminated(overlap)
        ann = annotations(doc)
        if not hits:
            ann["contamination"] = {}
            return True
        by_set: dict[str, dict[str, float]] = {}
        for item, share in hits.items():
            by_set.setdefault(m.set_of(item), {})[m.index.item_ids[item] if m.index.item_ids else str(item)] = round(share, 3)
        ann["contamination"] = by_set
        source = doc.metadata.get("source", "unknown")
        for name in by_set:
            count_for_source(self, StatName("contaminated", name), source)
        action = self.config.action
        if action == "drop":
            return False, "contaminated"
        if action == "remove":
            first_set = next(iter(by_set))
            lines = {doc.text.count("\n", 0, int(p)) for p in overlap.positions.tolist()}
            remove_lines(doc, dict.fromkeys(sorted(lines), f"eval_{first_set}"), self, self.name)
            if not doc.text.strip():
                return False, "contaminated"
            return True
        self.stat_update(*(StatName("tagged", f"eval_{name}").name for name in by_set))
        return True
