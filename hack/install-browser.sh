#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser tests (tests/browser), driven by the
# pinned Playwright (its bundled Chromium major should match; a test prints both).
# Installs with apt when run as root and chromium is missing; otherwise only reports,
# and the browser tests skip (or fail, with WEB4AI_REQUIRE_BROWSER=1 as in .ci/run).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[browser] installing chromium with apt" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  chromium --version >&2
else
  echo "[browser] chromium is not installed and this is not root: the browser tests will skip" >&2
  echo "[browser] (as root: apt-get install chromium)" >&2
fi
