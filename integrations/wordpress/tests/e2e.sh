#!/usr/bin/env bash
# End-to-end test of the WordPress plugin against the real API.
#
#   bash integrations/wordpress/tests/e2e.sh
#
# Runs the plugin's PHP unit tests, then the end-to-end test proper.
#
# Installs Debian's php, mariadb-server, wordpress and phpunit if missing, then, all on loopback and
# under a fresh temporary directory: starts MariaDB (socket only), copies WordPress there,
# serves it with PHP's built-in server, installs it, activates the plugin and configures it
# through its settings page against the local stack (`python -m infra.local up`, started
# here with its own ports and state unless SNLP_E2E_API_URL and SNLP_E2E_API_TOKEN point at
# a running one), and checks what issue 9 asks for. Everything it starts is stopped on exit.
#
# Environment: SNLP_E2E_TIMEOUT (seconds, default 900); SNLP_E2E_API_URL + SNLP_E2E_API_TOKEN
# (use a running API instead of starting the local stack); SNLP_E2E_DIST (the built models,
# default model_artifacts/dist); PYTHON (default .venv/bin/python); SNLP_E2E_KEEP=1 (keep the
# temporary directory); SNLP_E2E_PAUSE=1 (on failure, keep everything running for a while to
# look around). Logs of a failed run are copied to test-artifacts/wordpress-e2e/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)

# the whole run is bounded: the inner run gets SIGTERM (and cleans up) when time is up
if [[ -z "${SNLP_E2E_INNER:-}" ]]; then
	export SNLP_E2E_INNER=1
	exec timeout --kill-after=30 "${SNLP_E2E_TIMEOUT:-900}" bash "$0" "$@"
fi

PLUGIN_SRC=$REPO/integrations/wordpress/serverless-nlp-sentiment
PY=${PYTHON:-$REPO/.venv/bin/python}
ADMIN_USER=admin
ADMIN_PASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
T=$(mktemp -d /tmp/snlp-wp-e2e.XXXXXX)
LOGS=$T/logs
JAR=$T/cookies.txt
mkdir -p "$LOGS"
DB_PID="" WEB_PID="" STACK_PID="" PASSED=0

say() { printf '[wp-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { # (also called inside $(...): everything goes to stderr)
	{
		say "FAIL: $*"
		for f in "$LOGS"/*.log "$T"/stack/logs/*.log; do
			[[ -s $f ]] || continue
			echo "---- last lines of $(basename "$f")"
			grep -v 'PHP Deprecated' "$f" | tail -n 25
		done
	} >&2
	if [[ ${SNLP_E2E_PAUSE:-0} == 1 ]]; then
		say "paused for inspection: WordPress ${WP:-} (admin / $ADMIN_PASS), files in $T; Ctrl-C to clean up"
		sleep 600 || true
	fi
	exit 1
}
ok() { say "ok: $*"; PASSED=$((PASSED + 1)); }

stop_pid() { # pid, seconds to wait after SIGTERM
	local pid=$1 wait_s=${2:-10}
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < wait_s * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $WEB_PID ]]; then
		kill -TERM -- "-$WEB_PID" 2>/dev/null || true
		stop_pid "$WEB_PID" 5
		kill -KILL -- "-$WEB_PID" 2>/dev/null || true
	fi
	if [[ -n $STACK_PID ]]; then
		stop_pid "$STACK_PID" 30
		# if the orchestrator could not stop its children, stop them by the pids it recorded
		if [[ -f $T/stack/stack.json ]]; then
			for pid in $("$PY" -c 'import json,sys; print(*json.load(open(sys.argv[1]))["pids"].values())' "$T/stack/stack.json" 2>/dev/null); do
				stop_pid "$pid" 5
			done
		fi
	fi
	stop_pid "$DB_PID" 30
	if ((rc != 0)); then
		mkdir -p "$REPO/test-artifacts/wordpress-e2e"
		cp -r "$LOGS/." "$REPO/test-artifacts/wordpress-e2e/" 2>/dev/null || true
		[[ -d $T/stack/logs ]] && cp -r "$T/stack/logs" "$REPO/test-artifacts/wordpress-e2e/stack-logs" 2>/dev/null
		say "logs copied to test-artifacts/wordpress-e2e/"
	fi
	if [[ ${SNLP_E2E_KEEP:-0} == 1 ]]; then
		say "kept $T"
	else
		rm -rf "$T"
	fi
	if ((rc == 0)); then say "PASSED ($PASSED checks)"; else say "FAILED (exit $rc)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

wait_for() { # what, seconds, command...
	local what=$1 secs=$2
	shift 2
	for ((i = 0; i < secs * 4; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	fail "$what not ready after ${secs}s"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d, list) else d[k]
print(d if not isinstance(d,(dict,list)) else json.dumps(d))' "$@"; }
wp() { SNLP_E2E_HOST="127.0.0.1:$WP_PORT" php "$HERE/e2e/wp-helper.php" "$T/wp" "$@"; }

# ---- packages ----------------------------------------------------------------------------------
missing=()
command -v php >/dev/null || missing+=(php-cli)
PHP_MODULES=$(php -m 2>/dev/null || true)
for mod in mysqli curl mbstring xml; do
	if ! grep -qix "$mod" <<<"$PHP_MODULES"; then
		case $mod in mysqli) missing+=(php-mysql) ;; *) missing+=("php-$mod") ;; esac
	fi
done
command -v mariadbd >/dev/null || missing+=(mariadb-server)
command -v mariadb >/dev/null || missing+=(mariadb-client)
[[ -f /usr/share/wordpress/wp-settings.php ]] || missing+=(wordpress)
command -v curl >/dev/null || missing+=(curl)
command -v phpunit >/dev/null || missing+=(phpunit)
if ((${#missing[@]})); then
	SUDO=""
	[[ $(id -u) == 0 ]] || SUDO=sudo
	say "installing ${missing[*]}"
	$SUDO apt-get update -qq >"$LOGS/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
		fail "apt-get install ${missing[*]}"
fi
say "php $(php -r 'echo PHP_VERSION;'), $(mariadbd --version | awk '{print $3}'), WordPress $(php -r 'include "/usr/share/wordpress/wp-includes/version.php"; echo $wp_version;')"

# ---- unit tests first: they take a second ---------------------------------------------------------
phpunit -c "$REPO/integrations/wordpress/phpunit.xml.dist" >"$LOGS/phpunit.log" 2>&1 || fail "PHP unit tests"
ok "PHP unit tests: $(grep -E '^OK' "$LOGS/phpunit.log")"

# ---- the API (the real local stack) ------------------------------------------------------------
if [[ -n ${SNLP_E2E_API_URL:-} ]]; then
	API=${SNLP_E2E_API_URL%/}
	TOKEN=${SNLP_E2E_API_TOKEN:?SNLP_E2E_API_TOKEN must be set with SNLP_E2E_API_URL}
	say "using the running API at $API"
else
	DIST=${SNLP_E2E_DIST:-$REPO/model_artifacts/dist}
	for m in sentiment minilm-embed; do
		[[ -f $DIST/$m/aliases.json ]] || fail "model $m is not built in $DIST: run 'make models' first"
	done
	API_PORT=$(free_port)
	MOTO_PORT=$(free_port)
	API=http://127.0.0.1:$API_PORT
	say "starting the local stack (python -m infra.local up) on $API"
	# moto answers GETs of multipart-uploaded objects (every real model: model_artifacts.publish
	# uses upload_file) with a checksum botocore rejects, and the API then answers 503. Real S3
	# does not; until the local stack handles it, skip that response check for the stack only.
	(cd "$REPO" && AWS_RESPONSE_CHECKSUM_VALIDATION=${AWS_RESPONSE_CHECKSUM_VALIDATION:-when_required} exec "$PY" -m infra.local up --no-worker --state-dir "$T/stack" --dist "$DIST" \
		--api-port "$API_PORT" --moto-port "$MOTO_PORT") >"$LOGS/stack.log" 2>&1 &
	STACK_PID=$!
	stack_ready() { kill -0 "$STACK_PID" && [[ -s $T/stack/token ]] && curl -fsS -m 2 "$API/health"; }
	wait_for "local stack" 300 stack_ready
	TOKEN=$(tr -d '[:space:]' <"$T/stack/token")
fi
api_classify() { # text -> JSON answer of the API itself
	local code
	code=$(curl -sS -m 60 -o "$T/api.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		--data-binary "$(python3 -c 'import json,sys; print(json.dumps({"model": "sentiment", "texts": [sys.argv[1]]}))' "$1")" \
		"$API/v1/classify")
	[[ $code == 200 ]] || fail "the API itself answered $code to /v1/classify: $(head -c 500 "$T/api.json")"
	cat "$T/api.json"
}

# ---- MariaDB (socket only, no TCP) ----------------------------------------------------------------
say "starting MariaDB"
SOCK=$T/db/mysql.sock
mkdir -p "$T/db"
mariadb-install-db --no-defaults --datadir="$T/db/data" --user="$(id -un)" \
	--auth-root-authentication-method=normal --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 ||
	fail "mariadb-install-db"
mariadbd --no-defaults --datadir="$T/db/data" --socket="$SOCK" --skip-networking \
	--pid-file="$T/db/mariadb.pid" --user="$(id -un)" --innodb-buffer-pool-size=32M \
	--log-error="$LOGS/mariadb.log" &
DB_PID=$!
wait_for "MariaDB" 60 mariadb-admin --no-defaults -S "$SOCK" -uroot ping
mariadb --no-defaults -S "$SOCK" -uroot -e "CREATE DATABASE wordpress CHARACTER SET utf8mb4;
	CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-e2e'; GRANT ALL ON wordpress.* TO 'wp'@'localhost';"

# ---- WordPress (a copy of Debian's, with its own wp-config.php) ------------------------------------
WP_PORT=$(free_port)
WP=http://127.0.0.1:$WP_PORT
cp -a /usr/share/wordpress "$T/wp"
rm -f "$T/wp/wp-config.php"
mkdir -p "$T/wp/wp-content/plugins" "$T/wp/wp-content/themes" "$T/wp/wp-content/uploads"
cp -a "$PLUGIN_SRC" "$T/wp/wp-content/plugins/"
cp -a "$HERE/e2e/theme" "$T/wp/wp-content/themes/snlp-e2e"
mkdir -p "$T/wp/wp-content/mu-plugins"
cp "$HERE/e2e/mu-plugin.php" "$T/wp/wp-content/mu-plugins/snlp-e2e.php"
{
	echo "<?php"
	echo "define( 'DB_NAME', 'wordpress' ); define( 'DB_USER', 'wp' ); define( 'DB_PASSWORD', 'wp-e2e' );"
	echo "define( 'DB_HOST', 'localhost:$SOCK' ); define( 'DB_CHARSET', 'utf8mb4' ); define( 'DB_COLLATE', '' );"
	for k in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
		echo "define( '$k', '$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')' );"
	done
	echo "define( 'WP_HOME', '$WP' ); define( 'WP_SITEURL', '$WP' );"
	echo "define( 'WP_HTTP_BLOCK_EXTERNAL', true ); // no internet here; loopback stays allowed"
	echo "define( 'AUTOMATIC_UPDATER_DISABLED', true ); define( 'WP_AUTO_UPDATE_CORE', false );"
	echo "if ( ! defined( 'DISABLE_WP_CRON' ) ) { define( 'DISABLE_WP_CRON', true ); } // the test calls wp-cron.php, as a system cron would"
	echo "define( 'WP_DEBUG', true ); define( 'WP_DEBUG_DISPLAY', false ); define( 'WP_DEBUG_LOG', '$LOGS/wp-debug.log' );"
	echo "\$table_prefix = 'wp_';"
	echo "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }"
	echo "require_once ABSPATH . 'wp-settings.php';"
} >"$T/wp/wp-config.php"

say "installing WordPress and activating the plugin"
wp install "$WP" "$ADMIN_USER" "$ADMIN_PASS" >"$LOGS/wp-install.log" 2>&1 || fail "WordPress install"
wp activate >"$LOGS/wp-activate.log" 2>&1 || fail "plugin activation"
[[ $(json_get active <"$LOGS/wp-activate.log") == True ]] || fail "plugin not active"

# its own process group: the server forks workers, and all of them must stop at the end
PHP_CLI_SERVER_WORKERS=4 setsid php -S "127.0.0.1:$WP_PORT" -t "$T/wp" >"$LOGS/php-server.log" 2>&1 &
WEB_PID=$!
wait_for "PHP built-in server" 30 curl -fsS -m 5 -o /dev/null "$WP/wp-login.php"
ok "WordPress $WP with the plugin active"

# ---- HTTP helpers --------------------------------------------------------------------------------
get() { # url, outfile -> status code
	curl -sS -m 60 -b "$JAR" -c "$JAR" -o "$2" -w '%{http_code}' "$1"
}
post() { # url, outfile, curl data args... -> status code (redirects not followed)
	local url=$1 out=$2
	shift 2
	curl -sS -m 60 -b "$JAR" -c "$JAR" -o "$out" -w '%{http_code}' "$@" "$url"
}
form_field() { # html file, form action substring, field name -> value
	python3 - "$@" <<-'PY'
	import html, re, sys
	page, action, field = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3]
	for form in re.findall(r"<form\b[^>]*>.*?</form>", page, re.S):
	    if action in form.split(">", 1)[0]:
	        m = re.search(r'name="%s" value="([^"]*)"' % re.escape(field), form)
	        if m:
	            print(html.unescape(m.group(1)))
	            sys.exit(0)
	sys.exit(1)
	PY
}
widget() { # html file -> "label score" of the first sentiment widget
	python3 - "$1" <<-'PY'
	import re, sys
	m = re.search(r'class="snlp-sentiment [^"]*" data-label="([^"]*)" data-score="([^"]*)"', open(sys.argv[1], encoding="utf-8").read())
	print(f"{m.group(1)} {m.group(2)}" if m else "")
	PY
}

SETTINGS_URL="$WP/wp-admin/options-general.php?page=snlp-settings"
save_settings() { # base url, token, [comments per hour] (the form as an admin fills it in)
	[[ $(get "$SETTINGS_URL" "$T/settings.html") == 200 ]] || fail "settings page"
	local nonce referer code
	nonce=$(form_field "$T/settings.html" options.php _wpnonce) || fail "no nonce in the settings form"
	referer=$(form_field "$T/settings.html" options.php _wp_http_referer)
	code=$(post "$WP/wp-admin/options.php" "$T/save.html" \
		--data-urlencode option_page=snlp_settings_group --data-urlencode action=update \
		--data-urlencode "_wpnonce=$nonce" --data-urlencode "_wp_http_referer=$referer" \
		--data-urlencode 'snlp_settings[_form]=1' --data-urlencode "snlp_settings[base_url]=$1" \
		--data-urlencode "snlp_api_token=$2" --data-urlencode 'snlp_settings[timeout]=10' \
		--data-urlencode 'snlp_settings[classify_model]=sentiment' --data-urlencode 'snlp_settings[embed_model]=minilm-embed' \
		--data-urlencode 'snlp_settings[comments_enabled]=1' --data-urlencode 'snlp_settings[related_enabled]=1' \
		--data-urlencode "snlp_settings[comments_per_hour]=${3:-100}")
	[[ $code == 302 ]] || fail "saving settings answered $code"
}
run_cron() { # what WP-Cron does on a real site: a request to wp-cron.php runs the due events
	[[ $(get "$WP/wp-cron.php" "$T/cron.out") == 200 ]] || fail "wp-cron.php"
}
post_comment() { # post id, text -> status code
	curl -sS -m 60 -o "$T/comment.out" -w '%{http_code}' --data-urlencode "comment_post_ID=$1" \
		--data-urlencode "author=Visitor $RANDOM" --data-urlencode "email=visitor$RANDOM@example.com" \
		--data-urlencode "comment=$2" --data-urlencode submit=Post "$WP/wp-comments-post.php"
}
api_texts_today() { # texts the API has billed to the token today (GET /v1/usage)
	curl -sS -m 30 -H "Authorization: Bearer $TOKEN" "$API/v1/usage" | json_get today texts
}
admin_notice() { # -> the data-snlp-error of the plugin's notice on the dashboard ('' when none)
	[[ $(get "$WP/wp-admin/index.php" "$T/dash.html") == 200 ]] || fail "dashboard"
	grep -o 'snlp-notice" data-snlp-error="[a-z_]*"' "$T/dash.html" | sed 's/.*="\(.*\)"/\1/' | head -n 1 || true
}

# ---- admin: log in, configure through the settings page, test the connection ------------------------
get "$WP/wp-login.php" "$T/login.html" >/dev/null
code=$(post "$WP/wp-login.php" "$T/login.out" --data-urlencode "log=$ADMIN_USER" --data-urlencode "pwd=$ADMIN_PASS" \
	--data-urlencode testcookie=1 --data-urlencode "redirect_to=$WP/wp-admin/")
[[ $code == 302 ]] || fail "admin login answered $code"

save_settings "$API" "$TOKEN"
[[ $(get "$SETTINGS_URL" "$T/settings.html") == 200 ]] || fail "settings page"
grep -qF "$TOKEN" "$T/settings.html" && fail "the settings page contains the token"
grep -q 'value="" autocomplete="new-password"' "$T/settings.html" || fail "token field is not empty"
if ((${#TOKEN} >= 16)); then
	grep -qF -e "${TOKEN: -4}</code>" "$T/settings.html" || fail "the masked token is not shown"
fi
ok "settings saved through the settings page; the token is masked, never echoed"

nonce=$(form_field "$T/settings.html" admin-post.php _wpnonce) || fail "no nonce in the test-connection form"
code=$(post "$WP/wp-admin/admin-post.php" "$T/test.out" --data-urlencode action=snlp_test_connection --data-urlencode "_wpnonce=$nonce")
[[ $code == 302 ]] || fail "test connection answered $code"
get "$SETTINGS_URL&snlp_tested=1" "$T/tested.html" >/dev/null
grep -q 'notice-success inline snlp-test-result' "$T/tested.html" || fail "test connection did not succeed"
grep -q '<code>sentiment</code>' "$T/tested.html" && grep -q '<code>minilm-embed</code>' "$T/tested.html" ||
	fail "test connection does not list the models"
code=$(post "$WP/wp-admin/admin-post.php" "$T/test.out" --data-urlencode action=snlp_test_connection --data-urlencode "_wpnonce=bad")
[[ $code == 403 ]] || fail "test connection with a bad nonce answered $code"
ok "test connection lists sentiment and minilm-embed; a bad nonce is refused"

# ---- shortcode and block render the API's label ----------------------------------------------------
TEXT="I absolutely love this product, it works wonderfully and made my day!"
EXPECT=$(api_classify "$TEXT") || exit 1
want_label=$(json_get predictions 0 label <<<"$EXPECT")
want_score=$(json_get predictions 0 score <<<"$EXPECT")
wp create-post "Shortcode post" "<p>Review: [sentiment text=\"$TEXT\"]</p>" >"$T/post.json" || fail "create post"
POST_ID=$(json_get id <"$T/post.json")
[[ $(get "$(json_get url <"$T/post.json")" "$T/post.html") == 200 ]] || fail "post page"
read -r label score <<<"$(widget "$T/post.html")"
[[ -n $label ]] || fail "the post does not render the widget"
[[ $label == "$want_label" ]] || fail "widget says $label, the API says $want_label"
python3 -c 'import sys; assert abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-3' "$score" "$want_score" ||
	fail "widget score $score, API score $want_score"
grep -q 'snlp-sentiment__fill" style="width:' "$T/post.html" || fail "no confidence bar"
grep -q 'serverless-nlp-sentiment/assets/sentiment.css' "$T/post.html" || fail "the widget stylesheet is not loaded"
ok "shortcode renders the API's label '$label' (score $score) with a confidence bar"

BLOCK_TEXT="This was a terrible experience, the service was slow and rude."
wp create-post "Block post" "<!-- wp:serverless-nlp/sentiment {\"text\":\"$BLOCK_TEXT\"} /-->" >"$T/block.json" || fail "create block post"
[[ $(get "$(json_get url <"$T/block.json")" "$T/block.html") == 200 ]] || fail "block post page"
read -r label _ <<<"$(widget "$T/block.html")"
[[ $label == "$(api_classify "$BLOCK_TEXT" | json_get predictions 0 label)" ]] || fail "block renders '$label'"
ok "block renders the API's label '$label'"
[[ $(get "$WP/wp-admin/post-new.php" "$T/editor.html") == 200 ]] || fail "block editor page"
grep -q 'serverless-nlp-sentiment/assets/block.js' "$T/editor.html" || fail "the block editor does not load the block script"
ok "the block editor loads the block's no-build script"

# an author below the chosen capability (administrators by default) cannot pick the model
AUTHOR_ID=$(wp create-user "e2e-author-$RANDOM" author | json_get id) || fail "create an author"
wp create-post "Author's model" "<p>[sentiment model=\"no-such-model\" text=\"$TEXT\"]</p>" "$AUTHOR_ID" >"$T/am.json" || fail "author post"
[[ $(get "$(json_get url <"$T/am.json")" "$T/am.html") == 200 ]] || fail "author post page"
[[ $(widget "$T/am.html") == "$want_label "* ]] || fail "an author's model= was not replaced by the configured model"
wp create-post "Admin's model" "<p>[sentiment model=\"no-such-model\" text=\"$TEXT\"]</p>" >"$T/adm.json" || fail "admin post"
[[ $(get "$(json_get url <"$T/adm.json")" "$T/adm.html") == 200 ]] || fail "admin post page"
[[ -z $(widget "$T/adm.html") ]] || fail "an administrator's model= was not used (the API knows no such model)"
ok "shortcode model=: ignored for an author (configured model used), honoured for an administrator"

# ---- a classifier trained from a CSV (issue 17) serves the shortcode unchanged ----------------------------
api_json() { # method, path, body -> the API's JSON (fails on any status but 200/202)
	local code
	code=$(curl -sS -m 60 -o "$T/train.json" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$API$2")
	[[ $code == 200 || $code == 202 ]] || fail "the API answered $code to $1 $2: $(head -c 500 "$T/train.json")"
	cat "$T/train.json"
}
wait_job() { # job id, status -> waits until the training job has it (failed: fail)
	local status
	for _ in $(seq 300); do
		status=$(api_json GET "/v1/train/$1" | json_get status)
		[[ $status == "$2" ]] && return 0
		[[ $status == failed ]] && fail "training job $1 failed: $(cat "$T/train.json")"
		sleep 1
	done
	fail "training job $1 is still $status"
}
TRAINED="wp-e2e-$RANDOM"
TRAIN_BODY=$(python3 - "$TRAINED" <<'PY'
import json, sys
good = ["I love it", "wonderful service", "this made my day", "great product, works well", "so happy with it"]
bad = ["I hate it", "terrible service", "this ruined my day", "awful product, broke at once", "so angry about it"]
rows = "text,label\n" + "".join(f"{t} {i},{label}\n" for i in range(4) for label, texts in
                                (("happy", good), ("unhappy", bad)) for t in texts)
print(json.dumps({"name": sys.argv[1], "rows": rows}))
PY
)
JOB=$(api_json POST /v1/train "$TRAIN_BODY" | json_get job_id)
wait_job "$JOB" done
api_json POST "/v1/train/$JOB/publish" '{"alias": "prod"}' >/dev/null
wait_job "$JOB" published
want=$(api_json POST /v1/classify "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "texts": [sys.argv[2]]}))' "$TRAINED" "$TEXT")" |
	json_get predictions 0 label)
[[ $want == happy || $want == unhappy ]] || fail "the trained model answers '$want'"
wp create-post "Trained model" "<p>[sentiment model=\"$TRAINED\" text=\"$TEXT\"]</p>" >"$T/tm.json" || fail "trained-model post"
[[ $(get "$(json_get url <"$T/tm.json")" "$T/tm.html") == 200 ]] || fail "trained-model post page"
[[ $(widget "$T/tm.html") == "$want "* ]] || fail "the shortcode with the trained model renders '$(widget "$T/tm.html")', the API says '$want'"
ok "a classifier trained from a CSV through /v1/train and published serves the shortcode: '$want'"

# ---- comments: classified by WP-Cron, shown and filterable in the admin list --------------------------
COMMENT="Thanks, this guide was really helpful and clear!"
code=$(post_comment "$POST_ID" "$COMMENT")
[[ $code == 302 ]] || fail "posting a comment answered $code: $(head -c 600 "$T/comment.out")"
CID=$(wp latest-comment | json_get id)
wp comment-state "$CID" >"$T/c1.json"
[[ $(json_get status <"$T/c1.json") == pending && -z $(json_get label <"$T/c1.json") ]] ||
	fail "comment was not left pending for cron: $(cat "$T/c1.json")"
[[ $(json_get events 0 attempt <"$T/c1.json") == 0 ]] || fail "no cron event queued for the comment"
ok "comment $CID accepted at once and queued for WP-Cron"

run_cron
wp comment-state "$CID" >"$T/c2.json"
label=$(json_get label <"$T/c2.json")
[[ $(json_get status <"$T/c2.json") == done && $label == "$(api_classify "$COMMENT" | json_get predictions 0 label)" ]] ||
	fail "comment not labelled by cron: $(cat "$T/c2.json")"
ok "WP-Cron labelled comment $CID '$label' (comment meta)"

[[ $(get "$WP/wp-admin/edit-comments.php" "$T/comments.html") == 200 ]] || fail "comments list"
grep -q 'column-snlp_sentiment' "$T/comments.html" || fail "no Sentiment column"
grep -q 'serverless-nlp-sentiment/assets/sentiment.css' "$T/comments.html" || fail "no stylesheet on the comments screen"
grep -q 'id="snlp-sentiment-filter"' "$T/comments.html" || fail "no sentiment filter"
python3 - "$T/comments.html" "$CID" "$label" <<-'PY' || fail "comment row does not show its label"
	import re, sys
	page, cid, label = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3]
	row = re.search(r'<tr id=["\']comment-%s["\'].*?</tr>' % cid, page, re.S).group(0)
	assert 'data-label="%s"' % label in row
	PY
other=positive
[[ $label == positive ]] && other=negative
get "$WP/wp-admin/edit-comments.php?snlp_sentiment=$label" "$T/f1.html" >/dev/null
get "$WP/wp-admin/edit-comments.php?snlp_sentiment=$other" "$T/f2.html" >/dev/null
grep -Eq "id=[\"']comment-$CID[\"']" "$T/f1.html" || fail "filter '$label' hides the comment"
grep -Eq "id=[\"']comment-$CID[\"']" "$T/f2.html" && fail "filter '$other' shows the comment"
ok "admin comments list: Sentiment column and filter work"

# ---- related posts (embeddings) -------------------------------------------------------------------
wp create-post "Homemade pasta with tomato sauce" "<p>Boil the spaghetti, simmer ripe tomatoes with garlic and basil, and serve the pasta hot with parmesan.</p>" >"$T/r1.json"
wp create-post "Easy Italian cooking at home" "<p>Fresh pasta dough, olive oil, parmesan cheese and a quick marinara sauce make a simple Italian dinner.</p>" >"$T/r2.json"
wp create-post "Quarterly stock market report" "<p>Shares fell as investors worried about interest rates, inflation and bond yields.</p>" >"$T/r3.json"
for _ in 1 2 3 4; do run_cron; done # the embedding job works through posts in batches
[[ $(get "$(json_get url <"$T/r1.json")" "$T/r1.html") == 200 ]] || fail "related post page"
first=$(python3 -c 'import re,sys; m=re.search(r"<aside class=\"snlp-related\">.*?<a href=\"[^\"]*\">([^<]*)</a>", open(sys.argv[1]).read(), re.S); print(m.group(1) if m else "")' "$T/r1.html")
[[ $first == "Easy Italian cooking at home" ]] ||
	fail "the first related post of the pasta post is '$first': $(wp related-state "$(json_get id <"$T/r1.json")")"
ok "related posts: the pasta post's nearest neighbour is the Italian cooking post"

# ---- API down: the page renders without the widget, the admin sees why ---------------------------------
save_settings "http://127.0.0.1:$(free_port)" ""
wp create-post "Down post" "<p>Still here. [sentiment text=\"Lovely weather today\"]</p>" >"$T/down.json"
[[ $(get "$(json_get url <"$T/down.json")" "$T/down.html") == 200 ]] || fail "page with the API down"
grep -q 'Still here.' "$T/down.html" || fail "page content missing with the API down"
grep -q 'class="snlp-sentiment ' "$T/down.html" && fail "widget rendered with the API down"
[[ $(admin_notice) == snlp_network ]] || fail "no 'API down' notice"
ok "API down: page renders without the widget; admin notice shown"

# ---- wrong token: the same, and comments are retried with backoff --------------------------------------
save_settings "$API" "wrong-token-$RANDOM$RANDOM$RANDOM"
wp create-post "Wrong token post" "<p>Body text. [sentiment text=\"What a great day\"]</p>" >"$T/bad.json"
[[ $(get "$(json_get url <"$T/bad.json")" "$T/bad.html") == 200 ]] || fail "page with a wrong token"
grep -q 'Body text.' "$T/bad.html" || fail "page content missing with a wrong token"
grep -q 'class="snlp-sentiment ' "$T/bad.html" && fail "widget rendered with a wrong token"
[[ $(admin_notice) == snlp_auth ]] || fail "no 'bad token' notice"
grep -q 'The API rejected your token' "$T/dash.html" || fail "notice text"
ok "wrong token: page renders without the widget; admin notice 'The API rejected your token'"

code=$(post_comment "$POST_ID" "I really dislike how slow this page is.")
[[ $code == 302 ]] || fail "posting a comment while the token is wrong answered $code: $(head -c 600 "$T/comment.out")"
CID2=$(wp latest-comment | json_get id)
run_cron
wp comment-state "$CID2" >"$T/c3.json"
python3 - "$T/c3.json" <<-'PY' || fail "failed classification not retried with backoff: $(cat "$T/c3.json")"
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["status"] == "retrying" and s["attempts"] == "1" and s["error"] == "snlp_auth", s
	[ev] = s["events"]
	assert ev["attempt"] == 1 and 50 <= ev["in_s"] <= 70, ev  # 60 s + up to 10 % jitter
	PY
ok "comment posted while the token is wrong: accepted, retry scheduled in ~60 s"

save_settings "$API" "$TOKEN"
[[ -z $(admin_notice) ]] || fail "notice still shown after fixing the token"
wp fast-forward snlp_classify_comment >/dev/null
run_cron
wp comment-state "$CID2" >"$T/c4.json"
[[ $(json_get status <"$T/c4.json") == done && -n $(json_get label <"$T/c4.json") ]] ||
	fail "retry did not label the comment: $(cat "$T/c4.json")"
ok "after fixing the token the retry labelled the comment '$(json_get label <"$T/c4.json")'; notice gone"

# ---- a comment flood: only approved comments, at most the hourly cap of them, reach the API -------------
used=$(wp option snlp_comment_calls | python3 -c 'import json, sys, time
v = json.load(sys.stdin)["value"] or {}
print(int(v.get("count", 0)) if v.get("hour") == time.strftime("%Y%m%d%H", time.gmtime()) else 0)')
CAP=$((used + 3)) # three more API calls this hour
save_settings "$API" "$TOKEN" "$CAP"
texts_before=$(api_texts_today) || fail "GET /v1/usage"
FLOOD=()
for i in $(seq 1 12); do
	[[ $(post_comment "$POST_ID" "Flood comment number $i: what a great post, thanks!") == 302 ]] || fail "flood comment $i"
	FLOOD+=("$(wp latest-comment | json_get id)")
done
post_comment "$POST_ID" "[spam-me] cheap pills, click here" >/dev/null
SPAM_ID=$(wp latest-comment | json_get id)
post_comment "$POST_ID" "[hold-me] a first comment waiting for moderation" >/dev/null
HELD_ID=$(wp latest-comment | json_get id)
run_cron
run_cron
done_n=0 deferred_n=0
for cid in "${FLOOD[@]}"; do
	case $(wp comment-state "$cid" | json_get status) in
	done) done_n=$((done_n + 1)) ;;
	deferred) deferred_n=$((deferred_n + 1)) ;;
	esac
done
((done_n == 3 && deferred_n == 9)) || fail "flood of 12: $done_n labelled, $deferred_n deferred (want 3 and 9)"
for cid in "$SPAM_ID" "$HELD_ID"; do
	wp comment-state "$cid" >"$T/sh.json"
	python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["status"] == "" and s["events"] == [], s' "$T/sh.json" ||
		fail "a spam or held comment was queued for the API: $(cat "$T/sh.json")"
done
texts_after=$(api_texts_today) || fail "GET /v1/usage"
((texts_after - texts_before == 3)) || fail "the flood cost the API $((texts_after - texts_before)) texts, not 3"
ok "comment flood: 12 approved comments -> 3 texts billed (the hourly cap), 9 wait for the next hour; spam and held comments sent nothing"
wp approve-comment "$HELD_ID" >/dev/null
[[ $(wp comment-state "$HELD_ID" | json_get status) == pending ]] || fail "an approved comment was not queued"
run_cron
[[ $(wp comment-state "$HELD_ID" | json_get status) == deferred ]] || fail "the approved comment went past the hourly cap"
((  $(api_texts_today) == texts_after )) || fail "texts were billed past the hourly cap"
ok "a held comment is queued once approved, and waits like the others while the cap is reached"

# ---- uninstall removes everything; no PHP warnings from the plugin ------------------------------------
wp uninstall >"$T/uninstall.json" || fail "uninstall"
[[ $(json_get options_left <"$T/uninstall.json") == "[]" && $(json_get comment_meta_left <"$T/uninstall.json") == 0 &&
	$(json_get post_meta_left <"$T/uninstall.json") == 0 ]] ||
	fail "uninstall left data: $(cat "$T/uninstall.json")"
ok "uninstall removed the plugin's options, transients, comment and post meta"
if [[ -f $LOGS/wp-debug.log ]] && grep -n 'serverless-nlp-sentiment' "$LOGS/wp-debug.log"; then
	fail "PHP notices or warnings from the plugin (above)"
fi
ok "no PHP notices or warnings from the plugin"
