"""twcurate: curate Taiwan Traditional-Chinese text into CPT and SFT training releases."""

__version__ = "0.1.0"
