"""The job config reference, docs/config.md, generated from the config models.

Why: the README used to copy every key of every job file by hand, and the copy drifted (keys added to a model never
reached it). The pydantic models are what a job file is checked against, so they are the one place a key is written
down: this module walks them (the CPT, SFT, label and mixture jobs and every model they nest) and writes one table per
model: the key as a dotted path, its type, its default as YAML shows it, and its description.

A description is what the source already says beside the field: `Field(description=...)` when given, else the
comment lines just above the field and the trailing `# comment` on its line (read with `ast` and `tokenize`). A model's
docstring introduces its table. So documenting a key means commenting it where it is defined, and
tests/test_config_reference.py fails until docs/config.md is regenerated:

    python -m curation.config_reference           # write docs/config.md (stderr: how many fields have no description)
    python -m curation.config_reference --check   # exit 1, with a one-line summary, when docs/config.md is stale
"""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import io
import re
import sys
import tokenize
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel

from curation.config import JobConfig, MixConfig, QualityLabelJobConfig, SynthJobConfig

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"
COMMAND = "python -m curation.config_reference"

# (anchor, title, command, model): one `##` section each, in this order
JOBS = [
    ("cpt", "CPT job", "curate run JOB.yaml", JobConfig),
    ("sft", "SFT job", "curate synth JOB.yaml", SynthJobConfig),
    ("label", "Quality-label job", "curate label-quality JOB.yaml", QualityLabelJobConfig),
    ("mix", "Mixture", "curate mix MIX.yaml", MixConfig),
]

# fields of the models that a job file cannot set: the loader fills them (a file giving one is refused)
LOADER_FIELDS = {"base_dir"}


@dataclass
class Row:
    key: str  # dotted path, e.g. steps.toxicity.classifier_alone
    type: str
    default: str
    description: str
    anchor: str | None = None  # the section of a nested model's keys


@dataclass
class Section:
    path: str  # "" for a job's top level, else the nested model's path, e.g. "steps.toxicity", "sources[]"
    model: type[BaseModel]
    anchor: str
    intro: str
    label: str = ""  # a union's member: how it is chosen, e.g. `kind: wiki`
    rows: list[Row] = field(default_factory=list)


# -- descriptions from the source -------------------------------------------------------------------------------
@functools.cache
def _parsed(path: str) -> tuple[ast.Module, dict[int, tuple[str, bool]]]:
    """A source file's syntax tree and its comments by line: (text, whether the comment is the whole line)."""
    source = Path(path).read_text(encoding="utf-8")
    lines = source.splitlines()
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            comments[row] = (tok.string.lstrip("#").strip(), not lines[row - 1][:col].strip())
    return ast.parse(source), comments


def _class_node(cls: type) -> tuple[ast.ClassDef, dict[int, tuple[str, bool]]] | None:
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None
    tree, comments = _parsed(path)
    node: ast.AST = tree
    for name in cls.__qualname__.split("."):  # a nested class is found inside its outer class
        node = next((n for n in ast.iter_child_nodes(node) if isinstance(n, ast.ClassDef) and n.name == name), None)
        if node is None:
            return None
    return node, comments


def _comment_of(stmt: ast.stmt, comments: dict[int, tuple[str, bool]]) -> str:
    """The whole-line comments just above a statement, then the comments on its own lines."""
    above, line = [], stmt.lineno - 1
    while line in comments and comments[line][1]:
        above.insert(0, comments[line][0])
        line -= 1
    trailing = [comments[n][0] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in comments]
    return " ".join(above + trailing)


@functools.cache
def _field_comments(cls: type) -> dict[str, str]:
    """Each field written in this class's own body, with its comment ("" when it has none)."""
    found = _class_node(cls)
    if found is None:
        return {}
    node, comments = found
    return {stmt.target.id: _comment_of(stmt, comments) for stmt in node.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)}


def owner(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The class whose body writes the field: an inherited field is commented where it is written."""
    for cls in model.__mro__:
        if issubclass(cls, BaseModel) and cls is not BaseModel and name in _field_comments(cls):
            return cls
    return model


def field_description(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    return info.description or _field_comments(owner(model, name)).get(name, "")


def model_doc(model: type[BaseModel]) -> str:
    """The model's own docstring as one paragraph ("" when it has none: pydantic's base docstring is not one)."""
    found = _class_node(model)
    doc = ast.get_docstring(found[0]) if found else None
    return " ".join((doc or "").split())


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""


# -- types and defaults ------------------------------------------------------------------------------------------
def _is_model(t: object) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _literal_values(t: object) -> tuple:
    return typing.get_args(t) if typing.get_origin(t) is typing.Literal else ()


def _union_members(t: object) -> tuple | None:
    return typing.get_args(t) if typing.get_origin(t) in (typing.Union, types.UnionType) else None


def _bounds(metadata: list) -> str:
    """Numeric constraints of a field as `≥ 1`, `> 0`, `in (0, 1]`."""
    c = {k: getattr(m, k) for m in metadata for k in ("ge", "gt", "le", "lt") if getattr(m, k, None) is not None}
    low = ("[", c["ge"]) if "ge" in c else ("(", c["gt"]) if "gt" in c else None
    high = (c["le"], "]") if "le" in c else (c["lt"], ")") if "lt" in c else None
    if low and high:
        return f" in {low[0]}{low[1]}, {high[0]}{high[1]}"
    if low:
        return f" {'≥' if low[0] == '[' else '>'} {low[1]}"
    if high:
        return f" {'≤' if high[1] == ']' else '<'} {high[0]}"
    return ""


def type_name(t: object, metadata: list = ()) -> str:
    """A readable type: `int ≥ 1`, `float in (0, 1] | null`, `list[str]`, `"tag" | "drop"`, a model's class name."""
    if typing.get_origin(t) is typing.Annotated:
        base, *extra = typing.get_args(t)
        return type_name(base, [*metadata, *extra])
    if t is type(None):
        return "null"
    if members := _union_members(t):  # null last, constraints go to the other members
        return " | ".join(type_name(m, metadata) for m in sorted(members, key=lambda m: m is type(None)))
    if values := _literal_values(t):
        return " | ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (list, dict):
        inner = f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]" if args else origin.__name__
        sizes = {k: getattr(m, k) for m in metadata for k in ("min_length", "max_length") if getattr(m, k, None) is not None}
        size = f", ≥ {sizes['min_length']} item{'s' * (sizes['min_length'] != 1)}" if "min_length" in sizes else ""
        return inner + size
    if t in (int, float):
        return t.__name__ + _bounds(metadata)
    if t is str:
        pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
        return f"str matching {pattern}" if pattern else "str"
    return getattr(t, "__name__", str(t))


def yaml_value(value: object) -> str:
    """A value as a YAML job file writes it: null, true, 0.9, [zh], {hk: tag}, '04:00:00'."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False)
    return text.removesuffix("...\n").strip()


def default_of(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    if info.is_required():
        return "required"
    return yaml_value(info.get_default(call_default_factory=True))


# -- walking the models ------------------------------------------------------------------------------------------
def nested_models(t: object) -> list[tuple[type[BaseModel], str]]:
    """The models a field's value holds, with the path suffix their keys take: `[]` for each item of a list, `.<name>`
    for each value of a mapping; one entry per member of a union of models."""
    if typing.get_origin(t) is typing.Annotated:
        return nested_models(typing.get_args(t)[0])
    if _is_model(t):
        return [(t, "")]
    if members := _union_members(t):
        return [found for m in members for found in nested_models(m)]
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is list and args:
        return [(m, "[]" + s) for m, s in nested_models(args[0])]
    if origin is dict and len(args) == 2:
        return [(m, ".<name>" + s) for m, s in nested_models(args[1])]
    return []


def variant_label(model: type[BaseModel]) -> str:
    """How a union's member is chosen: `kind: "wiki"` when the model fixes a Literal field to one value."""
    for name, info in model.model_fields.items():
        values = _literal_values(info.annotation)
        if len(values) == 1:
            return f"{name}: {yaml_value(values[0])}"
    return model.__name__


def _anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts if p) or "top"


def _intro(model: type[BaseModel]) -> str:
    doc = model_doc(model)
    kind = model.model_fields.get("kind")
    if kind and len(_literal_values(kind.annotation)) > 1:  # one model for every kind (not a union of one model per kind): say so, it is what a reader asks
        doc += (" " if doc else "") + ("Every key of this table is accepted whatever `kind` is (one model for all kinds); "
                                       "a description names the kinds a key is for.")
    return doc


def ordered_fields(model: type[BaseModel]) -> list[str]:
    """The keys a job file may give, the model's own first (a job's name before what every job file has), then those
    it inherits, nearest parent first; fields the loader sets are left out."""
    names = [n for n in model.model_fields if n not in LOADER_FIELDS]
    depth = {cls: i for i, cls in enumerate(model.__mro__)}
    return sorted(names, key=lambda n: depth.get(owner(model, n), 0))


def walk(model: type[BaseModel], job: str, path: str = "", label: str = "") -> list[Section]:
    """The section of `model` at `path`, followed by the sections of the models it nests, depth first."""
    section = Section(path, model, _anchor(job, path, label), _intro(model), label)
    below = []
    for name in ordered_fields(model):
        info = model.model_fields[name]
        key = f"{path}.{name}" if path else name
        nested = nested_models(info.annotation)
        description = field_description(model, name)
        if nested and not description and len(nested) == 1:
            description = first_sentence(model_doc(nested[0][0]))
        default = default_of(model, name)
        if default not in ("required", "null", "{}", "[]") and _is_model(info.annotation):
            description = (description + " " if description else "") + (
                f"Left out, it is `{default}`; a mapping given here starts from the defaults of the keys below.")
        row = Row(key, type_name(info.annotation, info.metadata), default, description)
        at_path = Counter(suffix for _, suffix in nested)
        for sub, suffix in nested:  # several models at one path: a union, each member its own section
            sub_sections = walk(sub, job, key + suffix, variant_label(sub) if at_path[suffix] > 1 else "")
            row.anchor = row.anchor or sub_sections[0].anchor
            below += sub_sections
        section.rows.append(row)
    return [section, *below]


# -- Markdown ----------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text for a table cell: `|` escaped, and `<` outside code spans (Markdown would read `<r>` as an HTML tag)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def _code(text: str) -> str:
    return f"`{text.replace('|', chr(92) + '|')}`"


def _table(rows: list[Row]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for r in rows:
        key = f"[{_code(r.key)}](#{r.anchor})" if r.anchor else _code(r.key)
        default = "*required*" if r.default == "required" else _code(r.default)
        lines.append(f"| {key} | {_code(r.type)} | {default} | {_cell(r.description)} |")
    return lines


def _heading(s: Section, job_title: str) -> str:
    if not s.path:
        return f"### {job_title}: top-level keys"
    return f"### `{s.path}`" + (f" with `{s.label}`" if s.label else "") + f" ({s.model.__name__})"


def model_files(sections: list[Section]) -> list[str]:
    """The files that define the sections' models and the models they inherit from, in the order first met."""
    models = [cls for s in sections for cls in s.model.__mro__ if issubclass(cls, BaseModel) and cls is not BaseModel]
    return list(dict.fromkeys(Path(inspect.getsourcefile(m)).resolve().relative_to(DOC.parents[1]).as_posix() for m in models))


@dataclass
class Reference:
    text: str  # the Markdown of docs/config.md
    keys: int  # table rows: every key of every job, a nested model's keys once per place it is used
    fields: set[str] = field(default_factory=set)  # distinct model fields, as Model.field
    undocumented: set[str] = field(default_factory=set)  # ... of them without a description


def render() -> Reference:
    sections = {anchor: walk(model, anchor) for anchor, _, _, model in JOBS}
    out = [
        "# Job config reference",
        "",
        f"Generated from the config models by `{COMMAND}`: do not edit it by hand (tests/test_config_reference.py "
        "fails when this file and the models differ). A key's description is the comment written beside its field in "
        f"the model ({', '.join(model_files([s for walked in sections.values() for s in walked]))}), a table's introduction the model's docstring; an empty "
        "description means the field has no comment yet.",
        "",
        "How to read a key: `a.b` is key `b` of the mapping `a`; `a[].b` is key `b` of each item of the list `a`; "
        "`a.<name>.b` is key `b` under any name you choose. A default of `{}` for a nested mapping means each of its keys "
        "takes its own default. Paths in a job file are relative to the job file's directory. An unknown key, a wrong "
        "type or a missing required key stops the command with exit code 2 and a message naming the file and the key.",
        "",
    ]
    out += [f"- [{title}](#{anchor}): `{command}` ({model.__name__})" for anchor, title, command, model in JOBS]
    ref = Reference("", 0)
    for anchor, title, command, model in JOBS:
        out += ["", f'<a id="{anchor}"></a>', "", f"## {title}: `{command}` ({model.__name__})", ""]
        for s in sections[anchor]:
            out += ([f'<a id="{s.anchor}"></a>', ""] if s.path else []) + [_heading(s, title), ""]
            if s.intro:
                out += [_cell(s.intro), ""]
            out += [*_table(s.rows), ""]
            ref.keys += len(s.rows)
            for r in s.rows:
                leaf = r.key.rsplit(".", 1)[-1]
                name = f"{owner(s.model, leaf).__name__}.{leaf}"
                ref.fields.add(name)
                if not r.description:
                    ref.undocumented.add(name)
    ref.text = "\n".join(out).rstrip("\n") + "\n"
    return ref


def check(path: Path = DOC) -> str | None:
    """None when `path` holds what the models give, else one line saying how it differs."""
    text = render().text
    if not path.is_file():
        return f"{path} is missing: run `{COMMAND}`"
    old = path.read_text(encoding="utf-8")
    if old == text:
        return None
    diff = [d for d in difflib.unified_diff(old.splitlines(), text.splitlines(), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    added, removed = sum(d[0] == "+" for d in diff), sum(d[0] == "-" for d in diff)
    first = diff[0] if diff else ""
    return (f"{path} is stale: {added} line(s) added, {removed} removed by the models (first: {first[:100]!r}); "
            f"run `{COMMAND}`")


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog=COMMAND, description="write docs/config.md from the job config models")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/config.md differs from what the models give")
    ap.add_argument("--output", type=Path, default=DOC)
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the keys that have no description")
    args = ap.parse_args(argv)
    if args.check:
        problem = check(args.output)
        print(problem or f"{args.output} is current", file=sys.stderr)
        return 1 if problem else 0
    ref = render()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(ref.text, encoding="utf-8")
    print(f"wrote {args.output}: {ref.keys} keys, {len(ref.fields)} distinct fields; {len(ref.undocumented)} fields "
          f"without a description (comment them in their model{'' if args.verbose else '; -v lists them'})",
          file=sys.stderr)
    if args.verbose:
        print("\n".join(f"  {k}" for k in sorted(ref.undocumented)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
