from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
DEMO = REPO / "examples" / "demo.yaml"


@pytest.fixture
def demo_job(tmp_path: Path) -> Path:
    """The demo job rewritten to read the bundled samples and write under tmp_path."""
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data["output"] = str(tmp_path / "out")
    job = tmp_path / "demo.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    return job


def write_job(tmp_path: Path, sources: list[dict], steps: dict | None = None, **extra) -> Path:
    # content filters off unless a test asks for them: reader/normalizer tests use short or English text
    off = {"enabled": False}
    all_steps = {"language": off, "script": off, "quality": off, "spam": off, "toxicity": off} | (steps or {})
    data = {"name": "t", "version": "0.1.0", "output": str(tmp_path / "out"), "sources": sources, "steps": all_steps, **extra}
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    return job


@pytest.fixture
def samples_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "samples"
    shutil.copytree(SAMPLES, dst)
    return dst
