"""Choose the toxicity step's operating point on both sides at once: what it catches on labeled sets and composite
threads, and what it costs ordinary zh-TW text.

    python -m bench.quality.sweep_toxicity [--data-root ../shared/data/real] [--part dev|test] [--list-drops out.md]

(data root also from $TWCURATE_REAL_DATA; absent sets are skipped with a note)

For each candidate setting (classifier_alone x segment_alone; the rest as shipped) the step itself (filters/toxicity.py,
default config otherwise) is run on:
- labeled sets, `--part dev` to choose (cold/dev, the seeded 10% dev part of SWSR) or `--part test` to report
  (cold/test, toxicn/test, the seeded 20% SWSR test part), each also as its OpenCC s2twp copy: precision and recall
  of "dropped or a segment removed";
- composite threads: the 114 real PTT Gossiping threads with their pushes (ptt_gossiping_json), each with 1-3 toxic
  comments of the chosen part of COLD (s2twp) inserted as pushes at seeded positions: share of inserted comments removed
  or their thread dropped, share of the threads' own pushes kept;
- ordinary real text (PTT posts, Cofacts LINE messages, PTT news reposts, news, wiki, laws) after the steps before
  toxicity (normalize, PII, line cleaning): share of documents dropped and edited per set.
The choice rule (written in bench/RESULTS.md): among settings that drop no law, wiki or news document, drop at most 0.3%
of PTT + LINE + PTT-news documents and keep at least 0.95 of the threads' own pushes, the highest recall on the Taiwan
real dev rows (bench/labels: PTT pushes read by hand, Cofacts messages) at precision >= 0.75.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import opencc
from datatrove.data import Document

from bench.common.paths import REPO, real_root
from bench.quality.tw_labels import label_sets, pool
from curation.classifier import LabeledSet, load_recipe, prf, read_set
from filters.cleaning import LineCleaner
from filters.config import CleaningConfig, NormalizeConfig, PiiConfig, ScriptConfig, ToxicityConfig
from filters.normalize import TextNormalizer
from filters.pii import PiiRedactor
from filters.toxicity import ToxicityFilter

MODELS = REPO / "filters" / "models"
SPLIT = {"seed": 13, "train": 0.7, "dev": 0.1}
def tw_sets(part: str) -> list[tuple[str, dict]]:
    """The Taiwan labels (bench/labels, issue 39) of one part, real rows pooled and written rows pooled."""
    return label_sets(part, "abuse", {"tw real": ["ptt_pushes", "cofacts_msgs_a", "cofacts_msgs_b"],
                                         "tw written": ["written_abuse", "written_abuse_2"]})


LABELED = {
    "dev": [*tw_sets("dev"),
            ("cold/dev", {"path": "cold/dev.jsonl", "part": "test"}),
            ("swsr/dev 10%", {"path": "swsr/all.jsonl", "split": SPLIT, "parts": ["dev"]})],
    "test": [*tw_sets("test"),
             ("cold/test", {"path": "cold/test.jsonl", "part": "test"}),
             ("toxicn/test", {"path": "toxicn/test.jsonl", "part": "test"}),
             ("swsr/test 20%", {"path": "swsr/all.jsonl", "split": SPLIT, "parts": ["test"]})],
}
ORDINARY = [("ptt", "ptt_boards_2024/ptt_posts.jsonl"), ("line", "cofacts_line_msgs/cofacts_msgs.jsonl"),
            ("ptt_news", "tw_news/ptt_news_reposts.jsonl"), ("news", "tw_news/news_articles.jsonl"),
            ("wiki", "drcd_wiki_zh_tw/drcd_articles.jsonl"), ("laws", "tw_laws/FalVMingLing")]
FORUM = {"ptt", "line", "ptt_news"}
GRID = [(alone, seg) for alone in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9) for seg in (0.85, 0.9, 0.95)]


def load_labeled(sets: list[tuple[str, dict]], recipe_path: Path, root: Path) -> dict[str, list[tuple[str, bool]]]:
    """(text, is_positive) rows of each named labeled set, read as the recipe reads them; an absent set is named and
    skipped."""
    recipe = load_recipe(recipe_path)
    labeled = {}
    for name, spec in sets:
        try:
            labeled[name] = [r for part in read_set(LabeledSet(**spec), recipe, root).values() for r in part]
        except Exception as e:  # noqa: BLE001 - an absent set is reported, not fatal
            print(f"({name} skipped: {e})")
    return labeled


def ordinary_docs(root: Path) -> dict[str, list[Document]]:
    """Each set's documents as the toxicity step sees them: after normalize, PII and line cleaning."""
    before = [TextNormalizer(NormalizeConfig()), PiiRedactor(PiiConfig()), LineCleaner(CleaningConfig(), ScriptConfig())]
    out = {}
    for name, texts in real_texts(root).items():
        docs = []
        for i, t in enumerate(texts):
            d = Document(text=t, id=f"{name}/{i}", metadata={"source": name, "kind": "legal" if name == "laws" else "jsonl"})
            if all(step.filter(d) is True for step in before) and d.text.strip():
                docs.append(d)
        out[name] = docs
    return out


def real_texts(root: Path) -> dict[str, list[str]]:
    """Each ordinary real set's texts as stored (a law: its articles joined), in file order; an absent set is named
    and skipped."""
    out = {}
    for name, rel in ORDINARY:
        path = root / rel
        if not path.exists():
            print(f"(ordinary set {name} absent: skipped)")
            continue
        if path.is_dir():
            texts = []
            for f in sorted(path.glob("*.json")):
                law = json.loads(f.read_text(encoding="utf-8-sig"))
                texts.append("\n".join(a.get("條文內容", "") for a in law.get("法規內容", []) if isinstance(a, dict)))
        else:
            texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        out[name] = texts
    return out


def threads(root: Path) -> list[list[str]]:
    path = root / "ptt_gossiping_json" / "Gossiping.json"
    if not path.is_file():
        return []
    out = []
    for a in json.loads(path.read_text(encoding="utf-8"))["articles"]:
        pushes = [f"{m.get('push_tag', '').strip()} {m.get('push_userid', '')}: {m['push_content'].strip()}".strip()
                  for m in a.get("messages", []) if isinstance(m, dict) and m.get("push_content")]
        if pushes:
            out.append([" ".join(a.get("content", "").split()), *pushes])
    return out


def composites(root: Path, toxic: list[str], seed: int = 0) -> list[tuple[list[str], set[int]]]:
    """Each real thread with 1-3 toxic comments inserted as pushes: (lines, indices of the inserted ones)."""
    rng = random.Random(seed)
    out = []
    for lines in threads(root):
        lines = list(lines)
        inserted = set()
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(1, len(lines))
            lines.insert(at, f"噓 {rng.choice(['abc123', 'tw2024', 'lurker'])}: {rng.choice(toxic)}")
            inserted = {i + 1 if i >= at else i for i in inserted} | {at}
        out.append((lines, inserted))
    return out


def run_step(step: ToxicityFilter, text: str, kind: str = "jsonl") -> tuple[bool, Document]:
    d = Document(text=text, id="x", metadata={"source": "x", "kind": kind})
    return step.filter(d) is not True, d


def evaluate(config: ToxicityConfig, labeled, comp, ordinary, s2twp) -> dict:
    step = ToxicityFilter(config, model_path=config.model_path)
    res = {}
    for name, rows in labeled.items():
        gold = [g for _, g in rows]
        for suffix, convert in (("", lambda t: t), (" s2twp", s2twp.convert)):
            pred = []
            for t, _ in rows:
                dropped, d = run_step(step, convert(t))
                pred.append(dropped or bool(d.metadata.get("annotations", {}).get("toxic")))
            res[name + suffix] = prf(gold, pred)
    caught = inserted_total = own_kept = own_total = 0
    for lines, inserted in comp:
        dropped, d = run_step(step, "\n".join(lines))
        # removed, or tagged (the shipped default for toxic_segment): either way the step found the push
        removed = {at for at, reason, _ in _original_indices(d)} | {at for at, _, _ in d.metadata.get("segment_tags", [])}
        inserted_total += len(inserted)
        own = len(lines) - len(inserted)
        own_total += own
        if dropped:
            caught += len(inserted)
            continue
        caught += len(inserted & removed)
        own_kept += own - len(removed - inserted)
    res["composite"] = {"inserted_caught": caught / max(inserted_total, 1), "own_pushes_kept": own_kept / max(own_total, 1)}
    for name, docs in ordinary.items():
        drops = edits = 0
        dropped_ids, edited_ids = [], []
        for doc in docs:
            dropped, d = run_step(step, doc.text, doc.metadata["kind"])
            if dropped:
                drops += 1
                dropped_ids.append((doc.id, d.metadata["annotations"].get("toxicity_score"), doc.text[:160]))
            elif d.metadata.get("segment_edits"):
                edits += 1
                edited_ids.append((doc.id, [e[2][:80] for e in d.metadata["segment_edits"]]))
        res[f"ordinary:{name}"] = {"docs": len(docs), "dropped": drops, "edited": edits, "dropped_docs": dropped_ids, "edited_docs": edited_ids}
    return res


def _original_indices(d: Document) -> list[tuple[int, str, str]]:
    """Edits with `at` turned into the line's index in the text the step was given."""
    from filters.segments import restore

    lines = restore(d.text, d.metadata.get("segment_edits", []))
    return [(i, reason, line) for i, (line, reason) in enumerate(lines) if reason]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=real_root())
    ap.add_argument("--part", choices=["dev", "test"], default="dev")
    ap.add_argument("--grid", help="only these settings, e.g. 0.7:0.9,0.8:0.95 (classifier_alone:segment_alone)")
    ap.add_argument("--model", help="a toxicity model card (.json) to sweep instead of the shipped one")
    ap.add_argument("--list-drops", type=Path, help="write every ordinary-text drop and edit of each setting here")
    args = ap.parse_args()
    root = args.data_root
    if not root.exists():
        print(f"skipped: {root} is absent")
        return 0
    labeled = load_labeled(LABELED[args.part], MODELS / "toxicity.recipe.yaml", root)
    labeled = pool(labeled)  # the Taiwan files pool into one real and one written set
    s2twp = opencc.OpenCC("s2twp")
    cold = "cold/dev" if args.part == "dev" else "cold/test"
    toxic_comments = [s2twp.convert(t) for t, g in labeled.get(cold, []) if g]
    comp = composites(root, toxic_comments) if toxic_comments else []
    ordinary = ordinary_docs(root)
    grid = GRID if not args.grid else [tuple(float(x) for x in g.split(":")) for g in args.grid.split(",")]
    names = list(labeled)
    head = " | ".join(f"{n} P / R | {n} s2twp P / R" for n in names)
    print(f"\n{len(comp)} composite threads; ordinary documents after normalize/PII/cleaning: "
          + ", ".join(f"{k} {len(v)}" for k, v in ordinary.items()) + "\n")
    print(f"| classifier_alone | segment_alone | {head} | inserted caught | own pushes kept | "
          + " | ".join(f"{k} dropped / edited" for k in ordinary) + " | forum drop rate |")
    print("|" + "---|" * (4 + 2 * len(names) + len(ordinary) + 1))
    listing = []
    best = None
    for alone, seg in grid:
        res = evaluate(ToxicityConfig(classifier_alone=alone, segment_alone=max(seg, alone), model_path=args.model),
                       labeled, comp, ordinary, s2twp)
        cells = " | ".join(f"{res[n]['precision']:.3f} / {res[n]['recall']:.3f} | {res[n + ' s2twp']['precision']:.3f} / {res[n + ' s2twp']['recall']:.3f}" for n in names)
        forum_docs = sum(res[f"ordinary:{k}"]["docs"] for k in ordinary if k in FORUM)
        forum_drops = sum(res[f"ordinary:{k}"]["dropped"] for k in ordinary if k in FORUM)
        clean_drops = sum(res[f"ordinary:{k}"]["dropped"] for k in ordinary if k not in FORUM)
        rate = forum_drops / max(forum_docs, 1)
        ords = " | ".join(f"{res[f'ordinary:{k}']['dropped']} / {res[f'ordinary:{k}']['edited']}" for k in ordinary)
        c = res["composite"]
        print(f"| {alone} | {seg} | {cells} | {c['inserted_caught']:.3f} | {c['own_pushes_kept']:.3f} | {ords} | {rate:.2%} |")
        ok = clean_drops == 0 and rate <= 0.003 and c["own_pushes_kept"] >= 0.95 and res[names[0]]["precision"] >= 0.75
        if ok and (best is None or res[names[0]]["recall"] > best[0]):
            best = (res[names[0]]["recall"], alone, seg)
        listing.append(f"## classifier_alone {alone}, segment_alone {seg}\n")
        for k in ordinary:
            for doc_id, score, text in res[f"ordinary:{k}"]["dropped_docs"]:
                listing.append(f"- DROP `{doc_id}` ({score}) {text}".replace("\n", "⏎"))
            for doc_id, removed in res[f"ordinary:{k}"]["edited_docs"]:
                listing.append(f"- EDIT `{doc_id}` removed: {' | '.join(removed)}".replace("\n", "⏎"))
    print("\nchosen by the rule: " + (f"classifier_alone {best[1]}, segment_alone {best[2]} ({names[0]} recall {best[0]:.3f})" if best else "no setting meets every bound"))
    if args.list_drops:
        args.list_drops.write_text("\n".join(listing) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
