#!/bin/sh
# Install Debian's chromium for the browser test of rendered reports, when it is missing.
# Needs root (as on CI); otherwise it says so and the browser test skips.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure-chromium: chromium missing and not root; the browser test will skip" >&2; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || \
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
    echo "ensure-chromium: could not install chromium; the browser test will skip" >&2
exit 0
