#!/usr/bin/env bash
# Install a headless browser for the report's browser test (tests/compare/test_report_browser.py)
# and print where it is.
#
# Debian's `chromium` package, from apt, when no Chromium is on PATH (Playwright's own browser
# download needs a host CI may not reach; the test drives this binary through Playwright's
# `executable_path`). Everything it says goes to stderr; stdout carries one line,
#
#   export METASEARCH_CHROMIUM=/usr/bin/chromium
#
# for `.ci/run` to source. Best-effort: without root or apt it fails, and the test skips,
# saying why. Running it again is harmless.
set -euo pipefail
exec 3>&1 1>&2

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends chromium
  browser=$(command -v chromium)
fi
"$browser" --version
echo "export METASEARCH_CHROMIUM=$browser" >&3
