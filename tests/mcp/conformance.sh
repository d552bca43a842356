#!/bin/sh
# The MCP conformance suite's client scenarios that apply to lfm, a client that lists and calls
# tools, run against `lfm mcp` (the suite starts a test server and appends its URL to the
# command). Scenarios that do not apply: auth/* (lfm does no OAuth; an Authorization header is
# given in the configuration) and elicitation-sep1034-client-defaults (lfm offers no elicitation).
#   tests/mcp/conformance.sh LFM_BINARY [RESULTS_DIR]
# Exit 0: every scenario passed; 77: skipped (no node_modules, or no Node 22 to be had).
# The suite needs Node >= 22: node itself when it is that new, else Node 22 from npm (npx -p node@22).
set -u
lfm=$1
here=$(cd "$(dirname "$0")" && pwd)
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -f "$suite" ]; then
    echo "skipped: tests/mcp/node_modules is missing (npm ci --prefix tests/mcp, which .ci/deps runs)"
    exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 22 ]; then
    node22="node"
elif npx -y -p node@22 -- node --version >/dev/null 2>&1; then
    node22="npx -y -p node@22 -- node"
else
    echo "skipped: the conformance suite needs Node >= 22 (node is v$major, and npx -p node@22 failed)"
    exit 77
fi
results=${2:-$(mktemp -d)}
status=0
run() {
    scenario=$1
    shift
    # The suite splits the command at spaces and runs it with a shell: quote for that shell.
    if ! $node22 "$suite" client --scenario "$scenario" --command "$*" --timeout 30000 -o "$results"; then
        echo "FAILED: $scenario" >&2
        status=1
    fi
}
run initialize "$lfm mcp --url"
run tools_call "$lfm mcp --call add_numbers --args '{\"a\":5,\"b\":3}' --url"
run sse-retry "$lfm mcp --call test_reconnection --url"
exit $status
