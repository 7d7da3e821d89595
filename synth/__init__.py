"""LLM synthesis for SFT data (issue 7). Not built yet: nothing here is used by the CPT path."""
