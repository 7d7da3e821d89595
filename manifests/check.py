"""`verify`: one entry point for a release or a mixture of releases. It sits above the release reader and the
mixture module, so that neither imports the other's way back."""

from __future__ import annotations

from pathlib import Path

from manifests.mixture import is_mixture, verify_mixture
from manifests.reader import Verification, check_release


def verify(path: str | Path, expect_content_hash: str | None = None) -> list[str]:
    """Problems with a release (`verify_release`: every listed file re-hashed, the content hash and every count
    recomputed, the description against its hash) or a mixture (`verify_mixture`: its pinned releases; and its own
    numbers recomputed); empty when intact."""
    return verify_report(path, expect_content_hash).problems


def verify_report(path: str | Path, expect_content_hash: str | None = None) -> Verification:
    """`verify` with what it could not check (`notes`) and what it recomputed (`recomputed`)."""
    if is_mixture(path):
        out = Verification(problems=verify_mixture(path))
        if not out.problems:  # the numbers only of releases that match their pins
            check_mixture_numbers(path, out)
        return out
    return check_release(path, expect_content_hash)


def check_mixture_numbers(path: str | Path, out: Verification) -> None:
    """A mixture's own numbers from its pinned releases, by the rule it was built with (manifests.mixture.choose):
    per component the shards, the available documents and tokens, the target, the chosen documents and tokens, the
    epochs, the weight and the licenses; the totals, the license index and notes, and the content hash."""
    from manifests.mixture import component_licenses, contribution, license_notes, load_mixture, mixture_dir_of, mixture_hash
    from manifests.reader import differs, load

    mixture, root = load_mixture(path), mixture_dir_of(path)
    problems = out.problems
    weight_sum = sum(c.requested.weight or 0 for c in mixture.components)
    got, labels = [], []
    for i, c in enumerate(mixture.components):
        label = f"components[{i}] ({c.release} {c.source or c.split})"
        release_dir = (root / c.path).resolve()
        m = load(release_dir)
        if m.tokenizer is None or m.tokenizer.sha256 != mixture.tokenizer.sha256:
            problems.append(f"{label}: release counted with {m.tokenizer.name if m.tokenizer else 'no tokenizer'}, "
                            f"the mixture says {mixture.tokenizer.name} (sha256 {mixture.tokenizer.sha256})")
            continue
        if m.kind == "cpt":
            expected_shards = [s for s in m.shards if s.source == c.source]
        else:
            expected_shards = [s for s in m.shards if s.split == c.split]
        pinned = {s.path: s for s in c.shards}
        if sorted(pinned) != sorted(s.path for s in expected_shards):
            problems.append(f"{label}.shards: manifest pins {sorted(pinned)}, the release's {c.source or c.split} shards "
                            f"are {sorted(s.path for s in expected_shards)}")
            continue
        for s in expected_shards:
            differs(problems, f"{label}.shards[{s.path}].documents", pinned[s.path].documents, s.documents, "the release")
            differs(problems, f"{label}.shards[{s.path}].tokens", pinned[s.path].tokens, s.tokens or 0, "the release")
        table, counts = contribution(release_dir, m, c.shards, c.requested, mixture.seed, mixture.total_tokens, weight_sum)
        for what, recomputed in counts.items():
            differs(problems, f"{label}.{what}", getattr(c, what), recomputed, "its pinned shards and the mixture's rule")
        licenses = c.licenses
        if c.licenses or mixture.schema_version >= 2:  # a schema-1 mixture recorded none
            licenses = component_licenses(m, c.source, table)
            for src in sorted(set(licenses) | set(c.licenses)):
                differs(problems, f"{label}.licenses.{src}", c.licenses.get(src), licenses.get(src), "the release's sources")
        got.append(c.model_copy(update={"tokens": counts["tokens"], "documents": counts["documents"], "licenses": licenses}))
        labels.append(f"{m.name}/{c.source or c.split}")
    if len(got) != len(mixture.components):
        return
    total = sum(c.tokens for c in got)
    for i, (c, mine) in enumerate(zip(mixture.components, got)):
        differs(problems, f"components[{i}] ({c.release} {c.source or c.split}).weight", c.weight,
                 round(mine.tokens / total, 6) if total else 0.0, "the components' tokens")
    for key, value in {"tokens": total, "documents": sum(c.documents for c in got), "components": len(got)}.items():
        differs(problems, f"totals.{key}", mixture.totals.get(key), value, "the components")
    differs(problems, "content_hash", mixture.content_hash, mixture_hash(mixture.seed, got), "the pins and the chosen documents")
    if mixture.schema_version >= 2:
        by_license, notes = license_notes(list(zip(labels, got)))
        for lic in sorted(set(by_license) | set(mixture.licenses)):
            differs(problems, f"licenses[{lic!r}]", mixture.licenses.get(lic), by_license.get(lic), "the components' licenses")
        if notes != mixture.notes:
            problems.append(f"notes: manifest says {mixture.notes}, recomputed {notes} from the components' licenses")
    out.recomputed.append("every component's documents, tokens, epochs, weight and licenses, the totals and the content hash")
