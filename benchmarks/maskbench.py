#!/usr/bin/env python3
"""MaskBench (guidance-ai/jsonschemabench, maskbench/data) through `lfm grammar-bench --batch`.

Clone the dataset outside the tree, then:
    python3 benchmarks/maskbench.py --data /path/to/jsonschemabench/maskbench/data --lfm build/release/lfm \
        [--sample 1000 --seed 1] [--failures failures.jsonl]

Each schema is compiled once and each of its tests walked by a new matcher, the instance written
as MaskBench writes it (json.dumps(data, ensure_ascii=False)). One vocabulary (the Llama-3 one by
default), one process, one thread. A schema that hangs past --timeout or crashes the process is
counted as such and the process restarted. Prints the share of schemas compiled, of valid
instances accepted and invalid ones rejected (among schemas that compiled), mask time per token
(mean / p50 / p99 / max over every mask) and compile time (p50 / p75 / p99).
"""
import argparse
import json
import os
import random
import select
import subprocess
import sys
import time


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


class Bench:
    def __init__(self, cmd):
        self.cmd = cmd
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, line, timeout):
        """One schema: (result dict, None) or (None, 'hang' | 'crash: ...')."""
        if self.proc is None:
            self.start()
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return None, "hang"
        out = self.proc.stdout.readline()
        if not out:
            err = self.proc.stderr.read()[-300:]
            self.stop()
            return None, "crash: " + err.strip()
        return json.loads(out), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="maskbench/data of guidance-ai/jsonschemabench")
    ap.add_argument("--lfm", default="build/release/lfm")
    ap.add_argument("--vocab", default="../shared/data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf")
    ap.add_argument("--sample", type=int, default=0, help="this many schemas, drawn with --seed (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60, help="seconds per schema before it counts as a hang")
    ap.add_argument("--failures", help="write each wrong verdict, hang and crash here (JSON lines)")
    ap.add_argument("--per-schema", help="write each compiled schema's mask time in all, masks and compile ms here (JSON lines)")
    args = ap.parse_args()

    files = sorted(f for f in os.listdir(args.data) if f.endswith(".json"))
    if args.sample:
        files = sorted(random.Random(args.seed).sample(files, min(args.sample, len(files))))
    bench = Bench([args.lfm, "grammar-bench", "-m", args.vocab, "--batch"])
    fails = open(args.failures, "w") if args.failures else None
    per_schema = open(args.per_schema, "w") if args.per_schema else None
    n = dict(schemas=0, compiled=0, hang=0, crash=0, valid=0, valid_ok=0, invalid=0, invalid_ok=0)
    compile_ms, mask_us, errors = [], [], {}
    slowest = []  # (total mask time, masks, file)
    t_start = time.time()
    for k, name in enumerate(files):
        with open(os.path.join(args.data, name)) as f:
            case = json.load(f)
        tests = case.get("tests", [])
        line = json.dumps({"schema": case["schema"],
                           "instances": [json.dumps(t["data"], ensure_ascii=False) for t in tests]})
        n["schemas"] += 1
        res, problem = bench.run(line, args.timeout)
        if problem:
            n["hang" if problem == "hang" else "crash"] += 1
            if fails:
                fails.write(json.dumps({"file": name, "problem": problem}) + "\n")
            continue
        if not res["compiled"]:
            msg = res["error"]
            key = msg.split(" at #")[0].removeprefix("json schema: ")[:70]
            errors[key] = errors.get(key, 0) + 1
            if fails:
                fails.write(json.dumps({"file": name, "compile_error": msg}) + "\n")
            continue
        n["compiled"] += 1
        compile_ms.append(res["compile_ms"])
        times = [x for r in res["results"] for x in r["mask_us"]]
        slowest.append((sum(times), len(times), name))
        if per_schema:
            per_schema.write(json.dumps({"file": name, "mask_us": sum(times), "masks": len(times),
                                         "max_us": max(times, default=0), "compile_ms": res["compile_ms"]}) + "\n")
        for i, (t, r) in enumerate(zip(tests, res["results"])):
            mask_us.extend(r["mask_us"])
            kind = "valid" if t["valid"] else "invalid"
            n[kind] += 1
            if r["accepted"] == t["valid"]:
                n[kind + "_ok"] += 1
            elif fails:
                fails.write(json.dumps({"file": name, "test": i, "valid": t["valid"],
                                        "rejected_at": r["rejected_at"]}) + "\n")
        if (k + 1) % 500 == 0:
            print(f"... {k + 1}/{len(files)} schemas, {time.time() - t_start:.0f} s", file=sys.stderr)
    bench.stop()

    def share(a, b):
        return f"{n[a]}/{n[b]} = {100.0 * n[a] / max(1, n[b]):.2f} %"

    print(f"schemas: {n['schemas']}{' (sample, seed %d)' % args.seed if args.sample else ''}; "
          f"hangs {n['hang']}, crashes {n['crash']}; {time.time() - t_start:.0f} s")
    print(f"compiled:          {share('compiled', 'schemas')}")
    print(f"valid accepted:    {share('valid_ok', 'valid')}")
    print(f"invalid rejected:  {share('invalid_ok', 'invalid')}")
    print(f"mask us per token: mean {sum(mask_us) / max(1, len(mask_us)):.1f}, p50 {pct(mask_us, 0.5):.1f}, "
          f"p99 {pct(mask_us, 0.99):.1f}, max {max(mask_us, default=0):.0f} ({len(mask_us)} masks)")
    print(f"compile ms:        p50 {pct(compile_ms, 0.5):.2f}, p75 {pct(compile_ms, 0.75):.2f}, "
          f"p99 {pct(compile_ms, 0.99):.2f}, max {max(compile_ms, default=0):.0f}")
    print("most mask time (us in all, masks):", ", ".join(f"{f} {t:.0f}/{k}" for t, k, f in sorted(slowest)[-5:][::-1]))
    print("compile errors by kind:")
    for key, count in sorted(errors.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {count:5d}  {key}")


if __name__ == "__main__":
    main()
