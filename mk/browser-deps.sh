#!/usr/bin/env bash
# Debian's Chromium and chromedriver for tests/test_serve_browser.py, installed with care (make browser-deps):
# nothing when Chromium is there or BROWSER_DEPS=skip; otherwise it says what it will install before it starts,
# installs without recommended packages, and installs nothing at all when apt would have to upgrade a package
# that is already installed (it lists them instead). The browser test is skipped while Chromium is absent.
#   usage: mk/browser-deps.sh install|skip PACKAGE...      (CHROMIUM: the binary to look for)
set -euo pipefail
mode=$1
shift
chromium=${CHROMIUM:-/usr/bin/chromium}
say() { echo "browser-deps: $*"; }

if [ -x "$chromium" ]; then
    say "chromium present ($chromium)"
    exit 0
fi
if [ "$mode" = skip ] || ! command -v apt-get >/dev/null; then
    say "not installing Chromium (BROWSER_DEPS=$mode); tests/test_serve_browser.py will be skipped"
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
say "tests/test_serve_browser.py needs Chromium: installing Debian's $* with apt-get as root,"
say "without recommended packages and upgrading nothing already installed (BROWSER_DEPS=skip to skip this)."
$sudo apt-get update -qq
plan=$(apt-get install --simulate --no-install-recommends "$@")
upgrades=$(grep -E '^Inst [^ ]+ \[' <<<"$plan" || true)
if [ -n "$upgrades" ]; then
    say "not installing: apt would upgrade these installed packages:"
    sed -E 's/^Inst ([^ ]+) \[([^]]+)\] \(([^ ]+).*/  \1 \2 -> \3/' <<<"$upgrades"
    say "install $* yourself to run the browser test; it is skipped without Chromium."
    exit 0
fi
new=$(grep -E '^Inst ' <<<"$plan" | awk '{print $2}' | tr '\n' ' ')
say "installing $(wc -w <<<"$new") new packages: $new"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-upgrade "$@"
