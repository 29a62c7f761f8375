"""The PyTorch side of the optim benchmark: the same optimizer steps as bench/optim.ts, on float32
parameters of bert-base's shapes (the driver passes the shapes finetune's model has), each with a
random gradient set once; a step is `optimizer.step()` alone.

    python3 bench/optim_torch.py --threads N --serve     the protocol of bench/optim-shared.ts
    python3 bench/optim_torch.py --threads N --kind adamw [--fused true] [--steps N]   alone (bert-base shapes
                                                          from transformers' BertConfig defaults, as a check)

bench/optim-compare.ts (`compare.js --suite optim`) runs it with PYTHONPATH pointing at the
PyTorch wheel whose libtorch the addon links. Only torch is imported.
"""
import argparse
import gc
import json
import os
import platform
import resource
import time

import torch
from serve import serve  # noqa: E402  bench/serve.py, beside this script

params = None
optimizer = None


def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def bert_base_shapes():
    """BertForSequenceClassification(BertConfig(num_labels=2))'s parameter shapes, in model order."""
    layer = [[768, 768], [768]] * 4 + [[768], [768], [3072, 768], [3072], [768, 3072], [768], [768], [768]]
    return [[30522, 768], [512, 768], [2, 768], [768], [768]] + layer * 12 + [[768, 768], [768], [2, 768], [2]]


def setup(request):
    global params
    if params is not None:
        raise RuntimeError("setup: already set up")
    start = time.perf_counter_ns()
    torch.manual_seed(request["seed"])
    params = [torch.randn(shape).mul_(0.02).requires_grad_() for shape in request["shapes"]]
    for p in params:
        p.grad = torch.randn(p.shape) * 1e-3
    return {
        "shapes": [list(p.shape) for p in params],
        "params": sum(p.numel() for p in params),
        "paramTensors": len(params),
        "setupMs": (time.perf_counter_ns() - start) / 1e6,
        "rssKb": rss_kb(),
    }


def timed_steps(steps):
    step_ms = []
    for _ in range(steps):
        start = time.perf_counter_ns()
        optimizer.step()
        step_ms.append((time.perf_counter_ns() - start) / 1e6)
    return step_ms


def make_optimizer(config):
    global optimizer
    if params is None:
        raise RuntimeError("optimizer before setup")
    optimizer = None
    gc.collect()
    flags = {} if config["fused"] is None else {"fused": config["fused"]}
    if config["kind"] == "adamw":
        optimizer = torch.optim.AdamW(params, **flags)
    else:
        optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9, **flags)
    return {"warmupMs": timed_steps(config["warmupSteps"])}


def info():
    return {"engine": "pytorch", "runtime": f"python {platform.python_version()}", "torchVersion": torch.__version__.split("+")[0], "threads": torch.get_num_threads()}


def handle(line):
    command, _, rest = line.partition(" ")
    if command == "info":
        return info()
    if command == "setup":
        return setup(json.loads(rest))
    if command == "optimizer":
        return make_optimizer(json.loads(rest))
    if command == "steps":
        if optimizer is None:
            raise RuntimeError("steps before optimizer")
        before = resource.getrusage(resource.RUSAGE_SELF)
        step_ms = timed_steps(int(rest))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return {"stepMs": step_ms, "minorFaults": after.ru_minflt - before.ru_minflt, "cpuSeconds": cpu}
    raise ValueError(f"unknown command {line}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--kind", choices=["adamw", "sgd"])
    parser.add_argument("--fused", choices=["true", "false"], help="PyTorch's fused= flag (default: not given)")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.serve:
        serve(handle)
    elif args.kind:
        setup({"seed": 0, "shapes": bert_base_shapes()})
        fused = None if args.fused is None else args.fused == "true"
        warmup = make_optimizer({"kind": args.kind, "fused": fused, "warmupSteps": 2})
        step_ms = timed_steps(args.steps)
        print(json.dumps({**info(), "kind": args.kind, "fused": fused, "paramTensors": len(params), **warmup, "stepMs": step_ms, "msPerStep": sorted(step_ms)[len(step_ms) // 2]}))
    else:
        parser.error("give --serve (the driver is bench/optim-compare.ts) or --kind adamw|sgd")


if __name__ == "__main__":
    main()
