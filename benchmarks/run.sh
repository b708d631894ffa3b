#!/usr/bin/env bash
# `make bench`: a separate env with the peer (kedro-boot), then every benchmark row.
# Writes benchmarks/RESULTS.md. Bounded: every loop stops at a count or a time limit.
set -euo pipefail
export KEDRO_DISABLE_TELEMETRY=true
export PYTHONDONTWRITEBYTECODE=1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/benchmarks/.venv"
STAMP="$VENV/.installed-stamp"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

# kedro-boot 0.3.0 (the peer) and the profilers live only in this env, never in .venv.
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" || "$0" -nt "$STAMP" ]]; then
  echo "[bench] creating/refreshing $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test]' 'kedro-boot==0.3.0' pyinstrument py-spy \
    'fastapi==0.165.0' 'uvicorn==0.54.0'
  touch "$STAMP"
fi
"$VENV/bin/python" -m pip check >&2 || echo "[bench] pip check reports conflicts (above)" >&2

exec "$VENV/bin/python" -m benchmarks.main "$@"
