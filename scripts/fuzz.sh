#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 10), one after the other, and
# prints executions and corpus size per target. Needs the nightly toolchain and cargo-fuzz
# (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
#
#   bash scripts/fuzz.sh            # 10 s per target
#   bash scripts/fuzz.sh 600        # 10 minutes per target
#   bash scripts/fuzz.sh --quick 3  # what scripts/test.sh runs (see below)
#   FUZZ_TARGETS="exif_head archive" bash scripts/fuzz.sh 60
#
# The real build is optimised, with AddressSanitizer and overflow checks; it costs about
# 8 CPU-minutes from scratch. --quick builds unoptimised without a sanitizer instead (about
# 3 CPU-minutes, into fuzz/target/quick) and runs 10-50 times slower: enough to prove that
# every harness still builds and runs, which is what the test suite asks of it.
#
# Corpora grow in fuzz/corpus/<target> (not in git); the committed seeds in fuzz/seeds/<target>
# and, for exif_head, the first 68 KiB of every photo in fixtures/camera-samples start them.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes this script fail at the end;
# replay it with `cargo +nightly fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz=(cargo +nightly fuzz)
build_flags=(--debug-assertions)
corpora=fuzz/corpus
if [ "${1:-}" = "--quick" ]; then
    shift
    build_flags=(--dev --sanitizer none --target-dir fuzz/target/quick)
    # From the seeds alone, so the run does not grow with the corpora of earlier runs.
    corpora=fuzz/target/quick/corpus
    rm -rf "$corpora"
fi
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
mkdir -p "$corpora/exif_head"
for photo in fixtures/camera-samples/*; do
    case "$photo" in *.tsv) continue ;; esac
    seed="$corpora/exif_head/fixture-$(basename "$photo")"
    [ -e "$seed" ] || head -c 69632 "$photo" >"$seed"
done

# One build for every target: release with debug assertions (overflow checks on) and
# AddressSanitizer for the unsafe code in dependencies (zip, aes, image decoders).
start=$(date +%s)
"${fuzz[@]}" build "${build_flags[@]}" >&2
echo "fuzz.sh: built the fuzz targets in $(($(date +%s) - start)) s" >&2

mkdir -p fuzz/target/logs
# The archive target writes each input to a file: keep those off the disk where /dev/shm
# exists, and remove them at the end.
scratch=$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/phonevault-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"
failed=()
printf '%-14s %12s %10s %8s\n' target executions exec/s corpus
for target in "${targets[@]}"; do
    mkdir -p "$corpora/$target"
    log="fuzz/target/logs/$target.log"
    seeds=()
    [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
    # -timeout: one input taking 10 s is a hang, reported like a crash. -detect_leaks=0:
    # jpeg-decoder hands each colour component of a large JPEG to a thread it does not join,
    # and LeakSanitizer reports that thread's 48-byte handle when the run ends while one is
    # still finishing; in safe Rust a leak is not a memory error, so leaks are not hunted.
    if ! "${fuzz[@]}" run "${build_flags[@]}" "$target" "$corpora/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
        -print_final_stats=1 >"$log" 2>&1; then
        failed+=("$target")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "$corpora/$target" -type f | wc -l)
    printf '%-14s %12s %10s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "$corpus"
done

if [ "${#failed[@]}" -gt 0 ]; then
    for target in "${failed[@]}"; do
        echo "fuzz.sh: $target failed; the end of fuzz/target/logs/$target.log:" >&2
        tail -n 40 "fuzz/target/logs/$target.log" >&2
    done
    exit 1
fi
