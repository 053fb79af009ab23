#!/usr/bin/env bash
# Installs what the tests need when it is missing, then runs the format check, clippy and the
# whole test suite. README and .ci/run call this; it must pass on a fresh Debian machine with
# nothing installed beyond Rust.
#
# What the tests need (all Debian packages):
#   adb     the real adb client and server (Android Debug Bridge 29, package `adb`)
#   mksh    Android's shell, run inside the simulated handset as /system/bin/sh
#   toybox  Android's command-line tools, run inside the simulated handset
#   7zip    7-Zip (`7zz`), to prove our archives open in a standard tool
#   unzip   Info-ZIP unzip, likewise for unencrypted archives
#   chromium, chromium-driver   headless Chromium and chromedriver, for the desktop client's
#           end-to-end tests (tests/ui.rs and tests/ui_restore.rs drive the real page over
#           WebDriver)
# Elsewhere: on Fedora `dnf install android-tools mksh 7zip unzip` (toybox from source);
# on macOS and Windows the simulated handset cannot run (it needs Linux namespaces): run the
# tests on Linux, or in a Debian VM. Root is not needed once the packages are installed: the
# handset then runs in an unprivileged user namespace (`unshare` from util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v adb >/dev/null 2>&1 || need+=(adb)
command -v mksh >/dev/null 2>&1 || need+=(mksh)
command -v toybox >/dev/null 2>&1 || need+=(toybox)
command -v 7zz >/dev/null 2>&1 || need+=(7zip)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: missing ${need[*]}; install them (Debian/Ubuntu: apt-get install ${need[*]}) and run again" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The simulated handset needs a private mount namespace: as root it makes one directly, as any
# other user inside an unprivileged user namespace. Say so up front when the system forbids
# those, rather than failing in every handset test.
if [ "$(id -u)" -ne 0 ] && ! unshare --user --map-root-user --mount true 2>/dev/null; then
    echo "test.sh: not root, and this system forbids unprivileged user namespaces, which the" >&2
    echo "simulated handset then needs. Enable them (as root: sysctl kernel.unprivileged_userns_clone=1," >&2
    echo "sysctl user.max_user_namespaces=15000, or on Ubuntu sysctl kernel.apparmor_restrict_unprivileged_userns=0)," >&2
    echo "or run this script as root" >&2
    exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"

# The fuzz harnesses (fuzz/) must keep building and running: every target for 3 s. They need
# the nightly toolchain; cargo-fuzz is installed when missing. Without nightly the step is
# skipped, saying so. PHONEVAULT_SKIP_FUZZ=1 skips it on purpose (the build is the slow part:
# see fuzz/README.md for the figures).
if [ -n "${PHONEVAULT_SKIP_FUZZ:-}" ]; then
    echo "test.sh: fuzz step skipped (PHONEVAULT_SKIP_FUZZ is set)" >&2
elif ! cargo +nightly --version >/dev/null 2>&1; then
    echo "test.sh: fuzz step skipped: no nightly toolchain (rustup toolchain install nightly)" >&2
else
    cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    bash scripts/fuzz.sh --quick 3
fi
