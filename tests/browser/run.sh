#!/bin/sh
# ctest's entry to the chat-page test (ServeWebPageChromium): runs `node --test webpage.test.mjs`,
# or exits 77, which ctest reports as skipped, when what it needs is missing: Node 18 or newer,
# Debian's Chromium (/usr/bin/chromium), playwright-core (`npm ci --prefix tests/browser`, which
# .ci/deps runs), the lfm binary (LFM_CLI) or the model (LFM_MODEL).
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: node is not installed (.ci/deps installs Debian's nodejs and npm)"; exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ]; then
    echo "skipped: node $(node --version) is older than 18 (node --test)"; exit 77
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "skipped: ${CHROMIUM:-/usr/bin/chromium} is missing (Debian's chromium; .ci/deps installs it)"; exit 77
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "skipped: $here/node_modules is missing (run: npm ci --prefix tests/browser)"; exit 77
fi
if [ ! -x "${LFM_CLI:-}" ]; then
    echo "skipped: LFM_CLI (${LFM_CLI:-unset}) is not an executable"; exit 77
fi
if [ ! -f "${LFM_MODEL:-}" ]; then
    echo "skipped: the model ${LFM_MODEL:-(LFM_MODEL unset)} is absent (../shared/reference)"; exit 77
fi
exec node --test "$here/webpage.test.mjs"
