"""The CPT filter steps, each declared once, in pipeline order: its name (the `steps.<name>` key of a job file, the
step's name in stats, rejects and the manifest), its config model, the class that runs it, what else the class is
given, and which config keys name files that must exist before any work starts. The job config (`StepsConfig`),
pipeline assembly, `curate annotate`, `curate plan`, the load-time file checks and the generated config reference all
read this list: adding a filter is one module in filters/, one entry here, and its tests."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import create_model

from filters.config import (
    CleaningConfig,
    DecontaminationConfig,
    DedupConfig,
    DomainListConfig,
    LanguageConfig,
    NormalizeConfig,
    PiiConfig,
    QualityConfig,
    QualityModelConfig,
    ScriptConfig,
    SpamConfig,
    Strict,
    ToxicityConfig,
)

Resolve = Callable[[str | None], Path | None]  # a config path resolved against the job file (None stays None)


@dataclass(frozen=True)
class StepSpec:
    name: str
    config: type[Strict]
    # "module:Class" of the PipelineStep, imported only when a pipeline is built (the models load in the workers);
    # None for dedup, which runs as stages of its own after the filters
    step: str | None
    # the other arguments the class takes, from the job's whole `steps` config and the path resolver
    extra: Callable[[Any, Resolve], dict] = lambda steps, path: {}
    # config keys naming files that must exist when set (checked when the job is loaded, before any work)
    files: tuple[str, ...] = field(default=())

    def build(self, steps: Any, path: Resolve, **kwargs):
        module, _, cls = self.step.partition(":")
        return getattr(importlib.import_module(module), cls)(getattr(steps, self.name), **self.extra(steps, path), **kwargs)


def _decontaminate_files(steps, path: Resolve) -> dict:
    from filters.decontamination import SHIPPED_INDEX

    d = steps.decontaminate
    return {"index_paths": [SHIPPED_INDEX if p == "shipped" else path(p) for p in d.indexes],
            "eval_files": {name: path(p) for name, p in d.eval_files.items()}}


STEPS: tuple[StepSpec, ...] = (
    StepSpec("normalize", NormalizeConfig, "filters.normalize:TextNormalizer"),
    # PII right after normalizing, so no later step's reject file holds the original values
    StepSpec("pii", PiiConfig, "filters.pii:PiiRedactor"),
    # by the document's URL alone, so before any step reads the text (after PII: its rejects hold no original values)
    StepSpec("domains", DomainListConfig, "filters.domains:DomainListFilter", lambda s, path: {"lists_dir": path(s.domains.lists_dir)}),
    # lines that are not the author's (quotes, templates, a copied Simplified line) go before any document rule
    StepSpec("clean", CleaningConfig, "filters.cleaning:LineCleaner", lambda s, path: {"script": s.script}),
    StepSpec("language", LanguageConfig, "filters.language:LanguageFilter", lambda s, path: {"model_path": path(s.language.model_path)},
             files=("model_path",)),
    StepSpec("script", ScriptConfig, "filters.script:ScriptFilter",
             lambda s, path: {"region_model_path": path(s.script.region_model_path)}, files=("region_model_path",)),
    StepSpec("quality", QualityConfig, "filters.quality:QualityFilter"),
    StepSpec("quality_model", QualityModelConfig, "filters.quality_model:QualityModelScore",
             lambda s, path: {"model_path": path(s.quality_model.model_path)}, files=("model_path",)),
    StepSpec("spam", SpamConfig, "filters.spam:SpamFilter",
             lambda s, path: {"lexicon_path": path(s.spam.lexicon), "model_path": path(s.spam.model_path)}, files=("lexicon", "model_path")),
    StepSpec("toxicity", ToxicityConfig, "filters.toxicity:ToxicityFilter",
             lambda s, path: {"lexicon_path": path(s.toxicity.lexicon), "model_path": path(s.toxicity.model_path)},
             files=("lexicon", "model_path")),
    StepSpec("decontaminate", DecontaminationConfig, "filters.decontamination:Decontaminator", _decontaminate_files),
    StepSpec("dedup", DedupConfig, None),
)

def steps_config(specs: tuple[StepSpec, ...]) -> type[Strict]:
    """The `steps:` model of a job file for these specs: one key per step, each with its config model's defaults."""
    return create_model("StepsConfig", __base__=Strict, __doc__="One key per filter step (curation/steps.py), in pipeline order.",
                        **{s.name: (s.config, s.config()) for s in specs})


def build_filter_steps(steps, path: Resolve, specs: tuple[StepSpec, ...], writer_for=None, label_only: bool = False) -> list[tuple[str, Any]]:
    """The enabled filter steps of a `steps:` config in registry order, built; `writer_for(name)` gives a step its
    exclusion writer (none when labelling only)."""
    out = []
    for spec in specs:
        if spec.step is None or not getattr(steps, spec.name).enabled:
            continue
        kwargs = {"label_only": label_only}
        if writer_for is not None and not label_only:
            kwargs["exclusion_writer"] = writer_for(spec.name)
        out.append((spec.name, spec.build(steps, path, **kwargs)))
    return out


StepsConfig = steps_config(STEPS)
