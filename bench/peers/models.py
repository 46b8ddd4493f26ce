#!/usr/bin/python3
"""PyTorch peers of clgrad's `clgrad bench models` suite (CPU or CUDA, for comparison).

Each case builds one model, makes 4 random batches once (inputs uniform in [0,1) or token ids,
integer labels), and times runs of --steps steps exactly as bench/README.md describes for clgrad:
--warmup untimed runs, then timed runs until 0.3 s have passed and at least 5 runs were made
(at most 200), or exactly --repeat N. Reported: median/min/max wall time per run and
throughput = steps * batch (* sequence length) / median.

  train: one step = zero_grad, forward, softmax cross-entropy, backward, Adam step (lr 1e-3,
         betas 0.9/0.999, eps 1e-7 as Keras), batches taken round-robin from the 4.
  infer: one step = one forward pass under torch.no_grad() in eval mode.

Run with Debian's interpreter, which has python3-torch:  /usr/bin/python3 bench/peers/models.py
With --device cuda (a CUDA build of PyTorch) models and batches live on the GPU, every run ends
with torch.cuda.synchronize(), and TF32 is off for matrix products and cuDNN (PyTorch allows it in
cuDNN convolutions by default), so both sides compute in float32.
"""
import argparse
import json
import os
import statistics
import sys
import time

# OpenBLAS (if libblas.so.3 is OpenBLAS) starts its own threads: give it --threads, before loading.
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--threads", default="2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", _pre.parse_known_args()[0].threads)

import torch  # noqa: E402
from torch import nn

SEQ_LEN = 100
VOCAB = 10000
LM_SEQ_LEN = 50
LM_VOCAB = 5000
GPT_SEQ_LEN = 100
GPT_VOCAB = 1000


class LastHidden(nn.Module):
    """Runs an LSTM over [B, T, F] and returns its final hidden state [B, H]."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return h[-1]


def seed_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 13 * 13, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def lenet5():
    return nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def vgg_small():
    layers, cin = [], 3
    for cout in (32, 64, 128):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
                   nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
                         nn.Linear(256, 10))


class BasicBlock(nn.Module):
    """conv-BN-relu-conv-BN plus the shortcut (1x1 conv-BN when the shape changes), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


def resnet20():
    """ResNet-20 for 32x32x3 as clgrad's bench builds it (convolutions with biases)."""
    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage, cout in enumerate((16, 32, 64)):
        for b in range(3):
            layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def lstm_cls():
    return nn.Sequential(nn.Embedding(VOCAB, 64), LastHidden(64, 128), nn.Linear(128, 2))


class AllSteps(nn.Module):
    """Runs an LSTM over [B, T, F] and returns every step's hidden state [B, T, H]."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class NextToken(nn.Module):
    """Embedding 5000x64, LSTM 128 over all steps, Dense 5000 per step; logits [B*T, 5000]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Embedding(LM_VOCAB, 64), AllSteps(64, 128), nn.Linear(128, LM_VOCAB))

    def forward(self, x):
        return self.body(x).reshape(-1, LM_VOCAB)


def lstm_lm():
    return NextToken()


class PreNormBlock(nn.Module):
    """clg_transformer_block: y = x + Dropout(MHA(LN(x))), y + Dropout(Dense(D)(Dense(ff, gelu)(LN(y))))."""

    def __init__(self, dim, heads, ff, dropout, seq_len):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-3), nn.LayerNorm(dim, eps=1e-3)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)
        mask = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0])
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Embedding 1000x128 + learned positions, 2 pre-norm causal blocks (4 heads, ff 512, dropout
    0.1), LayerNorm, Dense 1000 per step; logits [B*T, 1000]."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(GPT_VOCAB, 128)
        self.pos = nn.Parameter(torch.zeros(GPT_SEQ_LEN, 128))
        self.blocks = nn.Sequential(*[PreNormBlock(128, 4, 512, 0.1, GPT_SEQ_LEN) for _ in range(2)])
        self.head = nn.Sequential(nn.LayerNorm(128, eps=1e-3), nn.Linear(128, GPT_VOCAB))

    def forward(self, x):
        return self.head(self.blocks(self.tok(x) + self.pos)).reshape(-1, GPT_VOCAB)


def gpt_lm():
    return TinyGPT()


# name: (builder, input shape per sample (NCHW) or None for token ids, classes, unit)
MODELS = {
    "seed_cnn": (seed_cnn, (1, 28, 28), 10, "images/s"),
    "mlp": (mlp, (784,), 10, "images/s"),
    "lenet5": (lenet5, (3, 32, 32), 10, "images/s"),
    "vgg_small": (vgg_small, (3, 32, 32), 10, "images/s"),
    "lstm_cls": (lstm_cls, None, 2, "tokens/s"),
    "lstm_lm": (lstm_lm, ("lm", LM_VOCAB, LM_SEQ_LEN), LM_VOCAB, "tokens/s"),
    "gpt_lm": (gpt_lm, ("lm", GPT_VOCAB, GPT_SEQ_LEN), GPT_VOCAB, "tokens/s"),
    "resnet20": (resnet20, (3, 32, 32), 10, "images/s"),
}


def blas_name():
    """The BLAS library this process loaded (Debian's torch uses the libblas.so.3 alternative)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    except OSError:
        return "unknown"
    for key, name in (("openblas", "openblas"), ("blis", "blis"), ("mkl", "mkl"),
                      ("/blas/libblas", "netlib reference")):
        if any(key in p for p in paths):
            return name
    return "unknown"


def make_batches(shape, classes, batch, device, count=4):
    if isinstance(shape, tuple) and shape[0] == "lm":  # ("lm", vocab, T): a label per position
        _, vocab, seq_len = shape
        xs = [torch.randint(0, vocab, (batch, seq_len)) for _ in range(count)]
        ys = [torch.randint(0, classes, (batch * seq_len,)) for _ in range(count)]
        return [(x.to(device), y.to(device)) for x, y in zip(xs, ys)]
    if shape is None:
        xs = [torch.randint(0, VOCAB, (batch, SEQ_LEN)) for _ in range(count)]
    else:
        xs = [torch.rand(batch, *shape) for _ in range(count)]
    ys = [torch.randint(0, classes, (batch,)) for _ in range(count)]
    return [(x.to(device), y.to(device)) for x, y in zip(xs, ys)]


def make_run(name, mode, batch, steps, device):
    """setup: returns a function that performs one run (`steps` steps)."""
    build, shape, classes, _ = MODELS[name]
    model = build().to(device)
    batches = make_batches(shape, classes, batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if mode == "infer":
        model.eval()

        def run():
            with torch.no_grad():
                for s in range(steps):
                    model(batches[s % len(batches)][0])
            sync()
        return run

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    state = {"next": 0}

    def run():
        for _ in range(steps):
            x, y = batches[state["next"] % len(batches)]
            state["next"] += 1
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        sync()
    return run


def measure(run, warmup, repeat):
    for _ in range(warmup):
        run()
    times, start = [], time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if repeat:
            if len(times) >= repeat:
                break
        elif (time.perf_counter() - start >= 0.3 and len(times) >= 5) or len(times) >= 200:
            break
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--filter", default="", help="only models whose name contains TEXT")
    p.add_argument("--mode", choices=("train", "infer", "both"), default="both")
    p.add_argument("--batch", default="16,64,128", help="comma-separated batch sizes")
    p.add_argument("--steps", type=int, default=8, help="steps per timed run (default 8)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--repeat", type=int, default=0, help="exactly N timed runs")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    a = p.parse_args(argv)
    try:
        batches = [int(b) for b in a.batch.split(",") if b.strip()]
    except ValueError:
        p.error("--batch: comma-separated integers expected")
    if not batches or min(batches) < 1 or a.steps < 1 or a.warmup < 0 or a.repeat < 0 \
            or a.threads < 1:
        p.error("batch sizes, --steps and --threads must be >= 1; --warmup, --repeat >= 0")
    names = [n for n in MODELS if a.filter in n]
    if not names:
        p.error(f"--filter {a.filter!r} matches no model ({', '.join(MODELS)})")
    modes = ("train", "infer") if a.mode == "both" else (a.mode,)

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            p.error("--device cuda: this PyTorch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        driver = (f"pytorch {torch.__version__}, cuda {torch.version.cuda}, cudnn "
                  f"{torch.backends.cudnn.version()}, {torch.cuda.get_device_name(device)}, no tf32")
    else:
        driver = f"pytorch {torch.__version__}, {a.threads} threads, blas {blas_name()}"
    if not a.json:
        print(f"# {driver}, {device.type}, {a.steps} steps per run")
        print(f"{'name':<10} {'mode':<5} {'batch':>5} {'runs':>4} {'median ms':>10} "
              f"{'min ms':>9} {'max ms':>9} {'ms/step':>8} {'throughput':>11} unit")
    for name in names:
        unit = MODELS[name][3]
        shape = MODELS[name][1]
        seq_len = shape[2] if isinstance(shape, tuple) and shape[0] == "lm" else SEQ_LEN
        per_sample = seq_len if unit == "tokens/s" else 1
        for mode in modes:
            for batch in batches:
                run = make_run(name, mode, batch, a.steps, device)
                times = measure(run, a.warmup, a.repeat)
                med = statistics.median(times)
                row = {
                    "suite": "models", "name": name, "mode": mode, "batch": batch,
                    "device": device.type, "driver": driver,
                    "median_ms": med * 1e3, "min_ms": min(times) * 1e3,
                    "max_ms": max(times) * 1e3, "ms_per_step": med * 1e3 / a.steps,
                    "throughput": a.steps * batch * per_sample / med, "unit": unit,
                    "steps": a.steps, "runs": len(times),
                }
                if a.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{name:<10} {mode:<5} {batch:>5} {row['runs']:>4} "
                          f"{row['median_ms']:>10.2f} {row['min_ms']:>9.2f} "
                          f"{row['max_ms']:>9.2f} {row['ms_per_step']:>8.2f} "
                          f"{row['throughput']:>11.1f} {unit}", flush=True)
                del run
    return 0


if __name__ == "__main__":
    sys.exit(main())
