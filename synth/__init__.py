"""SFT synthesis parts: the LLM client (client.py), tasks and their prompts (tasks.py, prompts/), quality gates
(gates.py), the bundled local llama.cpp server (local_server.py) and their config models (config.py). The jobs that
assemble them into releases, `curate synth` and `curate label-quality`, are curation/synth_job.py and
curation/label_quality.py."""
