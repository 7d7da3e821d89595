import pytest
import yaml

from curation.cli import main
from curation.config import load_job
from curation.errors import ConfigError
from tests.conftest import DEMO


def _job(tmp_path, data) -> str:
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(p)


BASE = {"name": "t", "output": "out", "sources": [{"name": "a", "kind": "jsonl", "path": "*.jsonl"}]}


def test_demo_config_parses_into_typed_objects():
    job = load_job(DEMO)
    assert [s.kind for s in job.sources] == ["wiki", "news", "legal", "social"]
    assert job.executor.tasks == 2
    assert job.steps.normalize.enabled is True
    assert job.output_dir.name == "out"


def test_unknown_key_names_key_and_file(tmp_path):
    path = _job(tmp_path, {**BASE, "sorces": []})
    with pytest.raises(ConfigError) as e:
        load_job(path, check_inputs=False)
    assert "sorces: unknown key" in str(e.value) and path in str(e.value)


def test_unknown_nested_key(tmp_path):
    path = _job(tmp_path, {**BASE, "sources": [{"name": "a", "kind": "jsonl", "path": "x", "txt_field": "t"}]})
    with pytest.raises(ConfigError, match=r"sources\[0\]\.txt_field: unknown key"):
        load_job(path, check_inputs=False)


def test_wrong_type_names_key(tmp_path):
    path = _job(tmp_path, {**BASE, "executor": {"tasks": "many"}})
    with pytest.raises(ConfigError, match=r"executor\.tasks"):
        load_job(path, check_inputs=False)


def test_work_url_must_be_in_object_storage(tmp_path):
    path = _job(tmp_path, {**BASE, "executor": {"kind": "ray", "work_url": "/mnt/shared/work"}})
    with pytest.raises(ConfigError, match=r"executor\.work_url.*'/mnt/shared/work' is not an S3 URL"):
        load_job(path, check_inputs=False)
    ok = _job(tmp_path, {**BASE, "executor": {"kind": "ray", "work_url": "s3://bucket/work"}})
    assert load_job(ok, check_inputs=False).executor.work_url == "s3://bucket/work"


def test_bad_kind_and_version(tmp_path):
    path = _job(tmp_path, {**BASE, "version": "v1", "sources": [{"name": "a", "kind": "pdf", "path": "x"}]})
    with pytest.raises(ConfigError) as e:
        load_job(path, check_inputs=False)
    assert "version" in str(e.value) and "sources[0].kind" in str(e.value)


def test_missing_required_key(tmp_path):
    path = _job(tmp_path, {"name": "t", "sources": BASE["sources"]})
    with pytest.raises(ConfigError, match=r"output: Field required"):
        load_job(path, check_inputs=False)


def test_missing_input_path_is_an_error_before_work(tmp_path, capsys):
    path = _job(tmp_path, BASE)
    assert main(["run", path]) == 2
    err = capsys.readouterr().err
    assert "sources[0].path" in err and "no file matches" in err
    assert not (tmp_path / "out").exists()


def test_missing_job_file_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "job file not found" in capsys.readouterr().err


def test_duplicate_source_names(tmp_path):
    path = _job(tmp_path, {**BASE, "sources": BASE["sources"] * 2})
    with pytest.raises(ConfigError, match="unique"):
        load_job(path, check_inputs=False)


@pytest.mark.parametrize("step,key", [("spam", "model_path"), ("toxicity", "model_path"), ("script", "region_model_path"),
                                      ("language", "model_path")])
def test_missing_model_file_names_the_key_before_work(tmp_path, step, key):
    (tmp_path / "a.jsonl").write_text('{"id": "1", "text": "x"}\n')
    path = _job(tmp_path, {**BASE, "steps": {step: {key: "models/nope.json"}}})
    with pytest.raises(ConfigError, match=rf"job.yaml: steps.{step}.{key}: file not found: models/nope.json"):
        load_job(path)


def test_filters_manifests_and_synth_do_not_import_curation():
    # dependencies point down: curation/ assembles filters/, manifests/ and synth/, which never reach back up (their
    # config models live in filters/config.py and synth/config.py; curation/config.py composes them into job configs)
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    upward = []
    for package in ("filters", "manifests", "synth"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                upward += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "curation"]
    assert upward == []


def test_no_import_circles_between_modules():
    # one direction between any two modules, counting imports inside functions too (a lazy import hides a circle,
    # it does not remove it): filters/textclassifier -> ngrammodel -> hanfold, manifests/check -> mixture -> reader
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    imports: dict[str, set[str]] = {}
    for package in ("curation", "filters", "manifests", "synth"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found = imports.setdefault(module, set())
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                found.update([a.name for a in node.names] if isinstance(node, ast.Import) else
                             [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
    # a package re-exporting its modules (filters/dedup/__init__.py) is where they are imported from, not a circle
    graph = {m: {d for d in deps if d in imports and d != m and not d.startswith(m + ".")} for m, deps in imports.items()}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                circles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert circles == []
