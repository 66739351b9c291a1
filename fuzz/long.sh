#!/usr/bin/env bash
# The long runs behind RELIABILITY.md: each target given (default: all) for RUNS executions
# (default 10^7), one after the other, growing the repo's corpus; prints a table row per target.
# Then minimize the corpus: `cargo +nightly fuzz cmin -s none <target>`.
set -euo pipefail
cd "$(dirname "$0")"
runs="${RUNS:-10000000}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/mes-fuzz-nightly}"
logs="${LOG_DIR:-$(mktemp -d)}"
cargo +nightly fuzz build -s none --target-dir "$target_dir"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    dict=()
    case "$target" in
        edge_config | central_config) dict=("-dict=dict/toml.dict") ;;
        sync_messages) dict=("-dict=dict/json.dict") ;;
    esac
    start=$(date +%s)
    status=ok
    cargo +nightly fuzz run -s none --target-dir "$target_dir" "$target" "corpus/$target" -- \
        -runs="$runs" -rss_limit_mb=512 -timeout=5 -print_final_stats=1 "${dict[@]}" \
        >"$logs/$target.log" 2>&1 || status=crash
    wall=$(($(date +%s) - start))
    execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$logs/$target.log" | grep -oE '[0-9]+$' || echo "?")
    echo "$target	$execs	${wall}s	$status	$logs/$target.log"
done
