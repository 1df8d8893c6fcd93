#!/usr/bin/env bash
# Install what the project needs into .venv/ from the committed lock (uv.lock): reproducible, no surprises.
# Sourced by scripts/demo and scripts/test; safe to run again (a no-op when everything is in place).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv with pip..." >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv >&2
  export PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
fi
uv sync --quiet --frozen --all-extras --python "$PYTHON"
# The browser test (scripts/test) drives Debian's Chromium: install it when missing and we may (root, apt).
# Never fail setup over it: without it the browser test fails and says how to install it.
install_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: chromium is missing (apt-get install chromium); the browser test will fail" >&2
    return 0
  fi
  echo "installing chromium with apt-get (browser test)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null 2>&1 \
    || echo "warning: could not install chromium; the browser test will fail" >&2
}
if [ "${SETUP_BROWSER:-0}" = 1 ]; then install_chromium; fi
# The second test environment: the lowest Airflow we support (constraints/airflow-lowest.txt, resolved by
# uv pip compile), the package itself installed editable. uv's cache makes a re-run take a few seconds.
install_lowest_airflow() {
  local venv=.venv-airflow-lowest
  [ -x "$venv/bin/python" ] || uv venv --quiet "$venv" --python "$PYTHON"
  uv pip sync --quiet --python "$venv/bin/python" constraints/airflow-lowest.txt
  uv pip install --quiet --no-deps --python "$venv/bin/python" -e .
}
if [ "${SETUP_LOWEST_AIRFLOW:-0}" = 1 ]; then install_lowest_airflow; fi
export PATH="$PWD/.venv/bin:$PATH"
