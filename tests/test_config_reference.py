"""docs/config.md, the job config reference, is generated from the config models (curation/config_reference.py).
These tests keep it current and complete: the key set is computed here from the models on its own, not by reusing the
generator, and compared with the keys the checked-in file lists."""

import re
import types
import typing
from pathlib import Path
from typing import Annotated, Literal, Union

import pytest
import yaml
from pydantic import BaseModel, Field

from curation import config_reference
from curation.config import JobConfig, MixConfig, QualityLabelJobConfig, SynthJobConfig, parse_job
from curation.errors import ConfigError
from filters.config import Strict

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "config.md"
JOB_MODELS = {m.__name__: m for m in (JobConfig, SynthJobConfig, QualityLabelJobConfig, MixConfig)}


# -- the key set, from the models alone ----------------------------------------------------------------------------
def _models_in(t) -> list[tuple[type, str]]:
    """(model, path suffix) for every model a field's type holds: `[]` list items, `.<name>` mapping values."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Annotated:
        return _models_in(args[0])
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [(t, "")]
    if origin in (Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin is list:
        return [(m, "[]" + s) for m, s in _models_in(args[0])]
    if origin is dict:
        return [(m, ".<name>" + s) for m, s in _models_in(args[1])]
    return []


def accepted_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        if name == "base_dir":  # set by the loader from the job file's folder; a file giving it is refused (below)
            continue
        keys.add(prefix + name)
        for sub, suffix in _models_in(info.annotation):
            keys |= accepted_keys(sub, f"{prefix}{name}{suffix}.")
    return keys


def documented_keys(text: str) -> dict[str, set[str]]:
    """The first cell of every table row under each `## ... (Model)` heading of docs/config.md, by model name."""
    keys, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = re.search(r"\((\w+)\)\s*$", line).group(1)
            keys[current] = set()
        elif current and (m := re.match(r"^\| \[?`([^`]+)`", line)):
            keys[current].add(m.group(1))
    return keys


# -- tests ---------------------------------------------------------------------------------------------------------
def test_checked_in_reference_is_what_the_models_give():
    assert DOC.is_file(), "docs/config.md is missing: run `python -m curation.config_reference`"
    assert DOC.read_text(encoding="utf-8") == config_reference.render().text, (
        "docs/config.md differs from the config models (a field added, removed or recommented): "
        "run `python -m curation.config_reference` and commit docs/config.md")


def test_every_accepted_key_is_documented_and_nothing_else():
    documented = documented_keys(DOC.read_text(encoding="utf-8"))
    assert set(documented) == set(JOB_MODELS), "one `## ... (Model)` section per job model"
    for name, model in JOB_MODELS.items():
        accepted = accepted_keys(model)
        assert accepted - documented[name] == set(), f"{name}: keys the config accepts missing from docs/config.md"
        assert documented[name] - accepted == set(), f"{name}: keys in docs/config.md the config does not accept"


@pytest.mark.parametrize("model, key", [
    (JobConfig, "alert_min_documents"), (JobConfig, "strict"), (JobConfig, "sources[].encoding"),
    (JobConfig, "sources[].max_record_bytes"), (JobConfig, "sources[].max_document_chars"),
    (JobConfig, "steps.toxicity.segment_gate"), (JobConfig, "steps.toxicity.classifier_alone"),
    (JobConfig, "executor.venv_path"), (SynthJobConfig, "llm.local_port"), (SynthJobConfig, "system_prompt"),
    (SynthJobConfig, "judge.llm"), (SynthJobConfig, "judge.llm.model"), (SynthJobConfig, "judge.unjudged"),
    (SynthJobConfig, "gates.answers_per_prompt"), (QualityLabelJobConfig, "llm.local_port"),
    (MixConfig, "releases[].sources.<name>.epochs"),
])
def test_known_keys_are_in_the_reference(model, key):
    assert key in accepted_keys(model), f"{model.__name__} no longer accepts {key}: update this test"
    assert key in documented_keys(DOC.read_text(encoding="utf-8"))[model.__name__]


def test_base_dir_is_not_a_key_a_job_file_can_give(tmp_path):
    data = {"name": "t", "output": "out", "base_dir": "/", "sources": [{"name": "a", "kind": "jsonl", "path": "x"}]}
    with pytest.raises(ConfigError):
        parse_job(data, "job.yaml", tmp_path)
    assert "`base_dir`" not in DOC.read_text(encoding="utf-8")


def test_rows_carry_type_default_and_the_source_comment():
    text = DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `steps.toxicity.segment_gate` |"))
    assert "`float in [0, 1]`" in row and "`0.1`" in row and "one of its ~300-character chunks" in row  # comment above
    row = next(line for line in text.splitlines() if line.startswith("| `alert_drop_share` |"))
    assert "`float in (0, 1]`" in row and "`0.9`" in row and "dropping this share" in row  # trailing comment
    row = next(line for line in text.splitlines() if line.startswith("| `steps.script.action` |"))
    assert '`"drop" \\| "convert" \\| "tag"`' in row
    assert re.search(r"^\| `tasks\[\]\.limit` \| `int ≥ 1 \\\| null` \| `null` \|", text, re.M)


def test_label_jobs_llm_default_is_its_own():
    """The label job's `llm` defaults to temperature 0 and 128 tokens when left out, not LLMConfig's own defaults."""
    text = DOC.read_text(encoding="utf-8").split('<a id="label"></a>')[1]
    row = next(line for line in text.splitlines() if line.startswith("| [`llm`]"))
    assert "`{temperature: 0.0, max_tokens: 128}`" in row


def _yaml_block_after(path: Path, heading: str) -> dict:
    text = path.read_text(encoding="utf-8").split(heading, 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def _given_keys(data, nested: set[str], prefix="") -> set[str]:
    """The dotted keys a YAML example sets, in the reference's notation (`tasks[].kind`); a mapping is read into only
    where the reference has keys below it (`tasks[].fields` is a free mapping: its keys are the user's)."""
    keys = set()
    for k, v in data.items():
        keys.add(prefix + k)
        below = f"{prefix}{k}{'[]' if isinstance(v, list) else ''}."
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, dict) and any(n.startswith(below) for n in nested):
                keys |= _given_keys(item, nested, below)
    return keys


def test_sft_guide_example_agrees_with_the_reference(tmp_path):
    """docs/sft.md's job example is a valid SFT job, and every key it sets is in the reference's SFT section."""
    data = _yaml_block_after(ROOT / "docs" / "sft.md", "## The job")
    SynthJobConfig(**data, base_dir=str(tmp_path))
    documented = documented_keys(DOC.read_text(encoding="utf-8"))["SynthJobConfig"]
    assert _given_keys(data, documented) - documented == set()


def test_readme_example_is_a_valid_job_and_links_the_reference(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/config.md" in readme.split("## Job config reference", 1)[1].split("\n## ", 1)[0]
    job = parse_job(_yaml_block_after(ROOT / "README.md", "## Job config reference"), "README", tmp_path)
    assert job.name


# -- the generator on models of this file --------------------------------------------------------------------------
class _Wiki(Strict):
    """A wiki dump."""

    kind: Literal["wiki"]
    # read from the dump's own
    # namespace list
    namespaces: list[int] = [0]
    lang: str = Field(default="zh", description="from Field")  # not this comment


class _Jsonl(Strict):
    kind: Literal["jsonl"]
    text_field: str = "text"  # the record's text


class _Job(Strict):
    sources: list[Annotated[Union[_Wiki, _Jsonl], Field(discriminator="kind")]]
    ratio: float | None = Field(default=None, gt=0, le=1)


def test_union_members_get_their_own_keys_and_comments_are_read():
    sections = config_reference.walk(_Job, "t")
    by_label = {s.label: s for s in sections if s.path == "sources[]"}
    assert set(by_label) == {"kind: wiki", "kind: jsonl"}  # each kind with its own keys
    wiki = {r.key: r for r in by_label["kind: wiki"].rows}
    assert set(wiki) == {"sources[].kind", "sources[].namespaces", "sources[].lang"}
    assert wiki["sources[].namespaces"].description == "read from the dump's own namespace list"
    assert wiki["sources[].lang"].description == "from Field"
    assert {r.key for r in by_label["kind: jsonl"].rows} == {"sources[].kind", "sources[].text_field"}
    top = {r.key: r for r in sections[0].rows}
    assert top["ratio"].type == "float in (0, 1] | null" and top["ratio"].default == "null"
    assert accepted_keys(_Job) == {r.key for s in sections for r in s.rows}


def test_check_names_the_command_when_stale(tmp_path):
    stale = tmp_path / "config.md"
    stale.write_text(config_reference.render().text.replace("segment_gate", "segment_gat"), encoding="utf-8")
    problem = config_reference.check(stale)
    assert problem and "python -m curation.config_reference" in problem and "\n" not in problem
    assert config_reference.main(["--check", "--output", str(stale)]) == 1
    assert config_reference.main(["--check"]) == 0
