"""Realistic CPT input of any size for the scale-out benchmark (issue 32).

    python -m bench.scale.corpus pool bench/data/scale_pool.json.zst         # once, from ../shared/data/real
    python -m bench.scale.corpus generate POOL OUT_DIR --docs 2000000 --files 128 --procs 16

`pool`: the paragraphs of the real zh-TW sets (laws, wiki, news, PTT posts and news reposts, LINE messages), grouped
per real document and kind, saved as one zstd JSON file. It is derived from ../shared and lives under the git-ignored
bench/data/: never committed.

`generate`: document i is built from its own seeded random stream, so any process can write any range and the corpus
is the same however many processes write it. A document is a run of consecutive paragraphs of one real document of
its kind (forum 45%, news 25%, wiki 15%, law 10%, LINE 5%) plus 1-3 paragraphs of other documents of that kind, its
sentences lightly reordered: documents do not share one sentence pool, and near-duplicates are rare unless planted.
Planted, as a crawl has them: 3% exact repeats and 3% near-duplicates (one sentence changed) of an earlier document,
2% converted to Simplified characters (OpenCC t2s).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
from multiprocessing import Pool
from pathlib import Path

import zstandard

from bench.common.paths import real_root

KINDS = {"forum": 0.45, "news": 0.25, "wiki": 0.15, "law": 0.10, "line": 0.05}
JSONL_SETS = [("wiki", "drcd_wiki_zh_tw/drcd_articles.jsonl"), ("news", "tw_news/news_articles.jsonl"),
              ("forum", "tw_news/ptt_news_reposts.jsonl"), ("forum", "ptt_boards_2024/ptt_posts.jsonl"),
              ("line", "cofacts_line_msgs/cofacts_msgs.jsonl")]
SENTENCE_END = re.compile(r"(?<=[。！？!?])")


def build_pool(real: Path | None = None) -> dict[str, list[list[str]]]:
    """kind -> real documents -> paragraphs (blank-line or line separated, empty ones left out)."""
    real = real or real_root()
    pool: dict[str, list[list[str]]] = {k: [] for k in KINDS}
    for kind, rel in JSONL_SETS:
        for line in open(real / rel, encoding="utf-8"):
            paras = [p.strip() for p in re.split(r"\n+", json.loads(line)["text"]) if p.strip()]
            if paras:
                pool[kind].append(paras)
    for path in sorted(glob.glob(str(real / "tw_laws" / "FalVMingLing" / "*.json"))):
        law = json.load(open(path, encoding="utf-8-sig"))
        paras = [a["條文內容"].replace("\r\n", "\n").strip() for a in law.get("法規內容", []) if a.get("條文內容")]
        if paras:
            pool["law"].append([law["法規名稱"], *paras])
    return pool


class DocumentMaker:
    """Document i of the corpus, the same in every process."""

    def __init__(self, pool: dict[str, list[list[str]]], seed: int):
        self.pool, self.seed = pool, seed
        self.kinds, self.weights = list(KINDS), list(KINDS.values())
        self._t2s = None

    def base(self, i: int) -> tuple[str, str]:
        rng = random.Random(self.seed * 1_000_003 + i)
        kind = rng.choices(self.kinds, self.weights)[0]
        docs = self.pool[kind]
        main = docs[rng.randrange(len(docs))]
        start = rng.randrange(len(main))
        paras = main[start: start + rng.randint(2, 12)]
        for _ in range(rng.randint(1, 3)):  # paragraphs of other documents of the same kind
            other = docs[rng.randrange(len(docs))]
            paras.insert(rng.randrange(len(paras) + 1), other[rng.randrange(len(other))])
        out = []
        for p in paras:
            sentences = [s for s in SENTENCE_END.split(p) if s]
            if len(sentences) > 2 and rng.random() < 0.3:  # light reordering: swap two neighbouring sentences
                j = rng.randrange(len(sentences) - 1)
                sentences[j], sentences[j + 1] = sentences[j + 1], sentences[j]
            out.append("".join(sentences))
        return kind, "\n".join(out)

    def document(self, i: int) -> dict:
        rng = random.Random(self.seed * 7_919 + i)
        r = rng.random()
        if r < 0.06 and i > 0:
            kind, text = self.base(rng.randrange(i))
            if r >= 0.03:  # near-duplicate: one sentence changed
                sentences = [s for s in SENTENCE_END.split(text) if s]
                j = rng.randrange(len(sentences))
                sentences[j] = sentences[j][: len(sentences[j]) // 2] + "。"
                text = "".join(sentences)
        else:
            kind, text = self.base(i)
            if r > 0.98:
                if self._t2s is None:
                    import opencc

                    self._t2s = opencc.OpenCC("t2s")
                text = self._t2s.convert(text)
        return {"id": f"d{i}", "text": text, "kind": kind}


def load_pool(path: Path) -> dict[str, list[list[str]]]:
    return json.loads(zstandard.ZstdDecompressor().decompress(Path(path).read_bytes()))


def _write_file(args: tuple[str, str, int, int, int, int]) -> int:
    pool_path, out_dir, docs, files, part, seed = args
    maker = DocumentMaker(load_pool(Path(pool_path)), seed)
    with open(Path(out_dir) / f"part{part:05d}.jsonl", "w", encoding="utf-8") as f:
        for i in range(part, docs, files):
            f.write(json.dumps(maker.document(i), ensure_ascii=False) + "\n")
    return part


def generate(pool_path: Path, out_dir: Path, docs: int, files: int, procs: int, seed: int = 32) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with Pool(procs) as p:
        list(p.imap_unordered(_write_file, [(str(pool_path), str(out_dir), docs, files, k, seed) for k in range(files)]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool")
    p.add_argument("out", type=Path)
    g = sub.add_parser("generate")
    g.add_argument("pool", type=Path)
    g.add_argument("out_dir", type=Path)
    g.add_argument("--docs", type=int, default=2_000_000)
    g.add_argument("--files", type=int, default=128)
    g.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    g.add_argument("--seed", type=int, default=32)
    a = ap.parse_args(argv)
    if a.cmd == "pool":
        if not real_root().exists():
            print(f"skipped: {real_root()} is absent (the real zh-TW sets are not on this machine)")
            return 0
        pool = build_pool()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_bytes(zstandard.ZstdCompressor(level=19).compress(json.dumps(pool, ensure_ascii=False).encode()))
        print(f"{a.out}: " + ", ".join(f"{k} {len(v):,} documents" for k, v in pool.items()) + f"; {a.out.stat().st_size:,} bytes")
    else:
        generate(a.pool, a.out_dir, a.docs, a.files, a.procs, a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
