#!/usr/bin/env bash
# The one prepared call for a GPU machine:
# build; train the bundled default model in the background (TRAIN_SECONDS > 0, needs the carried
# runs/data-gnu-move); the kernel and engine tests on CUDA meanwhile; then the GPU benchmarks.
# Everything lands in $OUT; commit what it prints to bench/results/ with the device name.
#
#   device run, carry [runs/data-gnu-move]:  TRAIN_SECONDS=170 bash bench/gpu_check.sh
#   paper-50m MFU only (build + ~2 min):  ONLY_MFU=1 bash bench/gpu_check.sh   (SKIP_MFU=1: skip it)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}  # what comes back: logs, metrics, the trained default model
SCRATCH=${SCRATCH:-$(mktemp -d)}  # run folders and data copies
mkdir -p "$OUT" "$SCRATCH"
export PYTHONUNBUFFERED=1
T0=$SECONDS
log() { echo "== [$((SECONDS - T0))s] $*"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
log build
python3 -m pip install -q --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || {
  tail -30 "$OUT/build.log"; exit 1; }

TRAIN_PID=
if [ "${TRAIN_SECONDS:-0}" -gt 0 ] && [ -f runs/data-gnu-move/manifest.json ]; then
  log "train the default model for at most ${TRAIN_SECONDS}s (background)"
  timeout "$TRAIN_SECONDS" python3 -m chessformer train --data runs/data-gnu-move --config small \
    --out "$SCRATCH/run-default" --device cuda --set model.block_size=256 model.n_layer=6 \
    model.n_embd=320 model.n_head=5 model.dropout=0.1 pack=games batch_size=128 grad_accum=1 \
    lr=1e-3 min_lr=1e-4 warmup_steps=200 max_steps="${TRAIN_STEPS:-3000}" compile=false \
    eval_interval=500 eval_batches=20 ckpt_interval=500 keep_last=1 log_interval=100 \
    >"$OUT/train-default.log" 2>&1 &
  TRAIN_PID=$!
fi

if [ -z "${ONLY_MFU:-}" ]; then
log "kernel tests on CUDA"
timeout 150 python3 -m pytest -q -p no:cacheprovider --noconftest tests/test_kernels.py tests/test_inference.py 2>&1 | tail -4
fi

if [ -n "$TRAIN_PID" ]; then
  wait "$TRAIN_PID"
  log "training ended (exit $?)"
  tr '\r' '\n' <"$OUT/train-default.log" | grep -E "^\[|val|step" | tail -4
  python3 - "$OUT" "$SCRATCH/run-default" <<'PY'
import json, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from chessformer.model.checkpoint import load_checkpoint
out = Path(sys.argv[1])
ck = load_checkpoint(sys.argv[2])
model = ck.load_model()
state = {k: v.to(torch.float16).contiguous() for k, v in model.state_dict().items()
         if k != "lm_head.weight"}
save_file(state, str(out / "default-model-fp16.safetensors"))
(out / "default-config.json").write_text((ck.path / "config.json").read_text())
metrics = Path(sys.argv[2]) / "metrics.jsonl"
if metrics.exists():
    (out / "default-metrics.jsonl").write_text(metrics.read_text())
print("saved step", ck.step, sum(v.numel() for v in state.values()), "params")
PY
fi

[ -n "${SKIP_BENCH:-}" ] && { log done; exit 0; }
if [ -z "${SKIP_MFU:-}" ]; then
  # paper-50m as the paper trains it (bf16, compile, 32 x 4 x 1024 chars/step) on the committed
  # char sample, val split left out (no eval recompile); the first 10-step interval holds the
  # compile, MFU is read from the later ones. ~1-2 min.
  log "MFU: paper-50m, ${MFU_STEPS:-40} steps, bf16 + compile"
  rm -rf "$SCRATCH/mfu-data" "$SCRATCH/run-mfu" && mkdir -p "$SCRATCH/mfu-data"
  cp -r tests/data/sample_char/train "$SCRATCH/mfu-data/"
  python3 -c "import json, sys; m = json.load(open('tests/data/sample_char/manifest.json')); m['splits'].pop('val'); json.dump(m, open(sys.argv[1], 'w'))" "$SCRATCH/mfu-data/manifest.json"
  timeout 300 python3 -m chessformer train --data "$SCRATCH/mfu-data" --config paper-50m --out "$SCRATCH/run-mfu" \
    --device cuda --set max_steps="${MFU_STEPS:-40}" log_interval=10 ckpt_interval=0 keep_last=1 \
    compile=true >"$OUT/train-mfu-paper50m.log" 2>&1
  echo "exit $?"; tr '\r' '\n' <"$OUT/train-mfu-paper50m.log" | grep -E "^chessformer train|^\[" | tail -3
  cp "$SCRATCH/run-mfu/metrics.jsonl" "$OUT/mfu-paper50m-metrics.jsonl" 2>/dev/null
  python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
p = Path(sys.argv[1]) / "mfu-paper50m-metrics.jsonl"
recs = [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []
recs = [r for r in recs if r.get("kind") == "train" and r["step"] > 10]  # past the compile
if recs:
    mean = lambda k: sum(r[k] for r in recs) / len(recs)
    print(f"paper-50m after compile: mfu {100 * mean('mfu'):.1f}% (best {100 * max(r['mfu'] for r in recs):.1f}%), "
          f"{mean('tok_per_s') / 1e3:.0f}k tok/s, {mean('step_ms'):.0f} ms/step, "
          f"data {100 * mean('data_ms') / mean('step_ms'):.2f}% of the step, packing {mean('pack_ms'):.1f} ms/step")
PY
fi
[ -n "${ONLY_MFU:-}" ] && { log done; exit 0; }

log "kernel benchmarks"
timeout 60 python3 bench/bench_kernels.py --quick --json "$OUT/kernels.json" 2>&1 | tail -22
log "decode throughput: paper-50m, char vocabulary; KV cache vs no cache vs compile"
timeout 60 python3 -m chessformer bench inference --config paper-50m --tokenizer char \
  --batch 1,64,256 --context 512 --steps 16 --baselines --json "$OUT/inference.json" 2>&1 | tail -12
log done
