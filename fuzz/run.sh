#!/usr/bin/env bash
# Runs convoke's fuzz targets (libFuzzer through cargo-fuzz) on the pinned stable toolchain.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); the targets are convex_json, http_body,
# document_fields and sync_message (default: all four, one after the other). Installs cargo-fuzz if it is
# missing. Exits non-zero at the first crash; the input is then in fuzz/artifacts/<target>/
# and `cargo fuzz run -s none -O <target> <file>` replays it. See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(convex_json http_body document_fields sync_message)
fi
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# cargo-fuzz passes unstable (-Z) flags to rustc; libFuzzer itself needs no nightly.
export RUSTC_BOOTSTRAP=1
# No sanitizer (`-s none`): the fuzzed code is safe Rust, and a sanitizer would need its
# runtime from a nightly toolchain. Panics (failed checks included) are the findings.
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    cargo fuzz run -s none -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
done
