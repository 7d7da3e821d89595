"""SFT synthesis: the LLM client (client.py), tasks and their prompts (tasks.py, prompts/), quality gates (gates.py),
the bundled local llama.cpp server (local_server.py) and the `curate synth` runner (run.py)."""
