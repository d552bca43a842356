#!/usr/bin/env bash
# lfm serve against llama.cpp's llama-server on the same GGUF file with the same threads and
# slots, rounds alternating so that a busy moment of a shared machine hits both. Not part of CI.
#
#   LLAMA_SERVER=/path/to/llama-server benchmarks/compare_serve.sh -m MODEL.gguf [-t 2] [--parallel 4]
#       [-c 8192] [--rounds 2] [--tokens 64] [--turn-tokens 2000]
#
# Each round starts one server, waits for /health, runs benchmarks/serve_bench.mjs against it
# (aggregate t/s with 1, 2 and --parallel concurrent streams; a second turn's time to first token
# with and without the prefix cache), and stops it. -c is per slot (llama-server gets -c times
# --parallel: it divides its context among its slots). Prints serve_bench's JSON lines, each with
# the server's name. Without LLAMA_SERVER only lfm runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LFM=${LFM:-$here/../build/release/lfm}
model="" threads=2 parallel=4 ctx=8192 rounds=2 tokens=64 turn=2000
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -c) ctx=$2; shift 2 ;;
        --parallel) parallel=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --turn-tokens) turn=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] || { echo "usage: $0 -m MODEL.gguf [-t N] [--parallel N] [-c N] [--rounds N]" >&2; exit 2; }
base_port=$((18000 + RANDOM % 1000))
runs=0
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

serve() {  # name, command... (the command's --port is $port: a fresh one per run, as a server
    # just stopped may hold its port a while)
    local name=$1
    shift
    "$@" > "/tmp/compare_serve.$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
        kill -0 "$pid" 2>/dev/null || { echo "$name exited; see /tmp/compare_serve.$name.log" >&2; exit 1; }
        sleep 0.5
    done
    node "$here/serve_bench.mjs" "http://127.0.0.1:$port" --streams "1,2,$parallel" --tokens "$tokens" \
        --turn-tokens "$turn" | sed "s/^{/{\"server\":\"$name\",/"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
}

for r in $(seq 1 "$rounds"); do
    port=$((base_port + 2 * r))
    serve lfm "$LFM" serve -m "$model" --port "$port" -t "$threads" --parallel "$parallel" -c "$ctx"
    if [ -n "${LLAMA_SERVER:-}" ]; then
        port=$((base_port + 2 * r + 1))
        serve llama-server "$LLAMA_SERVER" -m "$model" --port "$port" -t "$threads" -tb "$threads" \
            --parallel "$parallel" -c $((ctx * parallel))
    fi
done
