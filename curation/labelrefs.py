"""Labeled rows that point into a data root instead of carrying their text.

Real text may not be copied into the repository (its sets' licenses and the house rule), but the labels read by hand
for it may. A labels file (JSONL) holds one row per labeled text: either `{"ref": "<file under the data root>#<key>",
...labels}` or, for a row written by the project itself, `{"text": "...", "origin": "written", ...labels}`. `resolve`
turns refs back into text from the data root, so a recipe or a benchmark reads the same rows on any machine that has
the data (bench/labels/README.md says how the labels were made).

Keys: a JSONL file's `id`; a CSV's `id` or `comment-id` column, else the 1-based data row; a `.csv.zip` as its CSV;
PTT crawler JSON (`{"articles": [...]}`): `<article_id>` for the post or `<article_id>/push<k>` for its k-th push.
"""

from __future__ import annotations

import csv
import io
import zipfile
from functools import lru_cache
from pathlib import Path

import orjson

from curation.errors import CurateError


def _csv_rows(raw: str) -> dict[str, str]:
    """key -> text: by the `id` (or `comment-id`) column where there is one, else by 1-based data row (never both:
    a row number would shadow a numeric id)."""
    reader = csv.DictReader(io.StringIO(raw))
    id_column = next((c for c in ("id", "comment-id") if c in (reader.fieldnames or [])), None)
    out: dict[str, str] = {}
    for n, row in enumerate(reader, start=1):
        out[row[id_column] if id_column else str(n)] = row.get("text") or row.get("comment-body") or ""
    return out


@lru_cache(maxsize=16)
def _index(path: Path) -> dict[str, str]:
    """key -> text for one file of the data root."""
    name = path.name
    if name.endswith(".jsonl"):
        return {str(rec.get("id")): rec.get("text") or "" for _, rec in jsonl_records(path)}
    if name.endswith(".csv.zip"):
        with zipfile.ZipFile(path) as z:
            inner = next(n for n in z.namelist() if n.endswith(".csv"))
            return _csv_rows(z.read(inner).decode("utf-8"))
    if name.endswith(".csv"):
        return _csv_rows(path.read_text(encoding="utf-8"))
    if name.endswith(".json"):
        out = {}
        for art in orjson.loads(path.read_bytes()).get("articles", []):
            aid = art.get("article_id")
            out[aid] = art.get("content") or ""
            for k, push in enumerate(art.get("messages") or []):
                out[f"{aid}/push{k}"] = push.get("push_content") or ""
        return out
    raise CurateError(f"{path}: no reader for this kind of file in a labels ref")


def ref_text(ref: str, data_root: Path) -> str:
    """The text a ref names, or a CurateError naming the ref."""
    file, sep, key = ref.partition("#")
    if not sep:
        raise CurateError(f"ref {ref!r}: expected <file>#<key>")
    path = Path(data_root) / file
    if not path.is_file():
        raise CurateError(f"ref {ref!r}: {path} not found (data root {data_root})")
    text = _index(path).get(key)
    if text is None:
        raise CurateError(f"ref {ref!r}: no row {key!r} in {path}")
    return text


def jsonl_records(path: Path):
    """(where, record) of every non-empty line of a JSONL file; a malformed line stops with its file and line."""
    for n, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{n}", orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise CurateError(f"{path}:{n}: malformed JSON: {e}") from None


def read_labels(path: Path, data_root: Path, skip_unsure: bool = True):
    """(where, record with `text` filled in) of every row of a labels file, in file order; rows marked `unsure` are
    left out unless asked for (a label its reader doubted is no ground truth)."""
    for where, rec in jsonl_records(path):
        if skip_unsure and rec.get("unsure"):
            continue
        if "text" not in rec:
            if "ref" not in rec:
                raise CurateError(f"{where}: a row needs `text` or `ref`")
            rec["text"] = ref_text(rec["ref"], data_root)
        yield where, rec
