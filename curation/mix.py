"""`curate mix`: build a token-budget mixture of releases and publish it like a release (write, then rename)."""

from __future__ import annotations

from pathlib import Path

from curation import __version__
from curation.config import MixConfig
from curation.errors import CurateError, UsageError
from curation.release import ReleaseLayout, resolve_version
from manifests.mixture import MIXTURE_NAME, MixSpecError, Share, build_mixture, write_mixture
from manifests.writer import now_utc


def run_mix(mix: MixConfig, force: bool = False) -> Path:
    version = resolve_version(mix.output_dir, mix.name, mix.version, marker=MIXTURE_NAME)
    layout = ReleaseLayout(mix.output_dir, mix.name, version)
    layout.prepare(force=force)
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
    return layout.publish()
