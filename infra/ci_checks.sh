#!/usr/bin/env bash
# Deployment checks for CI, run after the tests (issue 5). Idempotent; installs what it needs;
# caches under ~/.cache/serverless-nlp keyed by inputs; exits non-zero on the first failure.
#   1. npm ci (osls pinned in package-lock.json)
#   2. tools venv with cfn-lint + checkov (separate from .venv: checkov's pins clash)
#   3. layers for x86_64 and arm64 (plain and stripped sizes), python3.12 import + model run
#   4. make-package equivalent for $STAGE: config check, layers, `osls package` offline against
#      a local moto_server (the CloudFormation DescribeStacks that a `layers:` section triggers)
#   5. cfn-lint (no errors) and checkov --skip-download (no failed checks) on the packaged template
#   6. smoke deployment of the packaged template to moto CloudFormation
# Env: STAGE (prod), PY (.venv/bin/python), MODELS_FROM (dist if built, else none), SNLP_CACHE_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE=${STAGE:-prod}
PY=${PY:-.venv/bin/python}
CACHE=${SNLP_CACHE_DIR:-$HOME/.cache/serverless-nlp}
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
PY312_VERSION=3.12.1
TEMPLATE=.serverless/cloudformation-template-update-stack.json
T0=$SECONDS
step() { echo; echo "== [$((SECONDS - T0)) s] $*"; }
fail() { echo "ci_checks: FAILED: $*" >&2; exit 1; }
mkdir -p "$CACHE"
[ -x "$PY" ] || fail "$PY not found (run make venv first)"

step "npm ci (osls from package-lock.json)"
SNLP_CACHE_DIR="$CACHE" bash infra/ci/npm_ci.sh
npx --no-install osls --version

step "tools venv (cfn-lint $CFN_LINT_VERSION, checkov $CHECKOV_VERSION)"
TOOLS="$CACHE/tools-venv-cfnlint$CFN_LINT_VERSION-checkov$CHECKOV_VERSION"
if [ ! -f "$TOOLS/.ok" ]; then
  rm -rf "$TOOLS"
  python3.11 -m venv "$TOOLS" 2>/dev/null || "$PY" -m venv --without-pip "$TOOLS"
  [ -x "$TOOLS/bin/pip" ] || "$TOOLS/bin/python" -m ensurepip -q
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION"
  touch "$TOOLS/.ok"
fi

step "python3.12 for the layer import check"
PY312=$(ls "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | head -1 || true)
if [ -z "$PY312" ] && command -v python3.12 >/dev/null && python3.12 -c pass 2>/dev/null; then PY312=$(command -v python3.12); fi
if [ -z "$PY312" ]; then
  command -v pyenv >/dev/null || fail "python3.12 missing and no pyenv to install it"
  pyenv install -s "$PY312_VERSION"
  PY312="$(pyenv root)/versions/$PY312_VERSION/bin/python3.12"
fi
"$PY312" --version
export SNLP_PY312="$PY312"   # layers/build.py byte-compiles the layers with it

step "layers: x86_64 + arm64, plain and stripped (cached in $CACHE/layers)"
"$PY" layers/build.py --plain --layer runtime
"$PY" layers/build.py
"$PY" - <<'EOF'
import json
from infra.config import load_config
from infra.package import check_sizes
cfg = load_config()
sizes = json.load(open("layers/build/sizes.json"))
for arch in ("x86_64", "arm64"):
    plain = sizes[f"runtime-{arch}-plain"]["unzipped_mb"]
    parts = {"runtime": sizes[f"runtime-{arch}"]["unzipped_mb"], "aws": sizes[f"aws-{arch}"]["unzipped_mb"]}
    print(f"{arch}: runtime layer plain {plain} MB -> stripped {parts['runtime']} MB; "
          + check_sizes(parts, cfg.deploy_unzipped_max_mb, cfg.layer_goal_mb if arch == "x86_64" else None))
x86 = sizes["runtime-x86_64"]["unzipped_mb"]
assert x86 <= cfg.layer_goal_mb, f"x86_64 runtime layer {x86} MB is over the {cfg.layer_goal_mb} MB goal"
EOF
"$PY" -m infra.layer_check --python "$PY312"

step "moto_server for CloudFormation"
PORT=$("$PY" -c "from infra.local.moto import free_port; print(free_port())")
MOTO_LOG=$(mktemp)
"$(dirname "$PY")/moto_server" -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -f "$MOTO_LOG"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || fail "moto_server exited: $(cat "$MOTO_LOG")"
  sleep 0.2
done
export AWS_ENDPOINT_URL_CLOUDFORMATION="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off
unset AWS_PROFILE AWS_SESSION_TOKEN

export SNLP_PYTHON="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"   # for serverless.yml's config check
step "package stage $STAGE (config check, layers, osls package, 250 MB check)"
if [ -z "${MODELS_FROM:-}" ]; then
  if [ -d model_artifacts/dist ]; then MODELS_FROM=dist
  else MODELS_FROM=none; echo "note: model_artifacts/dist missing (make models not run): preload aliases not checked"; fi
fi
"$PY" -m infra.package --stage "$STAGE" --models-from "$MODELS_FROM"

step "cfn-lint (errors fail; warnings listed)"
set +e
"$TOOLS/bin/cfn-lint" "$TEMPLATE"
rc=$?
set -e
# cfn-lint exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational
(( rc & 2 )) && fail "cfn-lint found errors"
(( rc & ~14 )) && fail "cfn-lint crashed (exit $rc)"
echo "cfn-lint: no errors (exit $rc)"

step "checkov --skip-download (skips live in serverless.yml and infra/serverless/*.yml, each with a reason)"
"$TOOLS/bin/checkov" --skip-download --framework cloudformation -f "$TEMPLATE" --compact --quiet \
  || fail "checkov found failed checks"

# the other front doors: a temporary copy of the tree with api_type switched, packaged and checked
VARIANT=$(mktemp -d)
trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -rf "$MOTO_LOG" "$VARIANT"' EXIT
mkdir -p "$VARIANT/infra" "$VARIANT/layers"
cp -r serverless.yml package.json config functions "$VARIANT/"
cp -r infra/serverless infra/__init__.py infra/config.py "$VARIANT/infra/"
ln -s "$PWD/layers/build" "$VARIANT/layers/build"
ln -s "$PWD/node_modules" "$VARIANT/node_modules"
check_variant() {  # $1: api_type; $2: a resource type the template must hold
  step "api_type $1 variant: osls package + cfn-lint + checkov (a temporary copy with api_type: $1)"
  rm -rf "$VARIANT/.serverless"
  sed -i "s/^  api_type: [a-z]* /  api_type: $1 /; s/^  api_reserved_concurrency: null /  api_reserved_concurrency: 20 /" \
    "$VARIANT/config/stages.yml"
  grep -q "^  api_type: $1 " "$VARIANT/config/stages.yml" || fail "could not switch the copy to api_type: $1"
  (cd "$VARIANT" && npx --no-install osls package --stage "$STAGE" >/dev/null) || fail "osls package ($1 variant)"
  grep -q "\"$2\"" "$VARIANT/$TEMPLATE" || fail "the $1 variant has no $2"
  set +e
  "$TOOLS/bin/cfn-lint" "$VARIANT/$TEMPLATE" >/dev/null
  rc=$?
  set -e
  (( rc & 2 )) && fail "cfn-lint found errors in the $1 variant"
  "$TOOLS/bin/checkov" --skip-download --framework cloudformation -f "$VARIANT/$TEMPLATE" --compact --quiet \
    || fail "checkov found failed checks in the $1 variant"
}
check_variant rest AWS::ApiGateway::RestApi
check_variant url AWS::Lambda::Url   # the function URL: no gateway, reserved concurrency as the cap

step "smoke deploy to moto CloudFormation"
SMOKE_LOG=$(mktemp)
set +e
"$PY" -m infra.smoke_deploy --endpoint "$AWS_ENDPOINT_URL_CLOUDFORMATION" --stage "$STAGE" >"$SMOKE_LOG" 2>&1
rc=$?
set -e
grep -v -e "No Moto CloudFormation support" -e "UserWarning" -e "warnings.warn" "$SMOKE_LOG" || true
rm -f "$SMOKE_LOG"
[ "$rc" -eq 0 ] || fail "smoke deploy"

echo
echo "ci_checks: all deployment checks passed in $((SECONDS - T0)) s"
