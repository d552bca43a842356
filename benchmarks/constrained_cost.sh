#!/usr/bin/env bash
# What a constraint costs per generated token: `lfm run` under a JSON Schema against the same run
# without one (same model, prompt, seed, threads), alternating so that a busy moment of a shared
# machine hits both. Not part of CI.
#
#   benchmarks/constrained_cost.sh -m MODEL.gguf --json-schema SCHEMA.json [-t 2] [-n 64] [--rounds 3]
#
# Both runs generate -n tokens (--ignore-eos; a schema whose documents are shorter ends its run
# early, and the token counts printed show it). Prints each round's generation tokens/s and the
# ratio of the means, constrained over free (1.00: no cost). A random-weight model (lfm synth)
# spends much of a JSON document in the whitespace JSON allows between tokens (up to 40 bytes per
# gap), so its masks are cheaper than a real model's; `lfm grammar-bench` times the masks of real
# documents.
set -euo pipefail
LFM=${LFM:-$(dirname "$0")/../build/release/lfm}
model="" schema="" threads=2 gen=64 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        --json-schema) schema=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -n) gen=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] && [ -n "$schema" ] || { echo "usage: $0 -m MODEL.gguf --json-schema SCHEMA.json [-t N] [-n N] [--rounds N]" >&2; exit 2; }

speed() {  # tokens/s of one run; extra arguments go to lfm run
    "$LFM" run -m "$model" -t "$threads" -p "Write the document." -n "$gen" --ignore-eos -s 7 --json "$@" 2>/dev/null |
        python3 -c 'import json, sys; t = json.load(sys.stdin)["timings"]; print(t["generated_tokens"], t["generate_tokens_per_second"])'
}

free_sum=0 constrained_sum=0
for r in $(seq 1 "$rounds"); do
    read -r free_n free_tps < <(speed)
    read -r con_n con_tps < <(speed --json-schema "$schema")
    printf 'round %d: free %s tokens %.2f t/s, constrained %s tokens %.2f t/s\n' "$r" "$free_n" "$free_tps" "$con_n" "$con_tps"
    free_sum=$(python3 -c "print($free_sum + $free_tps)")
    constrained_sum=$(python3 -c "print($constrained_sum + $con_tps)")
done
python3 -c "print(f'constrained / free tokens/s: {$constrained_sum / $free_sum:.3f}')"
