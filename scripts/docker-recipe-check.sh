#!/usr/bin/env bash
# Checks the Docker image's recipe without a Docker engine.
#
# Usage: scripts/docker-recipe-check.sh
#
# Follows the Dockerfile step by step on this machine, in a temporary directory:
#   1. the build context: the working tree's files (tracked and untracked, minus
#      what .gitignore and .dockerignore leave out), so uncommitted changes count;
#   2. build stage: `npm ci`, `npm run build`;
#   3. runtime stage: package.json + package-lock.json, `npm ci --omit=dev
#      --omit=optional`, then dist/ copied from the build stage;
#   4. starts the Dockerfile's CMD with its ENV (a free PORT instead of 3000) and a
#      clean environment, waits for GET /health/ready to answer 200 (30 s at most),
#      runs the Dockerfile's HEALTHCHECK command against it, and, with the throwaway
#      database, registers a user, logs in and calls GET /auth/verify;
#   5. sends SIGTERM and expects exit status 0 within 10 s;
#   6. starts the CMD once more without MONGODB_URI and expects it to refuse with
#      "No MongoDB available", as the image does.
#
# Database: MONGODB_URI when it is set (used as given: Warden creates its
# collections and signing key there), otherwise a throwaway server in the
# temporary directory, started the way Warden starts its embedded database
# (mongod from PATH, else FerretDB with its SQLite backend, built with
# scripts/install-ferretdb.sh when missing).
#
# Processes are started, watched and stopped with the build's
# dist/src/lib/embedded-db/cli.js, the code Warden itself uses for that.
#
# Exits 0 when every step passed; otherwise prints what failed, with the end of
# the relevant log, and exits 1. Everything it starts is stopped and the temporary
# directory removed on exit (KEEP_WORK=1 keeps the directory for inspection).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILE="$ROOT/Dockerfile"
RUNTIME_NPM_CI=(npm ci --omit=dev --omit=optional --no-audit --no-fund)
READY_TIMEOUT_S=30
STOP_TIMEOUT_S=10

WORK="$(mktemp -d "${TMPDIR:-/tmp}/warden-docker-recipe.XXXXXX")"
CONTEXT="$WORK/context"
APP="$WORK/app"
SERVER_PID=""
DB_PID=""

log() { echo "docker-recipe: $*"; }
fail() {
  echo "docker-recipe: FAILED: $*" >&2
  exit 1
}
# Prints the last lines of a log file, indented, to stderr.
show_tail() {
  [[ -s "$1" ]] || return 0
  echo "--- last lines of $(basename "$1") ---" >&2
  tail -n "${2:-25}" "$1" | sed 's/^/    /' >&2
}

# embedded_db <command> ...: the build's embedded-database helpers (see the header).
embedded_db() { node "$CONTEXT/dist/src/lib/embedded-db/cli.js" "$@"; }
# has_exited <pid> [seconds]: true once the process has exited, waiting up to <seconds> (default 0).
has_exited() { embedded_db exited "$1" "$((${2:-0} * 1000))"; }

cleanup() {
  local rc=$?
  # Both are only set once the build stage has produced dist/.
  [[ -n "$SERVER_PID" ]] && { embedded_db stop "$SERVER_PID" 5000 || true; }
  [[ -n "$DB_PID" ]] && { embedded_db stop "$DB_PID" 5000 || true; }
  wait 2>/dev/null || true
  if [[ "${KEEP_WORK:-}" == 1 ]]; then
    log "kept $WORK"
  else
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
  fi
  if [[ $rc -eq 0 ]]; then log "OK: the Docker recipe builds, starts, is healthy and stops cleanly"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v node >/dev/null 2>&1 || fail "node is not on PATH"
command -v npm >/dev/null 2>&1 || fail "npm is not on PATH"
[[ -f "$DOCKERFILE" ]] || fail "no Dockerfile in $ROOT"

# --- Reading the Dockerfile ---------------------------------------------------
# The final stage's ENV, HEALTHCHECK and CMD are taken from the Dockerfile itself,
# so that this check exercises what the image will run.
cat >"$WORK/dockerfile.js" <<'EOF'
'use strict'
const fs = require('node:fs')
const [file, what] = process.argv.slice(2)
const lines = fs.readFileSync(file, 'utf8').replace(/\\\r?\n/g, ' ').split(/\r?\n/)
  .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
const from = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true)
const stage = lines.slice(from)
const die = (msg) => { process.stderr.write(`${msg}\n`); process.exit(1) }
const execForm = (line, name) => {
  const m = /\bCMD\s+(\[.*\])\s*$/i.exec(line)
  if (m === null) die(`${name} in the final stage is not in exec form (["..."])`)
  return JSON.parse(m[1])
}
let out = []
if (what === 'env') {
  for (const l of stage.filter((l) => /^ENV\s/i.test(l))) {
    for (const m of l.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/g)) {
      out.push(`${m[1]}=${m[2].replace(/^(["'])(.*)\1$/, '$2')}`)
    }
  }
} else if (what === 'healthcheck') {
  const l = stage.find((l) => /^HEALTHCHECK\s/i.test(l))
  if (l === undefined) die('no HEALTHCHECK in the final stage')
  out = execForm(l, 'HEALTHCHECK')
} else if (what === 'cmd') {
  const l = stage.filter((l) => /^CMD\s/i.test(l)).pop()
  if (l === undefined) die('no CMD in the final stage')
  out = execForm(l, 'CMD')
} else if (what === 'runtime-npm-ci') {
  out = stage.filter((l) => /^RUN\s/i.test(l) && /\bnpm ci\b/.test(l))
} else {
  die(`unknown item ${what}`)
}
process.stdout.write(out.map((s) => s + '\0').join(''))
EOF
dockerfile() { node "$WORK/dockerfile.js" "$DOCKERFILE" "$1"; }

mapfile -d '' IMAGE_ENV < <(dockerfile env) || true
mapfile -d '' HEALTHCHECK < <(dockerfile healthcheck) || true
mapfile -d '' IMAGE_CMD < <(dockerfile cmd) || true
mapfile -d '' RUNTIME_RUN < <(dockerfile runtime-npm-ci) || true
[[ ${#HEALTHCHECK[@]} -gt 0 ]] || fail "could not read the HEALTHCHECK of the Dockerfile's final stage"
[[ ${#IMAGE_CMD[@]} -gt 0 ]] || fail "could not read the CMD of the Dockerfile's final stage"
[[ ${#RUNTIME_RUN[@]} -gt 0 && "${RUNTIME_RUN[0]}" == *"${RUNTIME_NPM_CI[*]:0:4}"* ]] \
  || fail "the Dockerfile's final stage should run '${RUNTIME_NPM_CI[*]:0:4}' (this script mirrors it); found: ${RUNTIME_RUN[*]:-nothing}"
log "Dockerfile: ENV ${IMAGE_ENV[*]:-(none)}; CMD ${IMAGE_CMD[*]}"

# --- 1. Build context -----------------------------------------------------------
mkdir -p "$CONTEXT" "$APP" "$WORK/home" "$WORK/bin"
ignored=()
if [[ -f "$ROOT/.dockerignore" ]]; then
  while IFS= read -r pattern || [[ -n "$pattern" ]]; do
    pattern="${pattern%%#*}"
    pattern="${pattern#"${pattern%%[![:space:]]*}"}"
    pattern="${pattern%"${pattern##*[![:space:]]}"}"
    pattern="${pattern#/}"
    [[ -n "$pattern" ]] && ignored+=("$pattern")
  done <"$ROOT/.dockerignore"
fi
dockerignored() { # dockerignored <path>: true when .dockerignore leaves the path out
  local path="$1" p
  for p in "${ignored[@]}"; do
    if [[ "$p" == '**/'* ]]; then
      [[ "${path##*/}" == ${p#'**/'} ]] && return 0
    else
      [[ "$path" == $p || "$path" == $p/* ]] && return 0
    fi
  done
  return 1
}

if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  source_desc="git working tree (tracked and untracked files)"
  list_files() { git -C "$ROOT" ls-files -z --cached --others --exclude-standard; }
else
  source_desc="directory (not a git checkout)"
  list_files() { (cd "$ROOT" && find . -type f -print0 | sed -z 's|^\./||'); }
fi
while IFS= read -r -d '' file; do
  [[ -e "$ROOT/$file" || -L "$ROOT/$file" ]] || continue # deleted but still tracked
  dockerignored "$file" && continue
  printf '%s\0' "$file"
done < <(list_files) >"$WORK/context-files"
tar -C "$ROOT" --null -T "$WORK/context-files" -cf - | tar -C "$CONTEXT" -xf -
n_files="$(tr -cd '\0' <"$WORK/context-files" | wc -c)"
log "build context: $n_files files from the $source_desc"
[[ -f "$CONTEXT/package.json" && -f "$CONTEXT/package-lock.json" ]] || fail "package.json and package-lock.json must be in the build context"

# --- 2. Build stage ---------------------------------------------------------------
log "build stage: npm ci"
(cd "$CONTEXT" && npm ci --no-audit --no-fund) >"$WORK/build-npm-ci.log" 2>&1 \
  || { show_tail "$WORK/build-npm-ci.log"; fail "build stage: npm ci"; }
log "build stage: npm run build"
(cd "$CONTEXT" && npm run build) >"$WORK/build.log" 2>&1 \
  || { show_tail "$WORK/build.log"; fail "build stage: npm run build"; }
[[ -f "$CONTEXT/${IMAGE_CMD[-1]}" ]] || fail "build stage: npm run build did not produce ${IMAGE_CMD[-1]}"

# --- 3. Runtime stage ---------------------------------------------------------------
log "runtime stage: ${RUNTIME_NPM_CI[*]}"
cp "$CONTEXT/package.json" "$CONTEXT/package-lock.json" "$APP/"
(cd "$APP" && "${RUNTIME_NPM_CI[@]}") >"$WORK/runtime-npm-ci.log" 2>&1 \
  || { show_tail "$WORK/runtime-npm-ci.log"; fail "runtime stage: ${RUNTIME_NPM_CI[*]}"; }
cp -R "$CONTEXT/dist" "$APP/dist"
mkdir -p "$APP/.data"
for dev in typescript tap mongodb-memory-server-core; do
  [[ ! -e "$APP/node_modules/$dev" ]] || fail "runtime stage: $dev is installed, but the image must not contain it"
done

# --- Database -----------------------------------------------------------------------
throwaway_db=false
if [[ -n "${MONGODB_URI:-}" ]]; then
  DATABASE_URI="$MONGODB_URI"
  log "database: MONGODB_URI from the environment"
else
  db="$(embedded_db start "$WORK/db" 2>"$WORK/db.log")" \
    || { show_tail "$WORK/db.log"; fail "could not start a throwaway database (set MONGODB_URI to use a running one)"; }
  read -r DB_PID DATABASE_URI <<<"$db"
  throwaway_db=true
  log "database (throwaway): $(tail -n 1 "$WORK/db.log" | sed 's/^embedded-db: //')"
fi

# --- 4. Start the image's CMD -----------------------------------------------------------
# A container starts with the image's ENV and nothing of this shell's environment;
# its PATH holds node and nothing else (no mongod, go or ferretdb).
ln -s "$(command -v node)" "$WORK/bin/node"
PORT="$(embedded_db free-port)"
BASE="http://127.0.0.1:$PORT"
container_env=(env -i "PATH=$WORK/bin" "HOME=$WORK/home" "${IMAGE_ENV[@]}" "PORT=$PORT")

log "starting: ${IMAGE_CMD[*]} (PORT=$PORT)"
(cd "$APP" && exec "${container_env[@]}" "MONGODB_URI=$DATABASE_URI" "${IMAGE_CMD[@]}") >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

http() { # http <method> <path> [json body] [bearer]: prints "<status> <body>"
  node -e '
    const [method, url, body, token] = process.argv.slice(1)
    const headers = {}
    if (body) headers["content-type"] = "application/json"
    if (token) headers.authorization = `Bearer ${token}`
    fetch(url, { method, headers, body: body || undefined, signal: AbortSignal.timeout(5000) })
      .then(async (res) => { console.log(res.status, await res.text()) }, () => { console.log(0) })
  ' "$1" "$BASE$2" "${3:-}" "${4:-}"
}

deadline=$((SECONDS + READY_TIMEOUT_S))
ready=""
while ((SECONDS < deadline)); do
  has_exited "$SERVER_PID" && { show_tail "$WORK/server.log"; fail "the server exited during start-up"; }
  ready="$(http GET /health/ready)"
  [[ "$ready" == 200* ]] && break
  sleep 0.5
done
[[ "$ready" == 200* ]] || { show_tail "$WORK/server.log"; fail "GET /health/ready did not answer 200 within ${READY_TIMEOUT_S} s (last answer: ${ready:-none})"; }
log "GET /health/ready: $ready"

# The HEALTHCHECK, run as Docker would (in the container's environment).
(cd "$APP" && "${container_env[@]}" "${HEALTHCHECK[@]}") || fail "the Dockerfile's HEALTHCHECK fails against a ready server (exit $?)"
log "HEALTHCHECK: healthy"
unused_port="$(embedded_db free-port)"
if (cd "$APP" && "${container_env[@]}" "PORT=$unused_port" "${HEALTHCHECK[@]}") 2>/dev/null; then
  fail "the Dockerfile's HEALTHCHECK succeeds with no server listening (port $unused_port)"
fi
log "HEALTHCHECK: unhealthy when nothing answers"

if $throwaway_db; then
  user="recipe$RANDOM$RANDOM"
  password="recipe check $RANDOM$RANDOM$RANDOM"
  res="$(http POST /auth/register "{\"username\":\"$user\",\"password\":\"$password\"}")"
  [[ "$res" == 201* ]] || { show_tail "$WORK/server.log"; fail "POST /auth/register answered: $res"; }
  res="$(http POST /auth/login "{\"username\":\"$user\",\"password\":\"$password\"}")"
  [[ "$res" == 200* ]] || { show_tail "$WORK/server.log"; fail "POST /auth/login answered: $res"; }
  token="$(node -e 'console.log(JSON.parse(process.argv[1].slice(4)).access_token)' "$res")"
  res="$(http GET /auth/verify "" "$token")"
  [[ "$res" == 204* ]] || fail "GET /auth/verify answered: $res"
  log "register, login and verify: 201, 200, 204"
else
  res="$(http GET /.well-known/jwks.json)"
  [[ "$res" == 200* ]] || fail "GET /.well-known/jwks.json answered: $res"
  log "GET /.well-known/jwks.json: 200 (register and login skipped: MONGODB_URI is not a throwaway database)"
fi

# --- 5. SIGTERM -------------------------------------------------------------------------
log "sending SIGTERM"
kill -TERM "$SERVER_PID"
has_exited "$SERVER_PID" "$STOP_TIMEOUT_S" \
  || { show_tail "$WORK/server.log"; fail "the server was still running ${STOP_TIMEOUT_S} s after SIGTERM"; }
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[[ $rc -eq 0 ]] || { show_tail "$WORK/server.log"; fail "the server exited with status $rc after SIGTERM (expected 0)"; }
log "stopped after SIGTERM with status 0"

# --- 6. Without MONGODB_URI -------------------------------------------------------------
# The image has no database of its own: the CMD must refuse to start, with one clear line.
rc=0
(cd "$APP" && exec "${container_env[@]}" "${IMAGE_CMD[@]}") >"$WORK/no-db.log" 2>&1 &
SERVER_PID=$!
has_exited "$SERVER_PID" 30 \
  || { show_tail "$WORK/no-db.log"; fail "without MONGODB_URI the server was still running after 30 s (expected it to refuse to start)"; }
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
if [[ $rc -eq 0 ]] || ! grep -q "No MongoDB available" "$WORK/no-db.log"; then
  show_tail "$WORK/no-db.log"
  fail "without MONGODB_URI the server should exit non-zero with 'No MongoDB available' (exit $rc)"
fi
log "without MONGODB_URI: refuses to start (exit $rc): $(grep -m1 -o 'No MongoDB available[^[]*' "$WORK/no-db.log" | sed 's/[[:space:]]*$//')"
