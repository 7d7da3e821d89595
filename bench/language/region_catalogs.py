"""Taiwan vs mainland phrasing as labeled rows, from the parallel zh_TW / zh_CN gettext catalogs installed here.

    python -m bench.language.region_catalogs -o bench/data/region      # then: curate train-classifier filters/models/region.recipe.yaml --data-root bench/data

Every message translated in both catalogs of a package is a pair: the zh_TW translation is labeled `tw`, the zh_CN
translation converted to Traditional characters (OpenCC s2t: characters only, its wording kept) `cn`. Both sides say
the same thing, so what tells them apart is the translators' regional wording (檔案/文件, 預設/默認, 列印/打印), not
topic or script. A pair goes to train, dev or test by a seeded hash of its msgid, so the two sides of a pair, and the
same message in several packages (gtk20 and gtk30 share most), land in one part. Pairs whose two sides are identical
after conversion say nothing about region: left out of train and dev, kept in test (they count against the model).

Writes train.jsonl, dev.jsonl, test.jsonl (fields: text, label, package, msgid_sha) and SOURCE.md (which catalogs,
their package versions are whatever this machine has installed; each catalog carries its package's license, mostly
GPL/LGPL).

`--pairs-from FILE:PART` (JSONL with a `text` field, Simplified mainland text) adds each row twice to PART, as OpenCC
s2t (cn) and s2twp (tw): the two differ only where OpenCC's Taiwan phrase table applies, and most rows of ordinary text
come out identical under both labels. That teaches the model that ordinary wording is no evidence: trained on the
catalogs alone it called a third of zh-TW wiki paragraphs `cn` at p <= 0.4 (software wording is all it knew).
Written to pairs_<PART>.jsonl.
"""

from __future__ import annotations

import argparse
import gettext
import hashlib
from pathlib import Path

import orjson

from filters.hanfold import han_count

LOCALE = Path("/usr/share/locale")
SPLIT_SEED = 13
TRAIN, DEV = 0.7, 0.1
MIN_HAN = 4  # a message with fewer Han characters is a label or a unit, not wording


def _catalog(path: Path) -> dict[str, str]:
    """msgid -> translation (first plural form) of one .mo file, whitespace collapsed."""
    with open(path, "rb") as f:
        table = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 - the parsed .mo table
    out: dict[str, str] = {}
    for key, value in table.items():
        msgid = key if isinstance(key, str) else key[0]
        if msgid and isinstance(value, str) and msgid not in out:
            out[msgid] = " ".join(value.split())
    return out


def _part(msgid: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{msgid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < TRAIN else "dev" if h < TRAIN + DEV else "test"


def parallel_rows(locale: Path = LOCALE) -> list[dict]:
    """Labeled rows of every message translated in both catalogs, a msgid once (first package in name order)."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    rows, seen = [], set()
    for tw_file in sorted((locale / "zh_TW/LC_MESSAGES").glob("*.mo")):
        cn_file = locale / "zh_CN/LC_MESSAGES" / tw_file.name
        if not cn_file.is_file():
            continue
        tw, cn = _catalog(tw_file), _catalog(cn_file)
        for msgid, tw_text in tw.items():
            cn_text = cn.get(msgid)
            if msgid in seen or cn_text is None or han_count(tw_text) < MIN_HAN or han_count(cn_text) < MIN_HAN:
                continue
            seen.add(msgid)
            cn_text = s2t.convert(cn_text)
            part = _part(msgid)
            if tw_text == cn_text and part != "test":
                continue
            sha = hashlib.sha256(msgid.encode()).hexdigest()[:16]
            rows.append({"text": tw_text, "label": "tw", "package": tw_file.stem, "msgid_sha": sha, "part": part})
            rows.append({"text": cn_text, "label": "cn", "package": tw_file.stem, "msgid_sha": sha, "part": part})
    return rows


def conversion_pairs(path: Path) -> list[dict]:
    """Each row's text as OpenCC s2t (cn) and s2twp (tw)."""
    import opencc

    s2t, s2twp = opencc.OpenCC("s2t"), opencc.OpenCC("s2twp")
    out = []
    for n, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        text = orjson.loads(line).get("text")
        if not isinstance(text, str):
            raise SystemExit(f"{path}:{n}: field 'text' must be a string")
        out += [{"text": s2t.convert(text), "label": "cn"}, {"text": s2twp.convert(text), "label": "tw"}]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--locale", type=Path, default=LOCALE)
    ap.add_argument("--pairs-from", action="append", default=[], metavar="FILE:PART",
                    help="Simplified text (JSONL, field text) to add as s2t (cn) / s2twp (tw) pairs to PART (train|dev)")
    args = ap.parse_args(argv)
    rows = parallel_rows(args.locale)
    if not rows:
        raise SystemExit(f"{args.locale}: no zh_TW and zh_CN catalogs of the same package")
    args.output.mkdir(parents=True, exist_ok=True)
    for spec in args.pairs_from:
        path, _, part = spec.rpartition(":")
        if part not in ("train", "dev") or not Path(path).is_file():
            raise SystemExit(f"--pairs-from {spec}: give FILE:train or FILE:dev with an existing FILE")
        pairs = conversion_pairs(Path(path))
        with open(args.output / f"pairs_{part}.jsonl", "wb") as f:
            f.writelines(orjson.dumps(r) + b"\n" for r in pairs)
        print(f"{len(pairs)} s2t/s2twp rows from {path} -> {args.output / f'pairs_{part}.jsonl'}")
    for part in ("train", "dev", "test"):
        with open(args.output / f"{part}.jsonl", "wb") as f:
            for r in rows:
                if r["part"] == part:
                    f.write(orjson.dumps({k: v for k, v in r.items() if k != "part"}) + b"\n")
    packages = sorted({r["package"] for r in rows})
    (args.output / "SOURCE.md").write_text(
        f"Built by `python -m bench.language.region_catalogs` from the zh_TW and zh_CN gettext catalogs under {args.locale}: "
        f"{len(packages)} packages ({', '.join(packages)}). Each catalog carries its package's license.\n", encoding="utf-8")
    counts = {p: sum(r["part"] == p for r in rows) for p in ("train", "dev", "test")}
    print(f"{len(rows)} rows from {len(packages)} packages -> {args.output}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
