#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (never a downloaded browser build).
# As root, install it with apt-get when missing; otherwise say what to install.
set -euo pipefail
BROWSER=${MAJLIS_CHROMIUM:-/usr/bin/chromium}
if [[ -x "$BROWSER" ]]; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing Chromium for the dashboard's browser tests ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Chromium is missing: install it (sudo apt-get install chromium) or set MAJLIS_CHROMIUM;" \
  "the dashboard's browser tests are skipped without it." >&2
