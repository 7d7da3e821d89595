"""`curate export`, `curate locate` and `curate exclude --token-range` (issue 40): token files a trainer reads, tied to
the manifest's token counts, and the way back from a token range to documents.

The reference readers (megatron-core's IndexedDataset, datatrove's tokenized-file datasets) need torch: they come with
the `export` extra, which CI installs. Without it those tests skip here, and fail under CI (CI=true)."""

import importlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

import manifests
from curation.cli import main
from manifests.export import MEGATRON_DTYPE_CODES, MEGATRON_HEADER, Encoder, ExportedFile, load_export, locate
from manifests.mixture import load_mixture, mixture_table
from tests.conftest import SAMPLES, write_job

PAGES = [json.loads(line)["content"] for line in (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()]


def reference(module: str):
    """A trainer library's reader: skipped where the `export` extra is not installed, required under CI."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} cannot be imported ({e}): pip install -e '.[export]'")


def read_tokens(directory: Path, f: ExportedFile, fmt: str, dtype: str) -> list[np.ndarray]:
    """The tests' own reader of one exported token file, beside the trainers' (which need the `export` extra): each
    document's tokens (EOS included), from the format's index (Megatron: the .idx's sequence lengths and pointers;
    datatrove: the .ds.index document ends)."""
    dt = np.dtype(dtype)
    if fmt == "megatron":
        raw = (directory / f"{f.prefix}.idx").read_bytes()
        assert raw[:9] == MEGATRON_HEADER, f"{directory / f.prefix}.idx: not an MMIDIDX index"
        (code,) = struct.unpack("<B", raw[17:18])
        count, _docs = struct.unpack("<QQ", raw[18:34])
        lengths = np.frombuffer(raw, np.int32, count, 34)
        pointers = np.frombuffer(raw, np.int64, count, 34 + lengths.nbytes)
        dt = next(d for d, c in MEGATRON_DTYPE_CODES.items() if c == code)
        data = np.fromfile(directory / f"{f.prefix}.bin", dt)
        return [data[p // dt.itemsize: p // dt.itemsize + n] for p, n in zip(pointers, lengths)]
    data = np.fromfile(directory / f"{f.prefix}.ds", dt)
    ends = np.fromfile(directory / f"{f.prefix}.ds.index", "<u8").astype(np.int64)
    return [data[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def small_release(tmp_path: Path, version: str = "0.1.0") -> tuple[Path, Path]:
    """Two sources: x (5 help pages with URLs), y (1 page without). Returns (release, job)."""
    inbox, other = tmp_path / "inbox", tmp_path / "other"
    inbox.mkdir()
    other.mkdir()
    write(inbox / "day1.jsonl", [{"id": f"p{i}", "text": PAGES[i], "url": f"https://help.example.org/{i}"} for i in range(5)])
    write(other / "laws.jsonl", [{"id": "l1", "text": PAGES[6]}])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")},
                               {"name": "y", "kind": "jsonl", "path": str(other / "*.jsonl")}], version=version)
    assert main(["run", str(job)]) == 0
    return tmp_path / "out" / "t" / ("0.1.0" if version == "auto" else version), job


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The small release and its export in both formats."""
    tmp = tmp_path_factory.mktemp("export")
    release, _ = small_release(tmp)
    for fmt in ("megatron", "datatrove"):
        assert main(["export", str(release), "--format", fmt, "--out", str(tmp / fmt)]) == 0
    return release, tmp


def documents(release: Path) -> dict[str, list[dict]]:
    """Each shard's rows in order, as the export must write them."""
    m = manifests.load(release)
    return {s.path: pl.read_parquet(release / s.path).select("id", "text", "url", "tokens").to_dicts() for s in m.shards}


@pytest.mark.parametrize("fmt", ["megatron", "datatrove"])
def test_boundaries_and_eos_for_a_known_release(exported, fmt):
    release, tmp = exported
    m, e = manifests.load(release), load_export(tmp / fmt)
    encoder = Encoder("qwen2.5")
    rows = documents(release)
    assert e.tokenizer.name == "qwen2.5" and e.tokenizer.eos_token == "<|endoftext|>" and e.tokenizer.eos_id == 151643
    assert e.tokenizer.sha256 == m.tokenizer.sha256 and e.manifest_tokenizer_matches and e.tokenizer.dtype == ("int32" if fmt == "megatron" else "uint32")
    assert [f.shards[0] for f in e.files] == sorted(s.path for s in m.shards)
    offset = 0
    for f in e.files:
        docs = read_tokens(tmp / fmt, f, fmt, e.tokenizer.dtype)
        want = rows[f.shards[0]]
        assert len(docs) == len(want) == f.documents
        for got, row in zip(docs, want):  # the document's own tokens, then exactly one EOS
            assert got.tolist() == encoder.encode_batch([row["text"]])[0].tolist() + [151643]
            assert len(got) == row["tokens"] + 1
        index = pl.read_parquet(tmp / fmt / f.index)
        assert index["id"].to_list() == [r["id"] for r in want] and index["url"].to_list() == [r["url"] for r in want]
        assert index["tokens"].to_list() == [len(d) for d in docs]
        assert index["start"].to_list() == np.concatenate([[0], np.cumsum([len(d) for d in docs])[:-1]]).tolist()
        assert f.global_start == offset and index["global_start"].to_list() == [offset + s for s in index["start"].to_list()]
        offset += f.tokens
    # the stated relation, exactly: exported tokens = manifest tokens + one EOS per document
    assert e.totals["text_tokens"] == m.totals["tokens"] and e.totals["documents"] == m.totals["documents"]
    assert e.totals["tokens"] == m.totals["tokens"] + m.totals["documents"] == offset
    assert e.weights == {"x": pytest.approx(e.files[0].tokens / offset, abs=1e-6), "y": pytest.approx(e.files[1].tokens / offset, abs=1e-6)}


def test_megatron_core_reads_the_export(exported):
    indexed = reference("megatron.core.datasets.indexed_dataset")
    release, tmp = exported
    m, e = manifests.load(release), load_export(tmp / "megatron")
    rows = documents(release)
    count = tokens = 0
    for f in e.files:
        ds = indexed.IndexedDataset(str(tmp / "megatron" / f.prefix))  # asserts its own header, counts and dtype
        assert len(ds) == f.documents and ds.document_indices.tolist() == list(range(f.documents + 1))
        for i, row in enumerate(rows[f.shards[0]]):
            assert ds[i][-1] == e.tokenizer.eos_id and len(ds[i]) == row["tokens"] + 1 and e.tokenizer.eos_id not in ds[i][:-1]
        count += len(ds)
        tokens += int(ds.sequence_lengths.sum())
    assert count == m.totals["documents"] and tokens - count == m.totals["tokens"]
    weights = (tmp / "megatron" / "data-path.txt").read_text().split()
    assert weights[1::2] == [f.prefix for f in e.files] and sum(map(float, weights[0::2])) == pytest.approx(1.0)


def test_datatrove_reads_the_export(exported):
    dataset = reference("datatrove.utils.dataset")
    release, tmp = exported
    m, e = manifests.load(release), load_export(tmp / "datatrove")
    rows = documents(release)
    count = tokens = 0
    for f in e.files:
        # one window over the whole file: its tokens, and positions from the .ds.index that restart at every document
        ds = dataset.DatatroveFileDataset(str(tmp / "datatrove" / f"{f.prefix}.ds"), seq_len=f.tokens - 1, token_size=4,
                                          return_positions=True)
        item = ds[0]
        ids, positions = item["input_ids"].numpy(), item["positions"].numpy()
        lengths = [r["tokens"] + 1 for r in rows[f.shards[0]]]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        assert len(ids) == sum(lengths) and np.flatnonzero(positions == 0).tolist() == starts.tolist()
        assert ids[np.cumsum(lengths) - 1].tolist() == [e.tokenizer.eos_id] * len(lengths)
        assert (tmp / "datatrove" / f"{f.prefix}.ds.metadata").read_text().splitlines()[:2] == ["qwen2.5|4", str(f.tokens)]
        count += len(lengths)
        tokens += len(ids)
    assert count == m.totals["documents"] and tokens - count == m.totals["tokens"]
    # the folder reader lists the files in the order global offsets count them
    folder = dataset.DatatroveFolderDataset(str(tmp / "datatrove" / "data"), seq_len=15, token_size=4, filename_pattern="**/*.ds")
    assert [f"data/{Path(f.file_path).with_suffix('').as_posix()}" for f in folder.files] == [f.prefix for f in e.files]


def test_locate_names_the_documents_of_a_token_range(exported, capsys):
    release, tmp = exported
    e = load_export(tmp / "megatron")
    x = pl.read_parquet(tmp / "megatron" / e.files[0].index)
    # the last token of p1 (its EOS) up to the first token of p3: p1, p2, p3 and no other
    a, b = x["global_start"][2] - 1, x["global_start"][3] + 1
    assert locate(tmp / "megatron", a, b)["id"].to_pylist() == ["x/p1", "x/p2", "x/p3"]
    assert locate(tmp / "megatron", a + 1, b - 1)["id"].to_pylist() == ["x/p2"]  # B is not included
    y_start = e.files[1].global_start
    assert locate(tmp / "megatron", y_start, y_start + 1)["id"].to_pylist() == ["y/l1"]
    # offsets inside one token file, as a trainer reports a file and a position
    assert locate(tmp / "megatron", 0, 1, prefix=e.files[1].prefix)["id"].to_pylist() == ["y/l1"]
    assert main(["locate", str(tmp / "megatron"), "--token-range", f"{a}:{b}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"3 document(s) overlap tokens {a}:{b}") and "https://help.example.org/2" in out
    assert main(["locate", str(tmp / "megatron"), "--token-range", "9:3"]) == 1
    assert "need 0 <= A < B" in capsys.readouterr().err


def test_token_range_exclusion_leaves_and_stays_out(tmp_path, capsys, monkeypatch):
    v1, job = small_release(tmp_path, version="auto")
    capsys.readouterr()
    assert main(["export", str(v1), "--format", "datatrove", "--out", str(tmp_path / "exp")]) == 0
    index = pl.read_parquet(tmp_path / "exp" / load_export(tmp_path / "exp").files[0].index)
    a, b = index["global_start"][1] + 5, index["global_start"][3]  # inside p1 up to where p3 starts: p1 and p2
    monkeypatch.chdir(tmp_path)  # the export named relative to here: the manifest must still say where it is
    assert main(["exclude", str(v1), "--token-range", f"{a}:{b}", "--export", "exp",
                 "--reason", "loss spike at step 1200"]) == 0
    v2 = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(pl.read_parquet(f"{v2}/data/**/*.parquet")["id"]) == ["x/p0", "x/p3", "x/p4", "y/l1"]
    assert main(["manifest", "verify", str(v2)]) == 0 and manifests.verify(v1) == []
    m1, m2 = manifests.load(v1), manifests.load(v2)
    (entry,) = m2.exclusions
    assert (entry.reason, entry.token_range, entry.range_documents, entry.removed, entry.ids_requested) == ("loss spike at step 1200", f"{a}:{b}", 2, 2, 0)
    assert entry.export == str((tmp_path / "exp").resolve()) and len(entry.export_sha256) == 64
    assert m2.totals["tokens"] == m1.totals["tokens"] - sum(index["tokens"][1:3]) + 2  # their text tokens, EOS aside
    y = next(s for s in m2.shards if s.source == "y")
    assert os.stat(v2 / y.path).st_ino == os.stat(v1 / y.path).st_ino  # untouched: hard-linked, not rewritten
    assert (v2 / "exclusions/ids.txt").read_text() == "x/p1\nx/p2\n"

    # the export is of v1: counting its tokens against v2 would name the wrong documents
    assert main(["exclude", str(v2), "--token-range", f"{a}:{b}", "--export", str(tmp_path / "exp"), "--reason", "x"]) == 2
    assert "not of" in capsys.readouterr().err

    # p1 and p2 come back in a later file: the next incremental release keeps them out
    write(tmp_path / "inbox" / "day2.jsonl", [{"id": "p1", "text": PAGES[1]}, {"id": "p2", "text": PAGES[2]}, {"id": "new", "text": PAGES[7]}])
    assert main(["run", str(job), "--since", str(v2)]) == 0
    v3 = capsys.readouterr().out.strip().splitlines()[-1]
    assert sorted(pl.read_parquet(f"{v3}/data/**/*.parquet")["id"]) == ["x/new", "x/p0", "x/p3", "x/p4", "y/l1"]
    assert manifests.verify(v3) == []


def test_token_range_exclusion_through_a_mixture_takes_only_this_releases_documents(tmp_path, capsys):
    """A range of a mixture's export that spans two releases: excluding from one takes its documents only, and
    leaves the other release as it was."""
    (tmp_path / "t").mkdir()
    (tmp_path / "u").mkdir()
    t, _ = small_release(tmp_path / "t")
    write(tmp_path / "u" / "q.jsonl", [{"id": f"q{i}", "text": PAGES[i]} for i in (5, 7)])
    u_job = write_job(tmp_path / "u", [{"name": "z", "kind": "jsonl", "path": str(tmp_path / "u" / "q.jsonl")}], name="u")
    assert main(["run", str(u_job)]) == 0
    u = tmp_path / "u" / "out" / "u" / "0.1.0"
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"name": "two", "output": str(tmp_path / "mixes"), "seed": 3, "releases": [
        {"path": str(t), "sources": {"x": {"epochs": 1}, "y": {"epochs": 1}}}, {"path": str(u), "sources": {"z": {"epochs": 1}}}]}))
    assert main(["mix", str(mix)]) == 0
    mixture_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["export", str(mixture_dir), "--format", "megatron", "--out", str(tmp_path / "exp")]) == 0
    e = load_export(tmp_path / "exp")
    assert [(f.prefix, f.release) for f in e.files] == [("data/t-0.1.0/x/00000", "t 0.1.0"), ("data/t-0.1.0/y/00000", "t 0.1.0"),
                                                        ("data/u-0.1.0/z/00000", "u 0.1.0")]
    # from the EOS of t's last document (y/l1) into u's first: one document of each release
    a = e.files[2].global_start - 1
    u_first = pl.read_parquet(tmp_path / "exp" / e.files[2].index)["id"][0]
    assert locate(tmp_path / "exp", a, a + 2)["id"].to_pylist() == ["y/l1", u_first]
    u_before = {p.relative_to(u): p.read_bytes() for p in u.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert main(["exclude", str(t), "--token-range", f"{a}:{a + 2}", "--export", str(tmp_path / "exp"), "--reason", "spike"]) == 0
    t2 = Path(capsys.readouterr().out.strip().splitlines()[-1])
    (entry,) = manifests.load(t2).exclusions
    assert (entry.range_documents, entry.removed) == (1, 1) and (t2 / "exclusions/ids.txt").read_text() == "y/l1\n"
    assert sorted(pl.read_parquet(f"{t2}/data/**/*.parquet")["id"]) == ["x/p0", "x/p1", "x/p2", "x/p3", "x/p4"]
    # the other release: no new version, every file as it was
    assert sorted(p.name for p in u.parent.iterdir()) == ["0.1.0"] and manifests.verify(u) == []
    assert {p.relative_to(u): p.read_bytes() for p in u.rglob("*") if p.is_file()} == u_before

    # and the other way round: from u, only u's document
    assert main(["exclude", str(u), "--token-range", f"{a}:{a + 2}", "--export", str(tmp_path / "exp"), "--reason", "spike"]) == 0
    u2 = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (u2 / "exclusions/ids.txt").read_text() == f"{u_first}\n" and manifests.load(u2).exclusions[0].range_documents == 1


def test_a_mixture_exports_its_components_with_their_weights(tmp_path, capsys):
    """Two versions of one release in the mixture: each (version, source) is its own component, file and weight."""
    v1, job = small_release(tmp_path)
    write(tmp_path / "inbox" / "day2.jsonl", [{"id": "n7", "text": PAGES[7]}])
    write_job(tmp_path, yaml.safe_load(job.read_text())["sources"], version="0.2.0")
    assert main(["run", str(job)]) == 0
    v2 = tmp_path / "out" / "t" / "0.2.0"
    x_tokens = next(s.tokens for s in manifests.load(v1).sources if s.name == "x")
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"name": "tw-mix", "output": str(tmp_path / "mixes"), "seed": 3, "releases": [
        {"path": str(v1), "sources": {"x": {"max_tokens": x_tokens // 2}, "y": {"epochs": 3}}},
        {"path": str(v2), "sources": {"x": {"epochs": 1}, "y": {"epochs": 2}}}]}))
    assert main(["mix", str(mix)]) == 0
    mixture_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    mixture = load_mixture(mixture_dir)
    assert [(c.release, c.source) for c in mixture.components] == [("t 0.1.0", "x"), ("t 0.1.0", "y"), ("t 0.2.0", "x"), ("t 0.2.0", "y")]
    key = {(c.release, c.source): f"t-{c.release.split()[1]}/{c.source}" for c in mixture.components}
    texts = {r["id"]: r["text"] for release in (v1, v2) for rows in documents(release).values() for r in rows}
    encoder = Encoder("qwen2.5")
    for fmt in ("megatron", "datatrove"):
        assert main(["export", str(mixture_dir), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        e = load_export(tmp_path / fmt)
        assert e.source_kind == "mixture" and e.content_hash == mixture.content_hash
        assert e.totals["text_tokens"] == mixture.totals["tokens"] and e.totals["documents"] == mixture.totals["documents"]
        assert e.totals["tokens"] == mixture.totals["tokens"] + mixture.totals["documents"]
        # every component present once, under its version, with the mixture's weight
        assert e.weights == {key[c.release, c.source]: c.weight for c in mixture.components}
        assert sum(e.weights.values()) == pytest.approx(1.0, abs=1e-5)
        by = {f.component: f for f in e.files}
        assert len(e.files) == len(by) == len(mixture.components)
        chosen = mixture_table(mixture_dir).to_pylist()
        for c in mixture.components:
            f = by[key[c.release, c.source]]
            assert f.release == c.release and f.prefix == f"data/{key[c.release, c.source]}/00000"
            assert (f.documents, f.text_tokens) == (c.documents, c.tokens)
            ids = pl.read_parquet(tmp_path / fmt / f.index)["id"].to_list()
            assert sorted(ids) == sorted(r["id"] for r in chosen if r["release"] == c.release and r["component"] == f"t/{c.source}")
        for f in e.files:  # each document's own tokens and EOS, in the order of the index
            ids = pl.read_parquet(tmp_path / fmt / f.index)["id"].to_list()
            assert [d.tolist() for d in read_tokens(tmp_path / fmt, f, fmt, e.tokenizer.dtype)] == [
                encoder.encode_batch([texts[i]])[0].tolist() + [e.tokenizer.eos_id] for i in ids]
    y1, y2 = by["t-0.1.0/y"], by["t-0.2.0/y"]
    assert (y1.documents, y2.documents) == (3, 2) and len(set(pl.read_parquet(tmp_path / "datatrove" / y1.index)["id"])) == 1  # epochs: repeats
    weight = {(c.release, c.source): c.weight for c in mixture.components}
    folders = json.loads((tmp_path / "datatrove" / "weights.json").read_text())
    assert len(folders["components"]) == len(set(folders["components"])) == len(weight)
    assert dict(zip(folders["components"], folders["weights"])) == {key[c]: w for c, w in weight.items()}
    assert dict(zip(folders["components"], folders["folders"])) == {key[c]: f"data/{key[c]}" for c in weight}
    blend = (tmp_path / "megatron" / "data-path.txt").read_text().split()
    assert dict(zip(blend[1::2], map(float, blend[0::2]))) == {
        f"data/{key[c]}/00000": pytest.approx(w, abs=1e-6) for c, w in weight.items()}
    assert sum(map(float, blend[0::2])) == pytest.approx(1.0, abs=1e-5)


def test_a_mixture_naming_one_release_twice_is_refused(tmp_path, capsys):
    """The same release listed twice: two components would write the same token file; the export says so."""
    release, _ = small_release(tmp_path)
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"name": "twice", "output": str(tmp_path / "mixes"), "seed": 3, "releases": [
        {"path": str(release), "sources": {"x": {"epochs": 1}}}, {"path": str(release), "sources": {"x": {"epochs": 2}}}]}))
    assert main(["mix", str(mix)]) == 0
    mixture_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["export", str(mixture_dir), "--format", "megatron", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert "t 0.1.0 x" in err and "twice" in err and not (tmp_path / "e").exists()


def test_an_export_refuses_what_it_cannot_write(exported, tmp_path, capsys):
    release, tmp = exported
    assert main(["export", str(release), "--format", "megatron", "--out", str(tmp / "megatron")]) == 1
    assert "exists; give --force" in capsys.readouterr().err
    assert main(["export", str(release), "--format", "megatron", "--out", str(tmp_path / "e"), "--eos", "<|nope|>"]) == 1
    assert "has no token '<|nope|>'" in capsys.readouterr().err and not (tmp_path / "e").exists()
    # another tokenizer: written, and said not to be compared with the manifest's counts
    assert main(["export", str(release), "--format", "datatrove", "--out", str(tmp_path / "q36"), "--tokenizer", "qwen3.6"]) == 0
    assert "not compared" in capsys.readouterr().err
    e = load_export(tmp_path / "q36")
    assert not e.manifest_tokenizer_matches and e.tokenizer.name == "qwen3.6" and e.tokenizer.eos_id == 248044


def test_a_local_tokenizer_exports_uint16_with_its_own_eos(tmp_path, capsys):
    """A release counted with a small tokenizer.json: 2-byte tokens, the EOS its tokenizer_config.json names."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(PAGES, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]", "</s>"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "</s>"}}))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a.jsonl", [{"id": f"p{i}", "text": PAGES[i]} for i in range(4)])
    job = write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": str(inbox / "*.jsonl")}], tokenizer=str(tmp_path / "tokenizer.json"))
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out" / "t" / "0.1.0"
    assert main(["export", str(release), "--format", "megatron", "--out", str(tmp_path / "e")]) == 0
    m, e = manifests.load(release), load_export(tmp_path / "e")
    assert e.manifest_tokenizer_matches and e.tokenizer.dtype == "uint16" and (e.tokenizer.eos_token, e.tokenizer.eos_id) == ("</s>", 1)
    assert e.totals["tokens"] == m.totals["tokens"] + m.totals["documents"]
    docs = read_tokens(tmp_path / "e", e.files[0], "megatron", e.tokenizer.dtype)
    texts = pl.read_parquet(release / m.shards[0].path)["text"].to_list()
    assert [d.tolist() for d in docs] == [tok.encode(t, add_special_tokens=False).ids + [1] for t in texts]
    indexed = reference("megatron.core.datasets.indexed_dataset")
    ds = indexed.IndexedDataset(str(tmp_path / "e" / e.files[0].prefix))
    assert ds[0].dtype == np.uint16 and [ds[i].tolist() for i in range(len(ds))] == [d.tolist() for d in docs]
