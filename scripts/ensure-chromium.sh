#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (Playwright drives it
# with executable_path; Playwright's own browser download is never used), then print its path.
#
# Installs the `chromium` package with apt-get when it is missing (needs root). Idempotent;
# silent on success apart from the path on stdout (and a line on stderr for anything it had to
# change); loud and non-zero on failure.
set -euo pipefail

readonly BROWSER=/usr/bin/chromium

note() { echo "ensure-chromium: $*" >&2; }
die() {
    echo "ensure-chromium: ERROR: $*" >&2
    exit 1
}

# Run a command quietly; on failure show what it said and stop.
quietly() {
    local output
    if ! output=$("$@" 2>&1); then
        echo "$output" >&2
        die "failed: $*"
    fi
}

browser_runs() {
    "$BROWSER" --headless --no-sandbox --version >/dev/null 2>&1
}

main() {
    if [[ ! -x $BROWSER ]]; then
        [[ $(id -u) -eq 0 ]] || die "installing chromium needs root (or: apt-get install chromium)"
        note "installing chromium with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        # A fresh machine (or container) has no package lists yet.
        quietly apt-get update -q
        quietly apt-get install -y -q --no-install-recommends chromium
    fi
    browser_runs || die "$BROWSER is installed but does not start (try: $BROWSER --headless --version)"
    echo "$BROWSER"
}

main "$@"
