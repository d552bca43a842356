#!/usr/bin/env bash
# lfm against llama.cpp on the same GGUF file with the same threads, runs alternating so that a
# busy moment of a shared machine hits both. Not part of CI.
#
#   LLAMA_BENCH=/path/to/llama-bench benchmarks/compare_llama.sh -m MODEL.gguf [-t 2] [-p 512] [-n 128]
#       [-d 0] [--rounds 3]
#
# Prints, per test (pp512, tg128, ...): lfm's and llama.cpp's tokens/s (mean ± sd over rounds),
# their ratio, and for generation the memory-bandwidth floor: the read bandwidth measured in the
# same run (lfm system --bandwidth, once per round, the median) over the weight bytes read per
# token (lfm info --json), plus at depth the F16 KV cache read per token halfway through the
# generated tokens.
# Without LLAMA_BENCH only lfm's figures and the floor are printed.
set -euo pipefail
LFM=${LFM:-$(dirname "$0")/../build/release/lfm}
model="" threads=2 prompt=512 gen=128 depth=0 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -p) prompt=$2; shift 2 ;;
        -n) gen=$2; shift 2 ;;
        -d) depth=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] || { echo "usage: $0 -m MODEL.gguf [-t N] [-p N] [-n N] [-d N] [--rounds N]" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for r in $(seq 1 "$rounds"); do
    "$LFM" bench -m "$model" -t "$threads" -p "$prompt" -n "$gen" -d "$depth" -r 1 -o json > "$work/lfm.$r.json"
    if [ -n "${LLAMA_BENCH:-}" ]; then
        "$LLAMA_BENCH" -m "$model" -t "$threads" -p "$prompt" -n "$gen" -d "$depth" -r 1 -o json > "$work/llama.$r.json" 2>/dev/null
    fi
    # the floor's bandwidth once per round too: one probe after all rounds can land in a spell
    # the runs never saw (39 against 66 GB/s minutes apart here)
    "$LFM" system --bandwidth -t "$threads" | awk '/read bandwidth/ {print $3}' >> "$work/bw"
done
"$LFM" info --json "$model" > "$work/info.json"

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys, glob, os
work, rounds = sys.argv[1], int(sys.argv[2])
def load(prefix):
    runs = {}
    for r in range(1, rounds + 1):
        path = os.path.join(work, f"{prefix}.{r}.json")
        if not os.path.exists(path): return None
        for e in json.load(open(path)):
            key = (f"pp{e['n_prompt']}" if e["n_prompt"] else f"tg{e['n_gen']}") + (f" @ d{e['n_depth']}" if e.get("n_depth") else "")
            runs.setdefault(key, []).append(e["avg_ts"])
            if not e["n_prompt"]: mid_depth[key] = e.get("n_depth", 0) + e["n_gen"] / 2
    return runs
mid_depth = {}  # generation tests: the cache length halfway through the generated tokens
ours, theirs = load("lfm"), load("llama")
bws = [float(x) * 1e9 for x in open(os.path.join(work, "bw")).read().split()]
bw = statistics.median(bws)
info = json.load(open(os.path.join(work, "info.json")))
per_token = info["bytes_per_token"]
floor = bw / per_token
# At depth each generated token also reads the whole KV cache: F16 keys and values (both engines'
# default) of every attention layer, for every position so far.
cfg = info["config"]
kv_per_position = cfg["layer_types"].count("attention") * cfg["n_head_kv"] * cfg["head_dim"] * 2 * 2
def floor_of(key): return bw / (per_token + kv_per_position * mid_depth.get(key, 0))
def fmt(v): return f"{statistics.mean(v):8.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:5.2f}"
print(f"read bandwidth {bw/1e9:.1f} GB/s (median of {' '.join(f'{b/1e9:.1f}' for b in bws)}), "
      f"{per_token/1e9:.3f} GB of weights per token -> floor {floor:.1f} t/s for generation"
      + (f" (at depth d, plus {kv_per_position} bytes of F16 KV cache per position)" if any("@" in k for k in mid_depth) else ""))
print(f"{'test':>14} | {'lfm t/s':>16} | {'llama.cpp t/s':>16} | {'ratio':>6} | {'% of floor':>10}")
for key, v in ours.items():
    t = theirs.get(key) if theirs else None
    ratio = f"{statistics.mean(v)/statistics.mean(t):6.2f}" if t else "     -"
    of_floor = f"{100*statistics.mean(v)/floor_of(key):9.0f}%" if key.startswith("tg") else "         -"
    print(f"{key:>14} | {fmt(v)} | {fmt(t) if t else ' ' * 16} | {ratio} | {of_floor}")
# On a shared host the bandwidth can change by 2x within minutes (a Zen 4 VM here read 33 to 67
# GB/s between rounds); bandwidth-bound decode follows it and a compute-bound peer much less, so
# the ratio then describes the spells as much as the engines.
if max(bws) > 1.3 * min(bws):
    print(f"warning: the read bandwidth changed between rounds ({min(bws)/1e9:.1f} to {max(bws)/1e9:.1f} GB/s): "
          "the host was busy in some of them; rerun with more rounds, or when it is calm")
PY
