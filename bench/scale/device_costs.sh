#!/usr/bin/env bash
# Issue 40's one-core comparison on a lent 16-core machine: the whole scale job on this tree and on older commits, every
# run at once on a CPU of its own (bench/scale/costs.py --parallel), so each pair is measured side by side on an idle
# machine. What travels, git-ignored under bench/out/device-cost/: the project's wheels for the machine's Python 3.12
# (the list in bench/scale/device.sh, fetched with `pip download --no-deps --only-binary=:all: --python-version 3.12
# --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
# --platform any -d bench/out/device-cost/whl NAME==VERSION ...`; numpy and pyarrow are the machine's own), the older
# trees as `git archive` tarballs without filters/models (the same model files: copied from this tree there); the
# corpus pool is bench/data/scale_pool.json.zst (git-ignored, carried beside the wheels: see bench/scale/device.sh).
#   here:  bash bench/scale/device_costs.sh pack b52eacf d6769dd
#   there: bash bench/scale/device_costs.sh run          (DOCS=50000 ROUNDS=2; writes costs.log and results.json to $OUT)
set -euo pipefail
D=bench/out/device-cost
case "$1" in
pack)
  shift
  mkdir -p $D/whl
  rm -f $D/tree-*.tar.gz
  for rev in "$@"; do
    git archive --format=tar.gz -o "$D/tree-$rev.tar.gz" "$rev" -- curation filters manifests synth pyproject.toml ':(exclude)filters/models'
  done
  du -sh $D
  ;;
run)
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
  OUT=${OUT:-/tmp/out}
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $D/whl/*.whl
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml); mkdir -p /tmp/site/twcurate-$v.dist-info
  printf 'Metadata-Version: 2.1\nName: twcurate\nVersion: %s\n' "$v" > /tmp/site/twcurate-$v.dist-info/METADATA
  python3 -c "import sys, os, numpy, pyarrow; print(sys.version.split()[0], numpy.__version__, pyarrow.__version__, os.cpu_count(), 'CPUs')"
  trees=()
  for t in $D/tree-*.tar.gz; do
    rev=$(basename "$t" .tar.gz); rev=${rev#tree-}
    mkdir -p /tmp/trees/$rev && tar xzf "$t" -C /tmp/trees/$rev && cp -r filters/models /tmp/trees/$rev/filters/
    trees+=(--tree "base $rev=/tmp/trees/$rev")
  done
  python3 -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/scale --docs ${DOCS:-50000} --files 64 --procs 16
  python3 -m bench.scale.costs /tmp/scale "${trees[@]}" --tasks 64 --rounds ${ROUNDS:-2} --parallel --out /tmp/costs | tee $OUT/costs.log
  cp /tmp/costs/results.json $OUT/
  ;;
esac
