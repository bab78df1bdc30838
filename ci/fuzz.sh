#!/usr/bin/env bash
# Short (or long) libFuzzer runs of every target in fuzz/, when a nightly toolchain exists.
#
#   ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 20 seconds, every target
#
# Without nightly it says so and exits 0: fuzzing needs -Z sanitizer flags that stable lacks.
# Installs cargo-fuzz (crates.io) when nightly is there and cargo-fuzz is not. Corpora grow in
# fuzz/corpus/<target>/ (git-ignored), seeded from fuzz/seeds/<target>/; a crash is saved in
# fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${1:-20}"
shift || true
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "no nightly toolchain (rustup toolchain list): skipping cargo fuzz"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
cargo fuzz --version

TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
# The sanitizer build of the fuzz crate takes many minutes from scratch; keep it outside the
# clone so CI runs on the same machine reuse it (override with CARGO_TARGET_DIR). Set before
# the build: the runs below must find what it built.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kitchen-api/fuzz-target}"
mkdir -p "$CARGO_TARGET_DIR"
cargo +nightly fuzz build -O
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
for target in "${TARGETS[@]}"; do
  mkdir -p "corpus/$target"
  echo "---- $target: ${SECONDS_PER_TARGET}s ----"
  # -max_len: bodies are capped at 64 KiB by the server; headers are far shorter.
  status=0
  cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$LOGS/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY|Test unit written|Done [0-9]+ runs)|panicked' \
    "$LOGS/$target.log" || true
  if [[ $status -ne 0 ]]; then
    tail -n 40 "$LOGS/$target.log"
    echo "cargo fuzz run $target failed (exit $status)"
    exit 1
  fi
done
