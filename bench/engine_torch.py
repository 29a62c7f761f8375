"""The PyTorch side of the engine benchmark: the same work as bench/engine.ts, written as
idiomatic PyTorch user code.

    python3 bench/engine_torch.py [--threads N] [--quick]   this engine alone: prints a JSON summary
    python3 bench/engine_torch.py --threads N --serve       the line protocol of bench/shared.ts

bench/compare.ts runs it with PYTHONPATH pointing at the PyTorch wheel whose libtorch the
addon links, so both sides run the same libtorch build. Sizes mirror bench/shared.ts.
"""
import argparse
import json
import math
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from serve import serve  # noqa: E402  bench/serve.py, beside this script

# Mirrors bench/shared.ts (used by the standalone mode; in --serve mode the driver sends counts).
OPS = {"mixed_tidy": 7, "mixed_dispose": 7, "add": 1, "mul_scalar": 1, "relu": 1, "sum": 1, "chain": 3}
ITERATIONS = {"mixed_tidy": 4000, "mixed_dispose": 4000, "add": 30000, "mul_scalar": 30000, "relu": 30000, "sum": 30000, "chain": 10000}
ROUNDS = {"full": {"perOp": 21, "mlp": 10, "mlpStepsPerBlock": 3}, "quick": {"perOp": 3, "mlp": 2, "mlpStepsPerBlock": 2}}
QUICK_DIVISOR = 10
MLP = {"batch": 512, "dIn": 768, "dHidden": 3072, "warmupSteps": 5}


def mlp_flops():
    return 3 * (2 * MLP["batch"] * MLP["dIn"] * MLP["dHidden"] * 2)


# ---- (a) per-op workloads: plain user loops. Rebinding a name frees the previous result,
# as dispose() does on the finetune side.

a = torch.tensor([1.5])
b = torch.tensor([-0.25])


def mixed(n):
    for _ in range(n):
        c = a + b
        d = c * 2
        e = d.relu()
        s = e.sum()
        f = (a * b + 1).neg()


def add(n):
    for _ in range(n):
        c = a + b


def mul_scalar(n):
    for _ in range(n):
        c = a * 2


def relu(n):
    for _ in range(n):
        c = a.relu()


def sum_(n):
    for _ in range(n):
        c = a.sum()


def chain(n):
    for _ in range(n):
        f = (a * b + 1).neg()


# Python has one idiom for the mixed loop; finetune's two (tidy, dispose) compare against it.
WORKLOADS = {"mixed_tidy": mixed, "mixed_dispose": mixed, "add": add, "mul_scalar": mul_scalar, "relu": relu, "sum": sum_, "chain": chain}


def per_op(name, iterations):
    """Runs a workload `iterations` times; µs per op."""
    loop = WORKLOADS[name]
    start = time.perf_counter_ns()
    loop(iterations)
    return (time.perf_counter_ns() - start) / 1000 / (iterations * OPS[name])


# ---- (b) MLP step

mlp_state = None


def mlp_setup():
    """Creates the data (seeded, in the same order as engine.ts) and runs the warm-up steps."""
    batch, d_in, d_hidden = MLP["batch"], MLP["dIn"], MLP["dHidden"]
    torch.manual_seed(0)
    x = torch.randn(batch, d_in).requires_grad_()
    w1 = (torch.randn(d_hidden, d_in) * (1 / math.sqrt(d_in))).requires_grad_()
    b1 = (torch.randn(d_hidden) * 0.01).requires_grad_()
    w2 = (torch.randn(d_in, d_hidden) * (1 / math.sqrt(d_hidden))).requires_grad_()
    b2 = (torch.randn(d_in) * 0.01).requires_grad_()
    target = torch.randn(batch, d_in)
    leaves = [x, w1, b1, w2, b2]

    # One training step as a user writes it: forward, loss, backward, grads reset.
    def step():
        h = F.linear(x, w1, b1)
        g = F.gelu(h)
        y = F.linear(g, w2, b2)
        loss = F.mse_loss(y, target)
        loss.backward()
        for leaf in leaves:
            leaf.grad = None
        return loss

    first_loss = step().item()
    for _ in range(1, MLP["warmupSteps"]):
        step()
    return step, first_loss


def mlp(steps):
    """Runs `steps` steps; ms of each."""
    global mlp_state
    reply = {}
    if mlp_state is None:
        mlp_state, reply["firstLoss"] = mlp_setup()
    step_ms = []
    for _ in range(steps):
        start = time.perf_counter_ns()
        mlp_state()
        step_ms.append((time.perf_counter_ns() - start) / 1e6)
    reply["stepMs"] = step_ms
    return reply


# ---- driver


def info():
    return {
        "engine": "pytorch",
        "runtime": f"python {platform.python_version()}",
        "torchVersion": torch.__version__.split("+")[0],
        "threads": torch.get_num_threads(),
    }


def handle(line):
    command, *args = line.split()
    if command == "info":
        return info()
    if command == "perop":
        return {"usPerOp": per_op(args[0], int(args[1]))}
    if command == "mlp":
        return mlp(int(args[0]))
    raise ValueError(f"unknown command {line}")


def standalone(quick):
    rounds = ROUNDS["quick" if quick else "full"]
    results = {}
    for name in OPS:
        iterations = ITERATIONS[name] // (QUICK_DIVISOR if quick else 1)
        per_op(name, iterations)
        samples = [per_op(name, iterations) for _ in range(rounds["perOp"])]
        results[name] = {"usPerOp": statistics.median(samples), "samples": samples}
    first_loss = mlp(0)["firstLoss"]
    step_ms = mlp(rounds["mlp"] * rounds["mlpStepsPerBlock"])["stepMs"]
    ms = statistics.median(step_ms)
    mlp_result = {"msPerStep": ms, "gflops": mlp_flops() / (ms * 1e6), "stepMs": step_ms, "firstLoss": first_loss}
    print(json.dumps({**info(), "perOp": results, "mlp": mlp_result}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.serve:
        serve(handle)
    else:
        standalone(args.quick)


if __name__ == "__main__":
    main()
