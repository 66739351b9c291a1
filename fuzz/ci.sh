#!/usr/bin/env bash
# A short run of every fuzz target (issue 11): each target for FUZZ_SECONDS (default 12) from
# the corpus kept in the repo, failing on any crash, panic, hang (-timeout) or unbounded
# allocation (-rss_limit_mb). The long runs and their figures are in RELIABILITY.md.
#
# cargo-fuzz wants a nightly toolchain (it passes unstable flags to rustc). With nightly
# installed it is used; a machine with only the stable toolchain (and none can be fetched)
# builds the same targets with RUSTC_BOOTSTRAP=1, which lets stable rustc take those flags, for
# this test build only. Installs cargo-fuzz when missing. Build artefacts go outside the clone
# (FUZZ_TARGET_DIR), so a run after the first one only rebuilds what changed. New inputs found
# go to a scratch directory, never into the repo's corpus.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-12}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/mes-fuzz}"

if cargo +nightly --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz/ci.sh: no nightly toolchain; building with the stable one and RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

start=$SECONDS
# No sanitizer: the code under test is safe Rust; libFuzzer's coverage, debug assertions
# (integer overflow is a panic) and its RSS and time limits are what find our bugs.
"${fuzz[@]}" build -s none --target-dir "$target_dir"
echo "fuzz/ci.sh: build took $((SECONDS - start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in $("${fuzz[@]}" list); do
    mkdir -p "$scratch/$target" "corpus/$target"
    dict=()
    case "$target" in
        edge_config | central_config) dict=("-dict=dict/toml.dict") ;;
        sync_messages) dict=("-dict=dict/json.dict") ;;
    esac
    echo "== fuzz $target (${seconds} s)"
    if ! "${fuzz[@]}" run -s none --target-dir "$target_dir" "$target" \
        "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 -print_final_stats=1 \
        "${dict[@]}" >"$scratch/$target.log" 2>&1; then
        failed+=("$target")
        tail -n 60 "$scratch/$target.log"
    else
        grep -E '^stat::number_of_executed_units' "$scratch/$target.log" | sed "s/^/$target: /" || true
    fi
done
echo "fuzz/ci.sh: $((SECONDS - start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz/ci.sh: crashes in ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
