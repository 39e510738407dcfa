#!/usr/bin/env bash
# Runs the Python example against a Warden started here: builds Warden, starts it on a free loopback
# port (its embedded database unless MONGODB_URI is set), creates a service client, installs the
# example's requirements in a virtualenv and runs check.py. Exit status 0 when every check holds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${EXAMPLE_VENV:-$root/.venv-examples}"
work="$(mktemp -d "${TMPDIR:-/tmp}/warden-python-example.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

cd "$root"
[[ -f dist/src/server.js && -f dist/src/verifier/index.js ]] || npm run -s build
node -e "require('warden/verifier')" # the package's subpath export resolves

port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
export DATA_DIR="$work/data" PORT="$port" HOST=127.0.0.1 LOG_LEVEL=warn RATE_LIMIT_AUTH_MAX=0
node dist/src/server.js &
pid=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "warden exited before it was ready"; exit 1; }
  sleep 0.1
done
client="$(node dist/src/cli.js client create "python example" --json)"

export WARDEN_URL="http://127.0.0.1:$port"
WARDEN_CLIENT_ID="$(node -pe "JSON.parse(process.argv[1]).client_id" "$client")"
WARDEN_CLIENT_SECRET="$(node -pe "JSON.parse(process.argv[1]).client_secret" "$client")"
export WARDEN_CLIENT_ID WARDEN_CLIENT_SECRET
cd "$here"
"$venv/bin/python" check.py
