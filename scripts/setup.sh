#!/usr/bin/env bash
# Set up chessformer on a fresh Debian/Ubuntu machine: Stockfish and polyglot from apt, then a
# virtual environment (.venv) with PyTorch and chessformer (built from this checkout) and its
# test tools. Re-running it is safe and rebuilds the package.
#
#   CHESSFORMER_GPU     1: set up for CUDA (PyPI's CUDA build of torch, with Triton); 0: for the
#                       CPU (the CPU build of torch, ~0.2 GB, from download.pytorch.org; no Triton).
#                       Default: 1 when nvidia-smi lists a GPU.
#   CHESSFORMER_TORCH   torch requirement to install first (default: torch==2.13.0)
#   CHESSFORMER_EXTRAS  pip extras to install (default: dev = tests + ruff + mypy, plus triton on
#                       a GPU; add ",triton" on a CPU to run the Triton kernel tests in Triton's
#                       interpreter, ",tensorboard" for TensorBoard logs of training)
#   CHESSFORMER_CLANG   0: build with the default compiler. Otherwise the C++ core is built by clang++
#                       18 or newer (clang-19 is installed from apt where apt has it), whose build
#                       of the PGN replay runs 5-8% faster than GCC 12's; a CXX you set wins.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
need_apt=()
command -v stockfish >/dev/null 2>&1 || [ -x /usr/games/stockfish ] || need_apt+=(stockfish)
command -v polyglot >/dev/null 2>&1 || [ -x /usr/games/polyglot ] || need_apt+=(polyglot)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
find_clang() {
  local v
  for v in 22 21 20 19 18; do
    if command -v "clang++-$v" >/dev/null 2>&1; then
      command -v "clang++-$v"
      return 0
    fi
  done
  return 1
}
# clang is optional: asked of apt only where that needs no password (root, or sudo -n works)
want_clang=0
if [ "${CHESSFORMER_CLANG:-1}" != 0 ] && [ -z "${CXX:-}" ] && ! find_clang >/dev/null \
  && command -v apt-get >/dev/null 2>&1 \
  && { [ "$(id -u)" -eq 0 ] || sudo -n true >/dev/null 2>&1; }; then
  want_clang=1
fi
apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
updated=0
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}" >&2
  "${apt[@]}" update -qq
  updated=1
  "${apt[@]}" install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ $want_clang = 1 ]; then
  echo "setup: apt-get install clang-19 (optional: a faster build of the C++ core)" >&2
  if ! { { [ $updated = 1 ] || "${apt[@]}" update -qq >/dev/null 2>&1; } \
    && "${apt[@]}" install -y -qq clang-19 >/dev/null 2>&1; }; then
    echo "setup: clang-19 is not available here; building with the default compiler" >&2
  fi
fi
if [ "${CHESSFORMER_CLANG:-1}" != 0 ] && [ -z "${CXX:-}" ] && clang=$(find_clang); then
  export CXX=$clang
  echo "setup: building the C++ core with $CXX" >&2
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
gpu=${CHESSFORMER_GPU:-}
if [ -z "$gpu" ]; then
  gpu=0
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then gpu=1; fi
fi
# torch first. On Linux, PyPI's torch is the CUDA build: ~3 GB of CUDA libraries and ~1 GB of
# Triton that a CPU cannot use. On a CPU, the CPU build comes from PyTorch's own index.
torch_req=${CHESSFORMER_TORCH:-torch==2.13.0}
torch_index=()
cpu_index=https://download.pytorch.org/whl/cpu
if [ "$gpu" = 1 ]; then
  echo "setup: a GPU: the CUDA build of PyTorch, and Triton" >&2
elif .venv/bin/python -c "import urllib.request as u; u.urlopen('$cpu_index/', timeout=10)" \
  >/dev/null 2>&1; then
  echo "setup: no GPU: the CPU build of PyTorch (CHESSFORMER_GPU=1 for CUDA)" >&2
  torch_index=(--extra-index-url "$cpu_index")
else
  echo "setup: no GPU, and $cpu_index cannot be reached: torch from pip's configured" \
    "index (on Linux, PyPI's is the CUDA build, several GB)" >&2
fi
.venv/bin/python -m pip install -q "${torch_index[@]}" "$torch_req"
extras=${CHESSFORMER_EXTRAS:-dev}
if [ "$gpu" = 1 ] && [ -z "${CHESSFORMER_EXTRAS:-}" ]; then extras=dev,triton; fi
.venv/bin/python -m pip install -q ".[$extras]"
echo "setup: done. Activate with 'source .venv/bin/activate' or call .venv/bin/chessformer." >&2
