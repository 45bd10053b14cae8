#!/usr/bin/env bash
# Runs each fuzz target for $1 seconds (default 600) on one core, logging to fuzz-<target>.log.
# Uses the nightly toolchain if installed, else RUSTC_BOOTSTRAP=1 on stable.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
[ -d corpus/stream ] || ./seed.sh
if cargo +nightly --version >/dev/null 2>&1; then tc=(+nightly); else tc=(); export RUSTC_BOOTSTRAP=1; fi
for t in stream checksummed; do
  cargo "${tc[@]}" fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
    > "fuzz-$t.log" 2>&1 || echo "target $t FAILED: see fuzz-$t.log and artifacts/$t"
  tail -n 3 "fuzz-$t.log"
done
