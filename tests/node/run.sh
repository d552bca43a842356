#!/bin/sh
# ctest's entry to the SDK tests: runs `node --test FILE` (a file of this folder), or exits 77,
# which ctest reports as skipped, when what they need is missing: Node 18 or newer, the npm
# packages (`npm ci --prefix tests/node`, which .ci/deps runs), the lfm binary or the model.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: node is not installed (.ci/deps installs Debian's nodejs and npm)"; exit 77
fi
if ! major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null); then
    echo "skipped: node does not run here ($(command -v node))"; exit 77
fi
if [ "$major" -lt 18 ]; then
    echo "skipped: node $(node --version) is older than 18 (node --test)"; exit 77
fi
if [ ! -d "$here/node_modules/openai" ] || [ ! -d "$here/node_modules/@anthropic-ai/sdk" ]; then
    echo "skipped: $here/node_modules is missing (run: npm ci --prefix tests/node)"; exit 77
fi
if [ ! -x "${LFM_CLI:-}" ]; then
    echo "skipped: LFM_CLI (${LFM_CLI:-unset}) is not an executable"; exit 77
fi
if [ ! -f "${LFM_MODEL:-}" ]; then
    echo "skipped: the model ${LFM_MODEL:-(LFM_MODEL unset)} is absent (../shared/reference)"; exit 77
fi
exec node --test "$here/$1"
