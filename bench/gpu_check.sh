#!/usr/bin/env bash
# The one prepared call for a lent GPU machine (see DEVELOPERS.md and the device tool's README):
# build, kernel + engine tests on CUDA, the GPU benchmarks, training throughput, and (optionally)
# the bundled model's training run. Everything it measures lands in $OUT; commit what it prints
# to bench/results/ with the device name.
#
#   device run (carry: .whl [python-chess wheel], runs/data-gnu-move [for TRAIN_MINUTES]):
#     bash bench/gpu_check.sh                      # ~6 min: tests + benchmarks
#     TRAIN_MINUTES=6 bash bench/gpu_check.sh      # + train the default model for 6 minutes
#
# Prepare here first:  echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps
#   --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_17_x86_64
#   --platform manylinux2014_x86_64 -d .whl chess==1.11.2 zstandard
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log() { echo "== $* ($(date +%T))"; }

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/device.txt"

log build
python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -5 || exit 1

log "kernel and engine tests on CUDA"
python3 -m pytest -q -p no:cacheprovider tests/test_kernels.py tests/test_inference.py 2>&1 |
  tee "$OUT/tests.log" | tail -5

log "kernel benchmarks"
python3 bench/bench_kernels.py --json "$OUT/kernels.json" 2>&1 | tee "$OUT/kernels.txt" | tail -25

log "decode throughput (paper-50m, char vocabulary), KV cache vs no cache vs compile"
python3 -m chessformer bench inference --config paper-50m --tokenizer char --batch 1,64,256,1024 \
  --context 512 --steps 32 --baselines --json "$OUT/inference.json" 2>&1 | tee "$OUT/inference.txt"

log "training throughput (paper-50m, bf16, compile) on the committed char sample"
python3 -m chessformer train --data tests/data/sample_char --config paper-50m --out /tmp/run-mfu \
  --set max_steps=40 batch_size=32 grad_accum=1 log_interval=10 eval_interval=0 ckpt_interval=0 \
  2>&1 | tee "$OUT/train-mfu.txt" | tail -6

if [ "${TRAIN_MINUTES:-0}" -gt 0 ] && [ -f runs/data-gnu-move/manifest.json ]; then
  log "bundled-model training for ${TRAIN_MINUTES} min"
  steps=$((TRAIN_MINUTES * 600))
  timeout $((TRAIN_MINUTES * 60 + 60)) python3 -m chessformer train --data runs/data-gnu-move \
    --config small --out /tmp/run-default --set model.block_size=256 model.n_layer=8 \
    model.n_embd=384 model.n_head=6 pack=games batch_size=64 grad_accum=1 lr=1e-3 min_lr=1e-4 \
    warmup_steps=200 "max_steps=$steps" eval_interval=500 ckpt_interval=500 keep_last=1 \
    2>&1 | tee "$OUT/train-default.txt" | tail -5
  python3 -m chessformer convert --to-nanogpt /tmp/run-default --out "$OUT/default-nanogpt.pt" || true
  tar -C /tmp -czf "$OUT/run-default.tgz" run-default
fi
log done
