"""Labels that reference text under a data root (curation/labelrefs.py) and recipes that train on them."""

import csv
import io
import json
import zipfile

import pytest

from curation.classifier import LabeledSet, Recipe, load_recipe, read_set
from curation.errors import CurateError
from curation.labelrefs import read_labels, ref_text


@pytest.fixture()
def root(tmp_path):
    """A small data root in the shapes the Taiwan labels point into."""
    r = tmp_path / "real"
    (r / "msgs").mkdir(parents=True)
    (r / "msgs/m.jsonl").write_text("\n".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in
                                              [("a1", "加賴領飆股"), ("a2", "颱風假今天放嗎")]) + "\n", encoding="utf-8")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "text"])
    w.writerows([["x.md", "外送茶 LINE: tea88"], ["y.md", "正常留言"]])
    (r / "msgs/takedowns.csv").write_text(buf.getvalue(), encoding="utf-8")
    with zipfile.ZipFile(r / "msgs/replies.csv.zip", "w") as z:
        z.writestr("replies.csv", "id,type,text\nR9,RUMOR,這是詐騙，請勿點擊\n")
    (r / "msgs/g.json").write_text(json.dumps({"articles": [{"article_id": "M.1", "content": "本文", "messages": [
        {"push_content": "推一個"}, {"push_content": "低能"}]}]}, ensure_ascii=False), encoding="utf-8")
    return r


def test_each_kind_of_ref_resolves_to_its_text(root):
    assert ref_text("msgs/m.jsonl#a2", root) == "颱風假今天放嗎"
    assert ref_text("msgs/takedowns.csv#1", root) == "外送茶 LINE: tea88"  # 1-based data row
    assert ref_text("msgs/replies.csv.zip#R9", root) == "這是詐騙，請勿點擊"
    assert ref_text("msgs/g.json#M.1/push1", root) == "低能"
    assert ref_text("msgs/g.json#M.1", root) == "本文"


@pytest.mark.parametrize("ref,says", [("msgs/m.jsonl#zz", "no row 'zz'"), ("msgs/none.jsonl#a1", "not found"),
                                      ("msgs/m.jsonl", "expected <file>#<key>")])
def test_a_bad_ref_names_itself(root, ref, says):
    with pytest.raises(CurateError, match="ref") as e:
        ref_text(ref, root)
    assert says in str(e.value)


def test_unsure_rows_are_left_out_and_written_rows_keep_their_text(root, tmp_path):
    labels = tmp_path / "l.jsonl"
    labels.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"ref": "msgs/m.jsonl#a1", "spam": 1}, {"ref": "msgs/m.jsonl#a2", "spam": 0, "unsure": True},
        {"text": "不看聯徵 當日撥款", "spam": 1, "origin": "written"}]) + "\n", encoding="utf-8")
    rows = [rec for _, rec in read_labels(labels, root)]
    assert [(r["text"], r["spam"]) for r in rows] == [("加賴領飆股", 1), ("不看聯徵 當日撥款", 1)]
    assert len(list(read_labels(labels, root, skip_unsure=False))) == 3


def test_a_recipe_set_reads_a_labels_file_beside_the_recipe_with_its_own_label_field_and_repeat(root, tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels/l.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"ref": "msgs/m.jsonl#a1", "spam": 1, "abuse": 0, "origin": "real"},
        {"ref": "msgs/takedowns.csv#2", "spam": 0, "abuse": 1, "origin": "real"},
        {"text": "寫的一行", "spam": 0, "abuse": 0, "origin": "written"}]) + "\n", encoding="utf-8")
    recipe_path = tmp_path / "models" / "r.recipe.yaml"
    recipe_path.parent.mkdir()
    recipe_path.write_text("name: r\nsets:\n  - {path: tw, labels: ../labels/l.jsonl, label_field: abuse, part: train, "
                           "origins: [real], repeat: 3}\n", encoding="utf-8")
    recipe = load_recipe(recipe_path)
    got = read_set(recipe.sets[0], recipe, root)
    assert got["train"] == [("加賴領飆股", False), ("正常留言", True)]  # the abuse field, written rows left out
    assert recipe.sets[0].repeat == 3
    with pytest.raises(CurateError, match="labels file not found"):
        read_set(LabeledSet(path="x", labels="../labels/none.jsonl"), recipe, root)
    plain = Recipe(name="x", sets=[{"path": "a.jsonl"}]).sets[0]  # a set without a labels file reads its path
    assert (plain.labels, plain.label_field, plain.repeat, plain.origins) == (None, None, 1, None)


def test_a_csv_with_numeric_ids_is_keyed_by_id_not_by_row(tmp_path):
    (tmp_path / "c.csv").write_text("comment-id,comment-body\n5,A\n9,B\n1,C\n", encoding="utf-8")
    assert [ref_text(f"c.csv#{k}", tmp_path) for k in ("5", "1")] == ["A", "C"]
    with pytest.raises(CurateError, match="no row '3'"):
        ref_text("c.csv#3", tmp_path)


@pytest.mark.parametrize("bad", [b'{"ref": "msgs/m.jsonl#a1", "spam": 1\n', b'\xff\xfe not json\n', b'{"spam": 1}\n'])
def test_a_broken_labels_line_names_its_file_and_line(root, tmp_path, bad):
    labels = tmp_path / "l.jsonl"
    labels.write_bytes(b'{"ref": "msgs/m.jsonl#a1", "spam": 1}\n\n' + bad)
    with pytest.raises(CurateError, match=rf"{labels}:3"):
        list(read_labels(labels, root))
