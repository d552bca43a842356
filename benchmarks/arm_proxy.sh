#!/usr/bin/env bash
# The ARM proxy: instructions retired per decoded token and per prompt token under qemu-aarch64,
# for lfm and, side by side, for llama.cpp built for AArch64 outside this tree. No ARM machine is
# at hand; an instruction count is what qemu can measure exactly (it sees neither memory
# bandwidth, nor caches, nor how many instructions a core retires per cycle: see
# benchmarks/README.md).
#
#   benchmarks/arm_proxy.sh [--cpu max] [--prompt 512] [--gen 16] [--reuse] [--only lfm|llama] MODEL.gguf...
#   benchmarks/arm_proxy.sh eval [--cpu max]   # lfm's logits under qemu against the x86 build's
#
# LLAMA_ARM_BIN: a folder with llama-bench built for AArch64 (static, CPU backend only; for
# example cmake -DCMAKE_TOOLCHAIN_FILE=.ci/aarch64.cmake -DBUILD_SHARED_LIBS=OFF
# -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+i8mm -DGGML_OPENMP=OFF, outside this
# tree); without it only lfm is counted.
# LFM_X86: the x86 `lfm` binary for eval (default build/release/lfm).
# QEMU_PLUGIN_H: qemu's qemu-plugin.h, of the installed qemu's version; by default it is taken
# from Debian's qemu source package (downloaded once into the work folder).
# ARM_PROXY_DIR: the work folder (default build/arm_proxy): the plugin, the harness, Debian's
# AArch64 PCRE2, logs.
#
# --reuse: keep the count of a run whose log (in the work folder) is complete, instead of running
# it again (the counts are exact; a 5 GB file takes many minutes per run under qemu). --only:
# count one engine (two such runs side by side, then one with --reuse for the table).
#
# One thread everywhere: the plugin's counter is shared by all threads, and thread
# synchronisation would add instructions that no single-core figure has.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${ARM_PROXY_DIR:-$root/build/arm_proxy}
mode=bench
[ "${1:-}" = eval ] && { mode=eval; shift; }
cpu=max prompt=512 gen=16 reuse=0 only= models=()
while [ $# -gt 0 ]; do
    case $1 in
        --cpu) cpu=$2; shift 2 ;;
        --prompt) prompt=$2; shift 2 ;;
        --gen) gen=$2; shift 2 ;;
        --reuse) reuse=1; shift ;;
        --only) only=$2; shift 2 ;;
        -*) echo "arm_proxy.sh: unknown flag $1" >&2; exit 2 ;;
        *) models+=("$1"); shift ;;
    esac
done
if [ $mode = bench ] && [ ${#models[@]} -eq 0 ]; then
    echo "usage: benchmarks/arm_proxy.sh [--cpu CPU] [--prompt N] [--gen N] MODEL.gguf... | eval [--cpu CPU]" >&2
    exit 2
fi
[ "$gen" -ge 2 ] || { echo "arm_proxy.sh: --gen must be at least 2" >&2; exit 2; }
mkdir -p "$work"
.ci/deps g++-aarch64-linux-gnu qemu-user dpkg-dev >/dev/null

# A private apt state (its own lists and cache in $work), so that neither the machine's
# architectures nor its sources change.
private_apt() {  # NAME: prints an APT_CONFIG file for $work/apt-NAME
    local dir=$work/apt-$1
    mkdir -p "$dir"/state/lists/partial "$dir"/cache/archives/partial
    touch "$dir"/state/status
    {
        echo "Dir::State \"$dir/state\"; Dir::State::status \"$dir/state/status\"; Dir::Cache \"$dir/cache\";"
        echo "Dir::Etc::SourceParts \"$dir/parts\"; Dir::Etc::SourceList \"$dir/sources.list\";"
    } >"$dir"/apt.conf
    mkdir -p "$dir"/parts
    echo "$dir/apt.conf"
}
debian_sources() {  # TYPE (deb or deb-src): the machine's Debian suites as one-line sources
    local suites uris
    for f in /etc/apt/sources.list.d/debian.sources; do
        awk -v type="$1" '/^URIs:/ {u=$2} /^Suites:/ {s=""; for (i = 2; i <= NF; i++) s = s " " $i}
            /^Components:/ {c=""; for (i = 2; i <= NF; i++) c = c " " $i; n = split(s, a, " ");
                            for (i = 1; i <= n; i++) print type, u, a[i], c}' "$f"
    done
}

# --- qemu's plugin header, matching the installed qemu ---------------------------------------
header=${QEMU_PLUGIN_H:-$work/qemu-include/qemu-plugin.h}
if [ ! -f "$header" ]; then
    echo "-- fetching qemu-plugin.h from Debian's qemu source package"
    conf=$(private_apt src)
    debian_sources deb-src >"$(dirname "$conf")"/sources.list
    version=$(dpkg-query -W -f='${source:Version}' qemu-user)
    APT_CONFIG=$conf apt-get update -qq
    (cd "$(dirname "$conf")" && APT_CONFIG=$conf apt-get source -qq --download-only "qemu=$version" >/dev/null 2>&1)
    tarball=$(ls "$(dirname "$conf")"/qemu_*.orig.tar.xz | head -1)
    mkdir -p "$work"/qemu-include
    tar -xJf "$tarball" -O --wildcards '*/include/qemu/qemu-plugin.h' >"$header"
fi
plugin=$work/insn_count.so
if [ ! -f "$plugin" ] || [ benchmarks/arm_proxy/insn_count.c -nt "$plugin" ]; then
    gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$(dirname "$header")" -o "$plugin" benchmarks/arm_proxy/insn_count.c
fi

# --- Debian's AArch64 PCRE2 (static), then the harness ---------------------------------------
sysroot=$work/sysroot
if [ ! -f "$sysroot"/usr/lib/aarch64-linux-gnu/libpcre2-8.a ]; then
    echo "-- fetching Debian's libpcre2-dev:arm64"
    conf=$(private_apt arm64)
    debian_sources deb >"$(dirname "$conf")"/sources.list
    echo 'APT::Architecture "arm64"; APT::Architectures { "arm64"; };' >>"$conf"
    APT_CONFIG=$conf apt-get update -qq
    (cd "$(dirname "$conf")" && APT_CONFIG=$conf apt-get download -qq libpcre2-dev:arm64 >/dev/null 2>&1)
    dpkg -x "$(ls "$(dirname "$conf")"/libpcre2-dev_*_arm64.deb | head -1)" "$sysroot"
fi
if [ "$only" != llama ]; then
    cmake -S benchmarks/arm_proxy -B "$work"/harness -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root"/.ci/aarch64.cmake \
        -DCMAKE_BUILD_TYPE=Release -DLFM_ARM_SYSROOT="$sysroot" >/dev/null
    cmake --build "$work"/harness --target lfm_proxy >/dev/null
fi
harness=$work/harness/lfm_proxy

# qemu with the counting plugin; its report goes to LOG.
counted() {  # LOG COMMAND...
    local log=$1
    shift
    if [ $reuse = 1 ] && grep -q '^insn_count total' "$log" 2>/dev/null; then
        echo "   (reusing $log)" >&2
        return 0
    fi
    qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu -plugin "$plugin" -d plugin -D "$log" "$@"
}
mark() { awk -v m="$2" '$1 == "insn_count" && $2 == "mark" && $3 == m {print $4}' "$1"; }
total() { awk '$1 == "insn_count" && $2 == "total" {print $3}' "$1"; }

if [ $mode = eval ]; then
    # lfm's logits for each tiny reference model, under qemu (AArch64 kernels) and natively (x86),
    # the way tests/test_cli.cpp runs `lfm eval` (--kv-type f32, all 64 ids of the manifest).
    ref=$root/../shared/reference
    x86=${LFM_X86:-$root/build/release/lfm}
    echo "lfm_proxy eval under qemu (AArch64 kernels) against x86 lfm eval, and against llama.cpp's logits"
    echo "with tests/test_forward.cpp's rule (--kv-type f32, the manifest's 64 ids, one batch)"
    printf '%-14s %-8s %-12s %-9s %-12s %-10s %-9s %s\n' model cpu "max|Δ| x86" "argmax=" "max|Δ| ref" tolerance "argmax=" rule
    for m in tinyA-f32 tinyB-f32 tinyB-q8_0 tinyB-q4_0 tinyB-q4_k tinyB-q4_k_m; do
        ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['token_ids'])))" \
            "$ref/$m.manifest.json")
        "$x86" eval -m "$ref/$m.gguf" --kv-type f32 --ids "$ids" --logits-out "$work/$m.x86.f32" >/dev/null
        qemu-aarch64 -cpu "$cpu" "$harness" eval "$ref/$m.gguf" --kv-type f32 --ids "$ids" \
            --logits-out "$work/$m.arm.f32" --routing-out "$work/$m.arm.routing.jsonl" >/dev/null
        python3 - "$m" "$cpu" "$work/$m.arm.f32" "$work/$m.x86.f32" "$ref/$m.logits.f32" "$ref/$m.manifest.json" \
            "$work/$m.arm.routing.jsonl" "$ref/$m.routing.json" <<'EOF'
import array, json, math, sys
def rows(path, n_rows=64):
    a = array.array('f')
    with open(path, 'rb') as f:
        a.frombytes(f.read())
    n = len(a) // n_rows
    return [a[r * n:(r + 1) * n] for r in range(n_rows)]
arm, x86, ref = (rows(p) for p in sys.argv[3:6])
manifest = json.load(open(sys.argv[6]))
def max_diff(a, b): return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
def argmax(row): return max(range(len(row)), key=row.__getitem__)
def agree(a, b): return sum(argmax(ra) == argmax(rb) for ra, rb in zip(a, b))
# tests/test_forward.cpp's acceptance rule against llama.cpp's logits: F32 within 1e-3 and every
# argmax; quantized within max(2 % of the largest logit, 2 x llama.cpp's KV-type sensitivity)
# and the same argmax at >= 90 % of positions.
if 'f32' in sys.argv[1]:
    tol, need = 1e-3, 64
else:
    tol = max(0.02 * manifest['max_abs_logit'], 2 * manifest['default_settings_batch_vs_canonical_max_abs_diff'])
    need = 58
# Routing near-ties: where llama.cpp's k-th and (k+1)-th expert scores differ by less than 1e-3,
# a rounding difference may pick the other expert (as tests/test_forward.cpp's routing test
# allows), and every later position differs from there. Such a flip is named, and the rows from
# it on are left out of the rule.
ref_layers = json.load(open(sys.argv[8]))['layers']
sigmoid = lambda x: 1 / (1 + math.exp(-x))
flips, other = [], []
for line in open(sys.argv[7]):
    r = json.loads(line)
    d = ref_layers['layer_%d' % r['layer']]
    scores = d['ffn_moe_probs_biased'][r['pos']]
    k = len(r['selected'])
    if sorted(sorted(range(len(scores)), key=lambda e: -scores[e])[:k]) == sorted(r['selected']):
        continue
    s = sorted(scores, reverse=True)
    (flips if s[k - 1] - s[k] < 1e-3 else other).append((r['pos'], r['layer'], s[k - 1] - s[k]))
cut = min(p for p, _, _ in flips) if flips and not other else 64
d_ref, a_ref = max_diff(arm[:cut], ref[:cut]), agree(arm[:cut], ref[:cut])
verdict = 'pass' if d_ref <= tol and a_ref >= need * cut // 64 else 'FAIL'
if other:
    verdict += ' (experts differ away from a near-tie: ' + ', '.join(f'layer {l} pos {p}' for p, l, _ in other) + ')'
elif flips:
    verdict += f' (rows 0..{cut - 1}: a routing near-tie flips at ' + \
        ', '.join(f'layer {l} pos {p}, llama.cpp\'s gap {g:.1e}' for p, l, g in flips) + ')'
print(f"{sys.argv[1]:<14} {sys.argv[2]:<8} {max_diff(arm, x86):<12.3g} {agree(arm, x86):>2}/64      "
      f"{d_ref:<12.3g} {tol:<10.3g} {a_ref:>2}/{cut:<2}      {verdict}")
EOF
    done
    exit 0
fi

# --- the counts ------------------------------------------------------------------------------
rows=()
for model in "${models[@]}"; do
    name=$(basename "$model" .gguf)
    log=$work/$name.$cpu.lfm.log
    lfm_pp=- lfm_tg=- llama_pp=- llama_tg=-
    if [ "$only" != llama ]; then
        echo "-- lfm: $name (qemu -cpu $cpu)" >&2
        counted "$log" "$harness" bench "$model" --prompt "$prompt" --gen "$gen" --threads 1 >"$work/$name.$cpu.lfm.out"
        lfm_pp=$(( ($(mark "$log" 2) - $(mark "$log" 1)) / prompt ))
        lfm_tg=$(( ($(mark "$log" 4) - $(mark "$log" 3)) / (gen - 1) ))
    fi
    if [ -n "${LLAMA_ARM_BIN:-}" ] && [ "$only" != lfm ]; then
        # llama-bench has no marks: three runs that differ only in what they compute, each with
        # the same load. a: a prompt of `prompt` tokens; b: one generated token; c: `gen` tokens.
        # Per token (c - b) / (gen - 1) (the same positions 1..gen-1 as lfm's); prompt a - b + one
        # token (b holds one generated token besides the load).
        bench=("$LLAMA_ARM_BIN"/llama-bench -m "$model" -t 1 -r 1 --no-warmup -o csv)
        for run in "a -p $prompt -n 0" "b -p 0 -n 1" "c -p 0 -n $gen"; do
            set -- $run
            echo "-- llama.cpp: $name run $1 (qemu -cpu $cpu)" >&2
            counted "$work/$name.$cpu.llama-$1.log" "${bench[@]}" "${@:2}" >"$work/$name.$cpu.llama-$1.out" 2>&1
        done
        a=$(total "$work/$name.$cpu.llama-a.log") b=$(total "$work/$name.$cpu.llama-b.log")
        c=$(total "$work/$name.$cpu.llama-c.log")
        llama_tg=$(( (c - b) / (gen - 1) ))
        llama_pp=$(( (a - b + llama_tg) / prompt ))
    fi
    rows+=("$name $cpu $lfm_tg $llama_tg $lfm_pp $llama_pp")
done

echo
echo "Instructions retired (qemu-aarch64 -cpu $cpu, 1 thread; decode: mean of tokens 1..$((gen - 1)) from an empty context; prompt: $prompt tokens)"
printf '| %-14s | %-6s | %16s | %16s | %8s | %16s | %16s | %8s |\n' file cpu "lfm /decoded tok" "llama /decoded" ratio \
    "lfm /prompt tok" "llama /prompt" ratio
printf '|%s|\n' "----------------|--------|------------------|------------------|----------|------------------|------------------|----------"
for row in "${rows[@]}"; do
    set -- $row
    ratio() { [ "$1" = - ] || [ "$2" = - ] && echo - || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    printf '| %-14s | %-6s | %16s | %16s | %8s | %16s | %16s | %8s |\n' "$1" "$2" "$3" "$4" "$(ratio "$3" "$4")" \
        "$5" "$6" "$(ratio "$5" "$6")"
done
