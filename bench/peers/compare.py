#!/usr/bin/python3
"""clgrad beside PyTorch on this machine: `clgrad bench models` and bench/peers/models.py
case by case, alternating (clgrad, PyTorch, clgrad, PyTorch, ...), so that both see the same
machine load, and the ratio of their throughputs.

  /usr/bin/python3 bench/peers/compare.py --filter seed_cnn --mode train --batch 64 --rounds 3

For every selected (model, mode, batch) each round runs both programs once (each timing its own
runs as bench/README.md describes); a side's figure is the best (highest throughput) of its
rounds, the one least disturbed by other load. The ratio is clgrad / PyTorch. --json prints one
object per case instead of the table. Needs python3-torch (Debian) and a built `clgrad` tool
(--clgrad, default build/clgrad). On a GPU machine with a CUDA build of PyTorch, --device cuda
puts the PyTorch side on the GPU; clgrad takes its default (best) device or CLGRAD_DEVICE.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("seed_cnn", "mlp", "lenet5", "vgg_small", "resnet20", "lstm_cls", "lstm_lm", "gpt_lm")


def run_json(cmd, env=None):
    """Runs cmd and returns its JSON lines (objects with status ok)."""
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env, text=True).stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("status", "ok") == "ok":
                rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clgrad", default=os.path.join(HERE, "..", "..", "build", "clgrad"),
                   help="the clgrad tool (default build/clgrad)")
    p.add_argument("--filter", default="", help="models whose name contains TEXT (default all)")
    p.add_argument("--mode", choices=("train", "infer", "both"), default="both")
    p.add_argument("--batch", default="16,64,128", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=int, default=2, help="alternations per case (default 2)")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    p.add_argument("--device", default="cpu", help="PyTorch's device: cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    a = p.parse_args()
    if not os.access(a.clgrad, os.X_OK):
        sys.exit(f"compare.py: {a.clgrad} is not an executable clgrad tool (build first, or --clgrad)")
    modes = ("train", "infer") if a.mode == "both" else (a.mode,)
    batches = [int(b) for b in a.batch.split(",") if b]
    models = [m for m in MODELS if a.filter in m]
    if not models:
        sys.exit(f"compare.py: no model matches --filter '{a.filter}'")

    results = []
    for model in models:
        for mode in modes:
            for batch in batches:
                best = {}
                for _ in range(a.rounds):
                    ours = run_json([a.clgrad, "bench", "models", "--json", "--filter", model,
                                     "--mode", mode, "--batch", str(batch)])
                    theirs = run_json([sys.executable, os.path.join(HERE, "models.py"), "--json",
                                       "--filter", model, "--mode", mode, "--batch", str(batch),
                                       "--threads", str(a.threads), "--device", a.device])
                    for side, rows in (("clgrad", ours), ("pytorch", theirs)):
                        for r in rows:
                            if r["name"] != model:
                                continue
                            if side not in best or r["throughput"] > best[side]["throughput"]:
                                best[side] = r
                if "clgrad" not in best or "pytorch" not in best:
                    print(f"compare.py: {model} {mode} {batch}: a side reported nothing", file=sys.stderr)
                    continue
                c, t = best["clgrad"], best["pytorch"]
                results.append({"name": model, "mode": mode, "batch": batch, "unit": c["unit"],
                                "clgrad": c["throughput"], "pytorch": t["throughput"],
                                "ratio": c["throughput"] / t["throughput"],
                                "clgrad_ms_per_step": c.get("ms_per_step"),
                                "pytorch_ms_per_step": t.get("ms_per_step"),
                                "clgrad_device": c.get("device"), "pytorch_driver": t.get("driver"),
                                "rounds": a.rounds})
                if a.json:
                    print(json.dumps(results[-1]), flush=True)
    if a.json:
        return
    if results:
        print(f"clgrad on {results[0]['clgrad_device']}; {results[0]['pytorch_driver']}; "
              f"best of {a.rounds} alternating rounds")
    print(f"{'model':<10} {'mode':<5} {'batch':>5} {'clgrad':>12} {'pytorch':>12} {'unit':<9} {'ratio':>6}")
    for r in results:
        print(f"{r['name']:<10} {r['mode']:<5} {r['batch']:>5} {r['clgrad']:>12.1f} {r['pytorch']:>12.1f} "
              f"{r['unit']:<9} {r['ratio']:>5.2f}x")


if __name__ == "__main__":
    main()
