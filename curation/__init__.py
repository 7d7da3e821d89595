"""twcurate: curate Taiwan Traditional-Chinese text into CPT and SFT training releases."""

from importlib.metadata import version

__version__ = version("twcurate")  # one source of truth: pyproject.toml
