#!/usr/bin/env bash
# Runs convoke's composition benchmarks and the TypeScript peers, prints one table, and
# rewrites the generated part of docs/performance.md.
#
#   bench/run.sh            # full run (a few minutes)
#   bench/run.sh --quick    # shorter runs, noisier figures; docs/performance.md untouched
#
# Needs cargo (the pinned toolchain), Node.js >= 20 and npm (the peers are installed from
# bench/peers/package-lock.json with `npm ci` when bench/peers/node_modules is missing).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

quick=false
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
  esac
done

if $quick; then
  criterion_args=(--warm-up-time 0.5 --measurement-time 1)
  peer_args=(--processes 3 --runs 5 --run-ms 100 --warmup-ms 500)
else
  criterion_args=()
  peer_args=(--processes 5 --runs 5 --run-ms 200 --warmup-ms 1000)
fi

target_dir=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')}
out="$target_dir/convoke-bench"
mkdir -p "$out"

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

echo "== convoke (cargo bench --bench composition)"
cargo bench --bench composition -- "${criterion_args[@]}"

echo "== TypeScript peers (bench/peers)"
if [ ! -d bench/peers/node_modules ]; then
  (cd bench/peers && npm ci --no-audit --no-fund)
fi
node bench/peers/run.mjs "${peer_args[@]}" --out "$out/peers.json"

load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

echo "== convoke vs peers"
report_args=(--rust "$out/rust.json" --peers "$out/peers.json"
  --load-before "$load_before" --load-after "$load_after")
if ! $quick; then
  report_args+=(--write "$root/docs/performance.md")
fi
node bench/report.mjs "${report_args[@]}"
