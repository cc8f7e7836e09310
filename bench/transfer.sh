#!/usr/bin/env bash
# Runs the transfer benchmark (issue 13: the keynote-2 workload on every engine, beside
# direct SQL) in release, prints its table, and rewrites the generated part of
# docs/performance-contention.md (between the transfer-results markers).
#
#   bench/transfer.sh                              # the full run (about 16 minutes)
#   CONVOKE_TRANSFER_SECS=5 bench/transfer.sh      # shorter timed runs, noisier figures
#
# Settings (environment): CONVOKE_TRANSFER_ACCOUNTS (default 100000), CONVOKE_TRANSFER_SECS
# (timed run per case, default 20), CONVOKE_TRANSFER_WARMUP (default 2),
# CONVOKE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; without a
# server the PostgreSQL rows read NOT RUN). CONVOKE_TRANSFER_NO_WRITE=1 leaves the doc alone.
set -euo pipefail

cd "$(dirname "$0")/.."
doc=docs/performance-contention.md
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# What is measured: the commit checked out when the run starts (the build happens then).
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- src macros benches Cargo.toml Cargo.lock 2>/dev/null; then
  rev="$rev + uncommitted changes"
fi
rustc_version=$(rustc --version 2>/dev/null || echo "rustc unknown")
started=$(date -u '+%Y-%m-%d %H:%M UTC')

# The table goes to stdout (captured), progress lines to stderr (the terminal).
cargo bench --bench transfer | tee "$out"

stamp="Measured $started (start of the run) at commit $rev, $rustc_version, \`cargo bench --bench transfer\` (release)."

if [ "${CONVOKE_TRANSFER_NO_WRITE:-0}" = 1 ]; then
  exit 0
fi
if ! grep -q '^<!-- transfer-results:begin -->$' "$out"; then
  echo "bench/transfer.sh: no results in the bench's output; $doc left alone" >&2
  exit 1
fi

python3 - "$doc" "$out" "$stamp" <<'PY'
import re, sys
doc_path, out_path, stamp = sys.argv[1:4]
out = open(out_path, encoding="utf-8").read()
m = re.search(r"^<!-- transfer-results:begin -->\n(.*?)^<!-- transfer-results:end -->\n", out, re.S | re.M)
block = "<!-- transfer-results:begin -->\n" + stamp + "  \n" + m.group(1) + "<!-- transfer-results:end -->\n"
doc = open(doc_path, encoding="utf-8").read()
pattern = re.compile(r"^<!-- transfer-results:begin -->\n.*?^<!-- transfer-results:end -->\n", re.S | re.M)
if pattern.search(doc):
    doc = pattern.sub(lambda _: block, doc, count=1)
else:
    doc = doc.rstrip("\n") + "\n\n" + block
open(doc_path, "w", encoding="utf-8").write(doc)
print(f"wrote {doc_path}", file=sys.stderr)
PY
