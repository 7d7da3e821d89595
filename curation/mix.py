"""`curate mix`: build a token-budget mixture of releases and publish it like a release (write, then rename)."""

from __future__ import annotations

from pathlib import Path

from curation import __version__
from curation.config import MixConfig
from curation.errors import CurateError, UsageError
from curation.release import ReleaseBuild
from manifests import storage
from manifests.mixture import MIXTURE_NAME, MixSpecError, Share, build_mixture, write_mixture
from manifests.writer import now_utc


def run_mix(mix: MixConfig, force: bool = False) -> Path:
    """Build and publish the mixture under every release's rules (ReleaseBuild: lock, work folder, publish)."""
    # a mixture records its components' paths relative to its own folder, which an upload from the staging folder
    # would get wrong: mixtures are built on local disk (load_mix says the same of a release URL)
    if storage.is_url(mix.output):
        raise UsageError(f"output: {mix.output}: curate mix writes local mixtures of local releases; mix into a folder "
                         f"(copy releases down first: aws s3 cp --recursive s3://... DIR)")
    with ReleaseBuild(mix.output_dir, mix.name, mix.version, force=force, marker=MIXTURE_NAME) as build:
        build.prepare()
        return build_mixture_release(mix, build)


def build_mixture_release(mix: MixConfig, build: ReleaseBuild) -> Path:
    layout, version = build.layout, build.version
    releases = []
    for rel in mix.releases:
        share = Share(epochs=rel.epochs, tokens=rel.tokens, weight=rel.weight, max_tokens=rel.max_tokens)
        releases.append((mix.resolve(rel.path), rel.content_hash, share, rel.sources))
    try:
        # shares are computed against the final place, where the mixture will live
        mixture = build_mixture(releases, layout.final, name=mix.name, version=version, seed=mix.seed,
                                total_tokens=mix.total_tokens, config=mix.as_dict(), created=now_utc(), tool_version=__version__)
    except MixSpecError as e:
        raise UsageError(str(e)) from None
    except ValueError as e:  # a release changed, unverifiable or counted otherwise
        raise CurateError(str(e)) from None
    write_mixture(layout.staging, mixture)
    return build.publish()
