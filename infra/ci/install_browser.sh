#!/usr/bin/env bash
# Install Debian's Chromium + chromedriver for the browser tests (tests/e2e/).
# Idempotent: does nothing when /usr/bin/chromium is already there.
# Test-tool browser downloads (`playwright install`) fail on these machines: never use them.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: need root (or sudo) to apt-get install chromium" >&2; exit 2; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
