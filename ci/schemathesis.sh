#!/usr/bin/env bash
# Property-based API tests generated from the service's own OpenAPI document (schemathesis).
#
# Starts the real binary on a free loopback port over a fresh SQLite file, registers a user for
# a token, and lets schemathesis throw generated requests (valid and invalid) at every
# operation of GET /openapi.json. Fails on any 5xx, any response whose status, content type,
# headers or body the document does not describe, and the rest of schemathesis' checks but
# the few that ci/schemathesis.toml turns off, each with its reason.
#
# Environment:
#   SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase (default 150)
#   SCHEMATHESIS_MAX_TIME      time budget in seconds for all three runs together (default 240)
#   SCHEMATHESIS_SEED          seed, for reproducing a run (default: random, printed)
#   SCHEMATHESIS_VENV          where to install schemathesis (default ~/.cache/kitchen-api/...)
#   KITCHEN_API_BIN            server binary (default: cargo build, then target/debug/kitchen-api)
# Extra arguments are passed to `schemathesis run` (e.g. --include-path-regex '^/users/me').
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-240}"
SEED="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"
VENV="${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kitchen-api/schemathesis-venv}"

# --- schemathesis, pinned, in its own venv -------------------------------------------------
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$VENV" && python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

# --- the server -----------------------------------------------------------------------------
if [[ -z "${KITCHEN_API_BIN:-}" ]]; then
  cargo build --quiet --bin kitchen-api
  KITCHEN_API_BIN=target/debug/kitchen-api
fi
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# Cheap hashing, and throttles off or far above what a run produces: the tool is one client
# address sending thousands of failed logins and registrations on purpose, which is exactly
# what the throttles are for. Tokens per user are not capped, so that the logins of a run
# never evict the token it is using.
export DATABASE_URL="sqlite://$WORK/schemathesis.db" \
  KITCHEN_API_BIND="127.0.0.1:$PORT" \
  KITCHEN_API_ARGON2_MEMORY_KIB=64 \
  KITCHEN_API_ARGON2_ITERATIONS=1 \
  KITCHEN_API_LOGIN_ACCOUNT_FREE_FAILURES=1000000 \
  KITCHEN_API_LOGIN_ADDRESS_FREE_FAILURES=1000000 \
  KITCHEN_API_REGISTRATIONS_PER_ADDRESS=0 \
  KITCHEN_API_CODE_MAILS_PER_ADDRESS=0 \
  KITCHEN_API_CODE_MAILS_PER_ACCOUNT=0 \
  KITCHEN_API_MAX_TOKENS_PER_USER=1000000 \
  KITCHEN_API_MAIL_BACKEND=log \
  KITCHEN_API_LOG=warn

# The staff operations need a superuser (created before the server starts, so it is the only
# one: it can then never demote or deactivate itself, the service refuses that).
ADMIN_EMAIL="admin@example.com" USER_EMAIL="schemathesis@example.com"
PASSWORD="generated requests all day long"
echo "$PASSWORD" | "$KITCHEN_API_BIN" createsuperuser --email "$ADMIN_EMAIL" >"$WORK/admin.log" 2>&1 ||
  { cat "$WORK/admin.log"; exit 1; }

"$KITCHEN_API_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$BASE/openapi.json" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "server exited"; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/openapi.json" || { cat "$WORK/server.log"; exit 1; }

curl -fsS -o /dev/null -X POST "$BASE/users/" -H 'Content-Type: application/json' \
  -d "{\"email\": \"$USER_EMAIL\", \"password\": \"$PASSWORD\"}"
# A fresh token for each run: a run may end the sessions it was given.
new_token() {
  curl -fsS -X POST "$BASE/token/" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# Checks: all of schemathesis' checks (the default), but for the exceptions listed, with their
# reasons, in ci/schemathesis.toml.
run_st() {
  local label="$1" token="$2" budget="$3"
  shift 3
  echo "---- schemathesis: $label (seed $SEED, $MAX_EXAMPLES examples per operation and phase, ${budget}s) ----"
  rm -rf "$WORK/report"
  "$VENV/bin/schemathesis" --config-file ci/schemathesis.toml run "$BASE/openapi.json" \
    --header "Authorization: Token $token" \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$budget" \
    --seed "$SEED" \
    --phases examples,coverage,fuzzing \
    --request-timeout 10 \
    --workers 4 \
    --suppress-health-check all \
    --no-color \
    --report junit --report-dir "$WORK/report" \
    "$@" || true
  judge "$label"
}

# A run fails on what it found, not on how schemathesis itself fared: its exit code is the same
# for a failed check and for an internal error of the tool (4.x has crashed in its coverage
# phase with a KeyError while every check had passed). The JUnit report tells them apart:
# <failure> is a check that failed, <error> an error of the run (printed, not fatal).
judge() {
  python3 - "$1" "$WORK/report" <<'PY' || status=1
import pathlib, sys
import xml.etree.ElementTree as ET
label, folder = sys.argv[1], pathlib.Path(sys.argv[2])
reports = sorted(folder.glob("*.xml"))
if not reports:
    print(f"schemathesis {label}: no report written (the tool failed to run; see above)")
    sys.exit(0)
cases = failures = errors = 0
for report in reports:
    root = ET.parse(report).getroot()
    for case in root.iter("testcase"):
        cases += 1
        failures += len(case.findall("failure"))
        errors += len(case.findall("error"))
print(f"schemathesis {label}: {cases} operations, {failures} failed checks, {errors} tool errors")
sys.exit(1 if failures else 0)
PY
}

# Operations that end sessions: with the run's own token they would kill it, and every later
# request of that run would be a 401 that tests nothing. They get a run (and tokens) of their own.
SESSION_ENDING='^/logout|^/users/me/sessions/\{id\}|^/users/\{id\}/revoke-tokens'
status=0
# 1. Everything a plain user does (staff operations are only 403 for them).
run_st "user operations" "$(new_token "$USER_EMAIL")" "$((MAX_TIME * 6 / 10))" \
  --exclude-tag staff --exclude-path-regex "$SESSION_ENDING" "$@"
# 2. The staff operations, as the superuser.
run_st "staff operations" "$(new_token "$ADMIN_EMAIL")" "$((MAX_TIME * 25 / 100))" \
  --include-tag staff --exclude-path-regex "$SESSION_ENDING" "$@"
# 3. The session-ending operations, as the superuser (revoking tokens is staff-only).
run_st "session-ending operations" "$(new_token "$ADMIN_EMAIL")" "$((MAX_TIME * 15 / 100))" \
  --include-path-regex "$SESSION_ENDING" "$@"

if grep -q 'panicked\|ERROR' "$WORK/server.log"; then
  echo "---- server log: errors ----"
  grep 'panicked\|ERROR' "$WORK/server.log" | head -n 50
  status=1
fi
exit "$status"
