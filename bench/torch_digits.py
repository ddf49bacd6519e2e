#!/usr/bin/env python3
"""The digit classifier of examples/digits.cpp, in PyTorch: the same data, split and protocols.

    /usr/bin/python3 bench/torch_digits.py [path/to/digits.csv.gz] [--seeds K] [--split-seed N]

Reads sklearn's digits.csv.gz (Debian's python3-sklearn), divides the pixels by 16, splits 80/20
with the same permutation as the C++ example (examples/data/digits_split.txt, NumPy's
default_rng(0).permutation(1797); with --split-seed N, Fisher-Yates driven by splitmix64 as
examples/digits.cpp --split-seed N), and trains a 64 -> 32 -> 10 tanh network with cross-entropy
twice: full-batch gradient descent (torch.optim.SGD, lr 0.5, 200 steps) and Adam (lr 1e-3) on
minibatches of 32 shuffled rows for 200 epochs. Prints the test accuracies (and the time per epoch), for the default initialisation
seed and, with --seeds K, for K initialisation seeds (the spread shows what one split's accuracy
means: each test sample is 0.28 %). Optional: nothing in the build or the tests needs it.
"""

import argparse
import gzip
import os
import sys
import time

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def shuffle(a, rng):
    for i in range(len(a) - 1, 0, -1):
        j = rng.next() % (i + 1)
        a[i], a[j] = a[j], a[i]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default="/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz")
    p.add_argument("--seeds", type=int, default=1, help="initialisation seeds to try (default 1)")
    p.add_argument("--split-seed", type=int, help="a splitmix64 split instead of the committed one")
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("torch_digits.py: PyTorch is not installed (Debian: python3-torch; run /usr/bin/python3)")
    torch.set_num_threads(1)
    rows = [list(map(int, line.split(","))) for line in gzip.open(args.path, "rt") if line.strip()]
    X = torch.tensor([r[:64] for r in rows], dtype=torch.float32) / 16
    y = torch.tensor([r[64] for r in rows], dtype=torch.long)
    if args.split_seed is None:
        split_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data", "digits_split.txt")
        order = [int(v) for line in open(split_file) if not line.startswith("#") for v in line.split()]
        assert sorted(order) == list(range(len(rows))), split_file
    else:
        order = list(range(len(rows)))
        shuffle(order, SplitMix64(args.split_seed))
    n_train = len(rows) * 4 // 5
    tr, te = torch.tensor(order[:n_train]), torch.tensor(order[n_train:])
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    print(f"torch {torch.__version__}: {len(tr)} training and {len(te)} test samples")

    def model():
        return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))

    def accuracy(m):
        with torch.no_grad():
            return (m(Xte).argmax(1) == yte).float().mean().item()

    loss_fn = torch.nn.CrossEntropyLoss()
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        m = model()
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        t0 = time.perf_counter()
        for _ in range(200):
            opt.zero_grad()
            loss_fn(m(Xtr), ytr).backward()
            opt.step()
        gd_ms = 1e3 * (time.perf_counter() - t0) / 200
        gd = accuracy(m)

        torch.manual_seed(seed)
        m = model()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        for _ in range(200):
            perm = torch.randperm(len(tr))
            for s in range(0, len(tr), 32):
                idx = perm[s:s + 32]
                opt.zero_grad()
                loss_fn(m(Xtr[idx]), ytr[idx]).backward()
                opt.step()
        adam_ms = 1e3 * (time.perf_counter() - t0) / 200
        print(f"seed {seed}: full-batch GD {100 * gd:.1f} % ({gd_ms:.3f} ms per step), "
              f"Adam minibatch 32 {100 * accuracy(m):.1f} % ({adam_ms:.2f} ms per epoch)")


if __name__ == "__main__":
    main()
