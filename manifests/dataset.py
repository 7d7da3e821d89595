"""Loading a release into Hugging Face `datasets` for training, after verifying its shards."""

from __future__ import annotations

from pathlib import Path

from manifests.check import verify
from manifests.reader import load, manifest_path


class ReleaseVerificationError(ValueError):
    pass


def to_dataset(path: str | Path, split: str | None = None, streaming: bool = False, weighted: bool = False,
               seed: int | None = None, check: bool = True):
    """A `datasets.Dataset` (or `IterableDataset` with `streaming=True`) over a release's shards.

    - `split`: SFT releases: "train" or "validation"; labels releases: "train", "dev" or "test"; CPT releases have one
      split and ignore it.
    - `weighted`: CPT only: one dataset per source, interleaved with the manifest's `mixture_weights`
      as sampling probabilities (`datasets.interleave_datasets`, "all_exhausted"): sources are repeated until every
      one is used up, so the dataset holds more rows than the release has documents (a UserWarning says how many);
      for a token budget with stated epochs use `curate mix`.
    - `check`: re-hash every shard first and refuse a release that does not match its manifest.

    A mixture (a directory with mixture.json, from `curate mix`) loads as one in-memory `Dataset` of the chosen
    documents with their repeats, in an order shuffled by `seed` (default: the mixture's own): columns id, release,
    component, source, text (CPT rows), messages (SFT rows), tokens. `check` verifies every pinned release.
    """
    import datasets

    from manifests.mixture import is_mixture, mixture_table

    if is_mixture(path):
        if streaming:
            raise ValueError(f"{path}: a mixture loads in memory; streaming is for single releases")
        if check and (problems := verify(path)):
            raise ReleaseVerificationError(f"{path}: mixture's pinned releases do not match:\n  " + "\n  ".join(problems))
        return datasets.Dataset(mixture_table(path, seed=seed))
    mpath = manifest_path(path)
    release = mpath.parent
    manifest = load(mpath)
    if check and (problems := verify(mpath)):
        raise ReleaseVerificationError(f"{release}: release does not match its manifest:\n  " + "\n  ".join(problems))
    shards = manifest.shards
    if manifest.kind in ("sft", "labels"):
        split = split or "train"
        shards = [s for s in shards if s.split == split]
        if not shards:
            raise ValueError(f"{release}: no shards for split {split!r} (have {sorted({s.split for s in manifest.shards})})")

    def load_files(files: list[str]):
        return datasets.load_dataset("parquet", data_files=files, split="train", streaming=streaming)

    if not shards:
        raise ValueError(f"{release}: release has no shards")
    if weighted and manifest.kind == "cpt":
        groups: dict[str, list[str]] = {}
        for s in shards:
            groups.setdefault(s.source or "", []).append(str(release / s.path))
        names = [n for n in groups if manifest.mixture_weights.get(n)]
        probs = [manifest.mixture_weights[n] for n in names]
        total = sum(probs)
        mixed = datasets.interleave_datasets([load_files(groups[n]) for n in names], probabilities=[p / total for p in probs],
                                             seed=seed or 0, stopping_strategy="all_exhausted")
        documents = sum(s.documents for s in shards if s.source in names)
        if not streaming and len(mixed) != documents:
            import warnings

            warnings.warn(f"{release}: weighted: {documents} documents became {len(mixed)} rows (sources sampled by "
                          f"their mixture weights until every source was used up, so documents repeat)", stacklevel=2)
        return mixed
    return load_files([str(release / s.path) for s in shards])
