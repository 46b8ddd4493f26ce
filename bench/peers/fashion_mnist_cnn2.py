#!/usr/bin/python3
"""PyTorch reference for clgrad's examples/fashion_mnist_cnn2.c (CPU).

The Keras model the example follows, with Keras's defaults:
  Conv2D 32 3x3 'same' relu, BatchNormalization, MaxPool 2, Dropout 0.25,
  Conv2D 64 3x3 'same' relu, BatchNormalization, MaxPool 2, Dropout 0.25,
  Flatten, Dense 128 relu, Dropout 0.5, Dense 10 softmax;
  sparse categorical cross-entropy, Adam lr 1e-3 (eps 1e-7), batch 32, shuffled every epoch,
  glorot-uniform kernels and zero biases, BatchNormalization momentum 0.99 (torch 0.01), eps 1e-3.

Keras's validation_split rule: the LAST --validation-split of the training set (unshuffled) is
held out, the rest is trained on. Reported per epoch: the running mean of the training loss and
accuracy over the epoch (as Keras prints them) and the validation loss and accuracy.
The test set is read and evaluated ONLY with --test: choose settings on validation accuracy.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz).
Run with Debian's interpreter, which has python3-torch:
  /usr/bin/python3 bench/peers/fashion_mnist_cnn2.py --variant shipped --epochs 10 --seed 0
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"

# name: (dropout after block 1, after block 2, after Dense 128, default epochs)
VARIANTS = {
    "shipped": (0.25, 0.25, 0.5, 10),
    "light_dropout": (0.1, 0.1, 0.3, 10),
    "more_epochs": (0.25, 0.25, 0.5, 20),
}


def read_idx(path):
    """An IDX file (gzipped) as a numpy array of its dims."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(name):
    """x float32 [N,1,28,28] = pixels / 255, y int64 [N]."""
    x = read_idx(f"{DATA_DIR}/{name}-images-idx3-ubyte.gz")
    y = read_idx(f"{DATA_DIR}/{name}-labels-idx1-ubyte.gz")
    return (x.astype(np.float32) / 255.0)[:, None, :, :], y.astype(np.int64)


def build(nn, p1, p2, p3):
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01),
        nn.MaxPool2d(2), nn.Dropout(p1),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01),
        nn.MaxPool2d(2), nn.Dropout(p2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(p3),
        nn.Linear(128, 10))  # softmax: folded into the cross-entropy on logits
    for m in model.modules():  # Keras initialisers
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def evaluate(torch, model, x, y, batch=1000):
    """Mean loss and accuracy in inference mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            loss_sum += torch.nn.functional.cross_entropy(
                logits, y[i:i + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return loss_sum / len(x), correct / len(x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", choices=VARIANTS, default="shipped")
    p.add_argument("--epochs", type=int, help="default 10 (more_epochs: 20)")
    p.add_argument("--seed", type=int, default=0, help="weights and shuffling (default 0)")
    p.add_argument("--validation-split", type=float, default=0.1,
                   help="share held out at the END of the training set (default 0.1)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--train-samples", type=int, default=0,
                   help="train on only the first N of the training part (smoke tests)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test", action="store_true",
                   help="evaluate on the test set after training (not for choosing settings)")
    a = p.parse_args(argv)
    p1, p2, p3, default_epochs = VARIANTS[a.variant]
    epochs = a.epochs if a.epochs is not None else default_epochs
    if epochs < 1 or a.batch < 1 or a.threads < 1 or not 0 < a.validation_split < 1:
        p.error("--epochs, --batch, --threads >= 1 and 0 < --validation-split < 1")

    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    import torch
    from torch import nn
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)

    x, y = load_split("train")
    n_train = len(x) - int(round(len(x) * a.validation_split))
    x_tr, y_tr = torch.from_numpy(x[:n_train]), torch.from_numpy(y[:n_train])
    x_val, y_val = torch.from_numpy(x[n_train:]), torch.from_numpy(y[n_train:])
    if a.train_samples:
        x_tr, y_tr = x_tr[:a.train_samples], y_tr[:a.train_samples]
    n = len(x_tr)

    model = build(nn, p1, p2, p3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    gen = torch.Generator().manual_seed(a.seed)
    print(f"# variant {a.variant} (dropout {p1}/{p2}/{p3}), {epochs} epochs, batch {a.batch}, "
          f"seed {a.seed}; train {n}, validation {len(x_val)} (last "
          f"{a.validation_split:g}); pytorch {torch.__version__}, {a.threads} threads",
          flush=True)
    print(f"{'epoch':>5} {'loss':>8} {'acc':>8} {'val_loss':>9} {'val_acc':>8} {'seconds':>8}",
          flush=True)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, a.batch):
            idx = order[i:i + a.batch]
            xb, yb = x_tr[idx], y_tr[idx]
            opt.zero_grad()
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        val_loss, val_acc = evaluate(torch, model, x_val, y_val)
        secs = time.perf_counter() - t0
        print(f"{epoch:>5} {loss_sum / n:>8.4f} {correct / n:>8.4f} {val_loss:>9.4f} "
              f"{val_acc:>8.4f} {secs:>8.1f}", flush=True)

    if a.test:
        xt, yt = load_split("t10k")
        test_loss, test_acc = evaluate(torch, model, torch.from_numpy(xt), torch.from_numpy(yt))
        print(f"test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
