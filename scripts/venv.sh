#!/usr/bin/env bash
# The project's Python environment, .venv (git-ignored): made from
# `python3 -m venv`, so it works where the system Python refuses `pip
# install` (Debian 12, Raspberry Pi OS Bookworm: PEP 668,
# "externally-managed-environment"). Packages are installed again only
# when the requirement files change.
#
#   scripts/venv.sh          # light: numpy, pytest, onnx, onnxruntime (scripts/requirements-ci.txt)
#   scripts/venv.sh --full   # also torch, diffusers, transformers, open_clip's tokenizer
#                            # (scripts/requirements.txt + requirements-nodeps.txt; ~5.5 GB)
#   . .venv/bin/activate     # then the README's `python3 -m scripts.…` commands run in it
#
# PYTHON=/usr/bin/python3 picks the interpreter the venv is made from
# (default: python3); VENV=DIR another folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
files=(scripts/requirements-ci.txt)
case "${1:-}" in
  "") ;;
  --full) files+=(scripts/requirements.txt scripts/requirements-nodeps.txt) ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "error: unknown option $1" >&2; exit 2 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
    echo "error: $PYTHON cannot make a virtual environment; on Debian / Raspberry Pi OS: sudo apt install python3-venv" >&2
    exit 1
  fi
  echo "making the Python environment $VENV (from $("$PYTHON" -c 'import sys; print(sys.executable)'))" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.edgepaint-requirements"
want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
# A light install after a full one is still complete: keep the full stamp.
if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
  exit 0
fi
pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
echo "installing ${files[*]} into $VENV" >&2
"${pip[@]}" -r scripts/requirements-ci.txt
if [ "${#files[@]}" -gt 1 ]; then
  "${pip[@]}" -r scripts/requirements.txt
  "${pip[@]}" --no-deps -r scripts/requirements-nodeps.txt
  # The full set also covers the light one.
  ci=$(sha256sum < scripts/requirements-ci.txt | cut -d' ' -f1)
  printf '%s\n%s\n' "$want" "$ci" > "$stamp"
else
  echo "$want" >> "$stamp"
fi
