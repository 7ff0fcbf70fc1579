#!/usr/bin/env bash
# Set up chessformer on a fresh Debian/Ubuntu machine: Stockfish and polyglot from apt, then a
# virtual environment (.venv) with PyTorch and chessformer (built from this checkout) and its
# test tools. Re-running it is safe and rebuilds the package.
#
#   CHESSFORMER_TORCH   torch requirement to install first (default: torch==2.13.0; on a CUDA
#                       machine use e.g. CHESSFORMER_TORCH=torch to get the default CUDA build)
#   CHESSFORMER_EXTRAS  pip extras to install (default: dev = tests + ruff + mypy)
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
need_apt=()
command -v stockfish >/dev/null 2>&1 || [ -x /usr/games/stockfish ] || need_apt+=(stockfish)
command -v polyglot >/dev/null 2>&1 || [ -x /usr/games/polyglot ] || need_apt+=(polyglot)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}" >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# torch first: asking pip for plain `torch` on a CPU machine may pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "${CHESSFORMER_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q ".[${CHESSFORMER_EXTRAS:-dev}]"
echo "setup: done. Activate with 'source .venv/bin/activate' or call .venv/bin/chessformer." >&2
