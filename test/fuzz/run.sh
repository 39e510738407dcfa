#!/usr/bin/env bash
# API fuzzing from the OpenAPI document: Schemathesis against a real Warden server.
#
#   bash test/fuzz/run.sh            # --quick, the CI size: a few thousand requests in a few minutes
#   bash test/fuzz/run.sh --full     # more examples per operation, for a run on demand
#   bash test/fuzz/run.sh --quick -- --seed 42 --include-path /auth/login   # extra `st run` options
#
# Creates a virtualenv with a pinned Schemathesis (cached in .venv-fuzz/, or $FUZZ_VENV), builds
# Warden, starts it on a free loopback port with a database of its own (MONGODB_URI when set,
# else the embedded one under a temporary DATA_DIR), with the rate limits off and the throttle and
# lockout thresholds out of reach, makes a user, an admin and a service client, then runs
# `st run` with every check against /docs/json: once for the operations outside /admin/ with the
# user's credentials, once for those under /admin/ with the admin's. Operations whose responses
# are event streams are read for a few seconds and a few events at most (FUZZ_STREAM_SECONDS).
# Stops the server and exits non-zero when any check failed.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

mode=quick
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# Examples per operation and phase; the coverage phase adds its boundary cases on top.
if [[ $mode == quick ]]; then
  max_examples="${FUZZ_MAX_EXAMPLES:-30}"
else
  max_examples="${FUZZ_MAX_EXAMPLES:-300}"
fi
stream_seconds="${FUZZ_STREAM_SECONDS:-3}"

log() { echo "fuzz: $*"; }

# --- Schemathesis ------------------------------------------------------------
# The newest Python 3 that runs here, or FUZZ_PYTHON. Before 3.13, CPython keeps the AST
# constructor's recursion count per interpreter, so two threads in ast.parse at once (Hypothesis
# does it, under `st run --workers 2`) can fail with "SystemError: AST constructor recursion depth
# mismatch" (CPython gh-106905): an older Python runs one worker.
python="${FUZZ_PYTHON:-}"
if [[ -z $python ]]; then
  for candidate in python3.14 python3.13 python3; do
    "$candidate" -c 'import sys' >/dev/null 2>&1 && { python="$candidate"; break; }
  done
fi
workers=2
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 13))' || workers=1
python_version="$("$python" -c 'import sys; print(sys.version.split()[0])')"
venv="${FUZZ_VENV:-$ROOT/.venv-fuzz}"
if [[ "$("$venv/bin/st" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ||
      "$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || true)" != "$python_version" ]]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv (Python $python_version)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- Warden ------------------------------------------------------------------
npm run --silent build
work="$(mktemp -d "${TMPDIR:-/tmp}/warden-fuzz.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })")"
base="http://127.0.0.1:$port"
admin_password="fuzz-admin-$(node -p "require('node:crypto').randomBytes(12).toString('hex')")"
user_password="fuzz-user-$(node -p "require('node:crypto').randomBytes(12).toString('hex')")"

export HOST=127.0.0.1 PORT="$port" DATA_DIR="$work/data" LOG_LEVEL="${FUZZ_LOG_LEVEL:-warn}"
export JWT_ISSUER="$base"
export RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_MAX=0
export THROTTLE_THRESHOLD=1000000000 LOCKOUT_THRESHOLD=1000000000
export ADMIN_USERNAME=fuzz-admin ADMIN_PASSWORD="$admin_password"
export REGISTRATION=open DOCS=on

log "starting warden on $base (database: ${MONGODB_URI:-embedded, under $DATA_DIR})"
node dist/src/server.js > "$work/server.log" 2>&1 &
server_pid=$!
for i in $(seq 1 900); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/server.log" >&2
    log "warden exited before answering"; exit 1
  fi
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health/ready" || true)" == 200 ]] && break
  [[ $i -eq 900 ]] && { cat "$work/server.log" >&2; log "warden did not answer /health/ready in 90 s"; exit 1; }
  sleep 0.1
done

json_field() { node -e "let s = ''; process.stdin.on('data', (c) => { s += c }).on('end', () => { console.log(JSON.parse(s)['$1']) })"; }

status="$(curl -s -o "$work/register.json" -w '%{http_code}' -X POST "$base/auth/register" \
  -H 'content-type: application/json' -d "{\"username\": \"fuzz-user\", \"password\": \"$user_password\"}")"
[[ $status == 201 ]] || { cat "$work/register.json" >&2; log "registering the fuzz user failed ($status)"; exit 1; }
for who in fuzz-user fuzz-admin; do
  password="$user_password"; [[ $who == fuzz-admin ]] && password="$admin_password"
  status="$(curl -s -o "$work/login.json" -w '%{http_code}' -X POST "$base/auth/login" \
    -H 'content-type: application/json' -d "{\"username\": \"$who\", \"password\": \"$password\"}")"
  [[ $status == 200 ]] || { cat "$work/login.json" >&2; log "logging in $who failed ($status)"; exit 1; }
done
client="$(node dist/src/cli.js client create fuzz-client --json)"
export FUZZ_CLIENT_ID FUZZ_CLIENT_SECRET
FUZZ_CLIENT_ID="$(json_field client_id <<<"$client")"
FUZZ_CLIENT_SECRET="$(json_field client_secret <<<"$client")"

# --- Configuration -----------------------------------------------------------
# The static part, then the event-stream operations of the document with a short read.
curl -s -f -o "$work/openapi.json" "$base/docs/json"
config="$work/schemathesis.toml"
cp test/fuzz/schemathesis.toml "$config"
node -e '
  const doc = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))
  const seconds = Number(process.argv[2])
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const types = Object.values(op.responses ?? {}).flatMap((r) => Object.keys(r.content ?? {}))
      if (!types.some((t) => t.split(";")[0].trim().toLowerCase() === "text/event-stream")) continue
      console.log(`\n[[operations]]\ninclude-path = ${JSON.stringify(path)}\ninclude-method = ${JSON.stringify(method.toUpperCase())}\nrequest-timeout = ${seconds}\nmax-stream-events = 5`)
      console.error(`fuzz: ${method.toUpperCase()} ${path} is an event stream: each response is read for ${seconds} s or 5 events`)
    }
  }
' "$work/openapi.json" "$stream_seconds" >> "$config"

# --- Runs --------------------------------------------------------------------
# One per account: the user's token for every operation outside /admin/, the admin's for those
# under it (routes/admin/autohooks.ts keeps every admin route there).
failed=0
start=$SECONDS
run() { # run <label> <username> <password> <st filter options...>
  local label="$1"
  export FUZZ_BEARER_USERNAME="$2" FUZZ_BEARER_PASSWORD="$3"
  shift 3
  log "st run ($label): $max_examples examples per operation, $workers worker(s) (Python $python_version)"
  PYTHONPATH="$ROOT/test/fuzz" SCHEMATHESIS_HOOKS=hooks "$venv/bin/st" --config-file "$config" run "$base/docs/json" \
    --workers "$workers" --max-examples "$max_examples" \
    --request-timeout 10 --no-color \
    --report junit --report-junit-path "$work/$label.xml" \
    "$@" "${extra[@]}" || failed=1
}
run user fuzz-user "$user_password" --exclude-path-regex '^/admin/'
run admin fuzz-admin "$admin_password" --include-path-regex '^/admin/'

if ! kill -0 "$server_pid" 2>/dev/null; then
  cat "$work/server.log" >&2
  log "warden died during the run"; failed=1
fi
if grep -q '"level":50' "$work/server.log"; then
  log "warden logged errors during the run:"
  grep '"level":50' "$work/server.log" | head -n 20 >&2
  failed=1
fi
log "done in $((SECONDS - start)) s: $([[ $failed -eq 0 ]] && echo 'no failure' || echo 'FAILED')"
exit "$failed"
