#!/usr/bin/env bash
# Set up chessformer on a fresh Debian/Ubuntu machine: Stockfish and polyglot from apt, then a
# virtual environment (.venv) with PyTorch and chessformer (built from this checkout) and its
# test tools. Re-running it is safe and rebuilds the package.
#
#   CHESSFORMER_TORCH   torch requirement to install first (default: torch==2.13.0; on a CUDA
#                       machine use e.g. CHESSFORMER_TORCH=torch to get the default CUDA build)
#   CHESSFORMER_EXTRAS  pip extras to install (default: dev = tests + ruff + mypy)
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
# torch first: asking pip for plain `torch` on a CPU machine may pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "${CHESSFORMER_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q ".[${CHESSFORMER_EXTRAS:-dev}]"
echo "setup: done. Activate with 'source .venv/bin/activate' or call .venv/bin/chessformer." >&2
