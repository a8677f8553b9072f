#!/usr/bin/env bash
# Install what the browser end-to-end test (tests/e2e) needs: Debian's Chromium + the playwright driver.
#
# Exits 0 even when Chromium cannot be installed: tests/e2e then SKIPS with a clear message instead of
# failing, and this script prints a WARNING line saying so. A failing `pip install` is a real error.
# Never runs `playwright install` (that downloads a browser build and fails without internet).
set -uo pipefail

cd "$(dirname "$0")/.."

chromium_path() {
    command -v chromium || command -v chromium-browser || true
}

if [ -n "$(chromium_path)" ]; then
    echo "install-browser: chromium already installed: $(chromium_path)"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
    fi
    if command -v apt-get >/dev/null 2>&1; then
        echo "install-browser: apt-get install chromium"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -q \
            && $SUDO apt-get install -y -q --no-install-recommends chromium \
            || echo "install-browser: apt-get failed (see above)"
    else
        echo "install-browser: apt-get not found"
    fi
    if [ -n "$(chromium_path)" ]; then
        echo "install-browser: chromium installed: $(chromium_path)"
    else
        echo "WARNING: install-browser: Chromium could NOT be installed; the browser e2e test (tests/e2e) will be SKIPPED."
    fi
fi

echo "install-browser: pip install -r requirements-e2e.txt"
python -m pip install -q -r requirements-e2e.txt || { echo "ERROR: install-browser: pip install -r requirements-e2e.txt failed" >&2; exit 1; }
python -c "import playwright, importlib.metadata as m; print('install-browser: playwright', m.version('playwright'))"
