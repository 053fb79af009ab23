#!/usr/bin/env bash
# The benchmark of issue 8: builds the release binaries, then runs phonevault-bench, which
# populates simulated handsets, serves them over the usb2 and usb3 link profiles, times
# phonevault against adb pull / adb push / adb shell find, prints one table and writes it with
# the machine's description to BENCHMARKS.md.
#
#   bash scripts/bench.sh               full run: ~40 minutes, about 20 GB of free disk in the
#                                       temp folder (or --workdir DIR), median of 3 runs
#   bash scripts/bench.sh --quick       tiny phones, 1 run each, usb3 only: under two minutes;
#                                       writes target/bench/BENCHMARKS-quick.md unless --out
#   bash scripts/bench.sh --rows B1,B3  only some rows
#   bash scripts/bench.sh --help        every option
#   bash scripts/bench.sh --debug-build --quick
#                                       use the debug build (the test suite's: it checks the
#                                       table's shape, not the figures, and a release build
#                                       from scratch would double CI's time)
#
# Needs what the tests need: adb, mksh and toybox (Debian packages), and root for the
# simulated handset's mount namespace. Targets are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v "${ADB:-adb}" >/dev/null 2>&1 || missing+=(adb)
command -v mksh >/dev/null 2>&1 || missing+=(mksh)
command -v toybox >/dev/null 2>&1 || missing+=(toybox)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench.sh: missing ${missing[*]}; install them (Debian/Ubuntu: apt-get install ${missing[*]}), or run scripts/test.sh once" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: the simulated handset needs root (mount namespaces); run as root or in a VM" >&2
    exit 1
fi

profile=release
if [ "${1:-}" = --debug-build ]; then
    profile=debug
    shift
fi
if [ "$profile" = release ]; then
    cargo build --release --locked -p phonevault -p phonevault-sim -p phonevault-bench
else
    cargo build --locked -p phonevault -p phonevault-sim -p phonevault-bench
fi
bin="${CARGO_TARGET_DIR:-target}/$profile"
exec "$bin/phonevault-bench" --bin-dir "$bin" "$@"
