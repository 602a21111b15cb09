"""The levers of the second speed pass, one at a time on one warm GPU (issue: GPU speed, second pass).

    python results/speed_levers.py OUT_DIR    # on the GPU machine, from the repo root

Runs bench.py for each variant in a process of its own, in order, under one time budget; `.before/`
holds the tree before the change (git archive of the commit it names) so that before and after run
on the same card. Writes OUT_DIR/levers.jsonl (one bench.py JSON line per run, with its tag) and
prints a table. All runs share one inductor cache, so a repeated graph shows the cache's effect.
"""

import json
import os
import subprocess
import sys
import time

BUDGET_S = 470  # the whole script; the last, open-ended variant gets what is left
M, L = ["--only", "gpt2m-24L"], ["--only", "gpt2l-36L"]
SHORT = ["--warmup=3", "--iters=6"]
VARIANTS = [  # (tag, tree, bench arguments, own time limit)
    ("m_3x16_before", ".before", M + SHORT + ["--accum=3"], 150),
    ("m_3x16_fusedclip", ".", M + SHORT + ["--accum=3", "--profile"], 120),
    ("m_3x16_before_again", ".before", M + SHORT + ["--accum=3"], 90),
    ("m_1x48_fusedclip", ".", M + SHORT + ["--batch_size=48"], 120),
    ("l_1x16_before", ".before", L + SHORT, 150),
    ("l_1x16_fusedclip", ".", L + SHORT + ["--profile"], 120),
    ("m_3x16_fusedclip_maxautotune", ".", M + SHORT + ["--accum=3", "--compile_mode=max-autotune-no-cudagraphs"], 0),
]


def main(out_dir):
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/inductor-cache")
    start, rows = time.time(), []
    with open(os.path.join(out_dir, "levers.jsonl"), "w") as log:
        for tag, tree, args, limit in VARIANTS:
            left = BUDGET_S - (time.time() - start)
            limit = min(limit, left) if limit else left
            if limit < 45:
                print(f"{tag}: skipped, {left:.0f} s left", flush=True)
                continue
            data = "--data_dir=" + os.path.relpath("data", tree)
            t0 = time.time()
            try:
                proc = subprocess.run([sys.executable, "bench.py", *args, data], cwd=tree, capture_output=True,
                                      text=True, timeout=limit)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-600:]}
            except subprocess.TimeoutExpired:
                result = {"error": f"no result within {limit:.0f} s"}
            result.update(tag=tag, wall_s=round(time.time() - t0, 1))
            log.write(json.dumps(result) + "\n")
            log.flush()
            rows.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "profile"}), flush=True)
    print("\n| tag | ms/iter | MFU (nanoGPT) | MFU (llm.c) | peak GB | compile s | wall s |")
    for r in rows:
        print(f"| {r['tag']} | {r.get('ms_per_iter')} | {r.get('mfu')} | {r.get('mfu_llmc')} | "
              f"{r.get('peak_mem_gb')} | {r.get('compile_s')} | {r['wall_s']} |" if "error" not in r
              else f"| {r['tag']} | error: {r['error'][-200:]!r} |")


if __name__ == "__main__":
    main(sys.argv[1])
