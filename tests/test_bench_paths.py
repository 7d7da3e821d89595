"""The benchmarks' one data-path helper: where the real sets are looked for, and the reason given when they are not."""

import pytest

from bench.common.paths import REPO, MissingRealData, real_data, real_root


def test_real_root_is_beside_the_checkout_unless_the_variable_points_elsewhere(tmp_path, monkeypatch):
    monkeypatch.delenv("TWCURATE_REAL_DATA", raising=False)
    assert real_root() == REPO.parent / "shared" / "data" / "real"
    assert (REPO / "bench" / "common" / "paths.py").is_file()
    # read when called: a shell or a test can point an already imported benchmark at another root
    monkeypatch.setenv("TWCURATE_REAL_DATA", str(tmp_path))
    assert real_root() == tmp_path


def test_real_data_returns_a_present_set_and_names_an_absent_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TWCURATE_REAL_DATA", str(tmp_path))
    (tmp_path / "cold").mkdir()
    (tmp_path / "cold" / "test.jsonl").write_text("{}\n", encoding="utf-8")
    assert real_data("cold", "test.jsonl") == tmp_path / "cold" / "test.jsonl"
    with pytest.raises(MissingRealData) as e:
        real_data("cold", "dev.jsonl")
    assert str(tmp_path / "cold" / "dev.jsonl") in str(e.value) and "TWCURATE_REAL_DATA" in str(e.value)
    # an explicit root (a script's --data-root) wins over the variable
    with pytest.raises(MissingRealData, match="elsewhere"):
        real_data("cold", root=tmp_path / "elsewhere")
