#!/usr/bin/env bash
# node_modules from package-lock.json (osls for packaging; onnxruntime-web and the tokenizers library
# for the web page's edge mode). Skips when node_modules already matches the lock file; npm's download
# cache lives under ~/.cache/serverless-nlp (keyed by the lock file's contents, like every cache here).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v npm >/dev/null || { echo "error: npm not found (apt-get install nodejs npm)" >&2; exit 2; }
export npm_config_cache="${SNLP_CACHE_DIR:-$HOME/.cache/serverless-nlp}/npm"
LOCK_KEY=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.snlp-lock-key 2>/dev/null)" != "$LOCK_KEY" ]; then
  npm ci --no-audit --no-fund --prefer-offline
  echo "$LOCK_KEY" > node_modules/.snlp-lock-key
fi
