#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 10), one after the other, and
# prints executions and corpus size per target. Needs the nightly toolchain and cargo-fuzz
# (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
#
#   bash scripts/fuzz.sh            # 10 s per target
#   bash scripts/fuzz.sh 600        # 10 minutes per target
#   FUZZ_TARGETS="exif_head archive" bash scripts/fuzz.sh 60
#
# Corpora grow in fuzz/corpus/<target> (not in git); the committed seeds in fuzz/seeds/<target>
# and, for exif_head, the first 68 KiB of every photo in fixtures/camera-samples start them.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes this script fail at the end;
# replay it with `cargo +nightly fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
case "$seconds" in
'' | *[!0-9]*)
    echo "fuzz.sh: SECONDS must be a whole number, not ${seconds@Q}" >&2
    exit 2
    ;;
esac
read -r -a targets <<<"${FUZZ_TARGETS:-sync_reply shell_v2 helper_output exif_head archive manifest selection}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain; install it with: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz" >&2
    exit 1
fi

# Seeds from the repository's real photos: the head the preview pipeline reads (68 KiB).
mkdir -p fuzz/corpus/exif_head
for photo in fixtures/camera-samples/*; do
    case "$photo" in *.tsv) continue ;; esac
    seed="fuzz/corpus/exif_head/fixture-$(basename "$photo")"
    [ -e "$seed" ] || head -c 69632 "$photo" >"$seed"
done

# One build for every target: release with debug assertions (overflow checks on) and
# AddressSanitizer for the unsafe code in dependencies (zip, aes, image decoders).
fuzz=(cargo +nightly fuzz)
build_flags=(--debug-assertions)
start=$(date +%s)
"${fuzz[@]}" build "${build_flags[@]}" >&2
echo "fuzz.sh: built the fuzz targets in $(($(date +%s) - start)) s" >&2

mkdir -p fuzz/target/logs
failed=()
printf '%-14s %12s %10s %8s\n' target executions exec/s corpus
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/target/logs/$target.log"
    seeds=()
    [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
    # -timeout: one input taking 10 s is a hang, reported like a crash.
    if ! "${fuzz[@]}" run "${build_flags[@]}" "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        failed+=("$target")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    printf '%-14s %12s %10s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "$corpus"
done

if [ "${#failed[@]}" -gt 0 ]; then
    for target in "${failed[@]}"; do
        echo "fuzz.sh: $target failed; the end of fuzz/target/logs/$target.log:" >&2
        tail -n 40 "fuzz/target/logs/$target.log" >&2
    done
    exit 1
fi
