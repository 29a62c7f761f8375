"""The PyTorch side of the distributed benchmark: the same work as bench/distributed.ts, written as
idiomatic torch.distributed user code (torch.nn.parallel.DistributedDataParallel over gloo).

    RANK=r WORLD_SIZE=n MASTER_ADDR=... MASTER_PORT=... python3 bench/distributed_torch.py --threads N --serve

bench/compare-distributed.ts (`compare.js --suite distributed`) starts one such worker per rank with
torchrun's variables, PYTHONPATH pointing at the PyTorch wheel whose libtorch the addon links plus the
reference stack of tools/setup-pyref.sh, and speaks the protocol of bench/distributed.ts. The models
are built by bench/models_torch.py's build (transformers + peft's bert-base LoRA, torchvision's resnet50).
"""
import argparse
import json
import os
import platform
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from models_torch import build  # noqa: E402  bench/models_torch.py, beside this script
from serve import serve  # noqa: E402

RANK = int(os.environ.get("RANK", "0"))
WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))

workload = None
buffers = {}


def timed(fn, n):
    ms = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        ms.append((time.perf_counter_ns() - start) / 1e6)
    return ms


def setup(request):
    """The model wrapped in DDP on several ranks (rank 0's weights broadcast), this rank's batch, warm-up steps."""
    global workload
    if workload is not None:
        raise RuntimeError("setup: this worker already holds a model (one model per worker)")
    start = time.perf_counter_ns()
    # Each rank draws its own weights and batch; DDP's construction copies rank 0's weights to all.
    model, _, inputs, labels = build({**request, "seed": request["seed"] + RANK})
    model.train()
    called = torch.nn.parallel.DistributedDataParallel(model) if WORLD_SIZE > 1 else model
    if request["model"] == "resnet50":
        forward = lambda: called(inputs)  # noqa: E731
    else:
        forward = lambda: called(input_ids=inputs).logits  # noqa: E731
    setup_ms = (time.perf_counter_ns() - start) / 1e6
    workload = (model, forward, labels)
    params = list(model.parameters())
    return {
        "model": request["model"],
        "batch": request["batch"],
        "params": sum(p.numel() for p in params),
        "trainedParams": sum(p.numel() for p in params if p.requires_grad),
        "setupMs": setup_ms,
        "warmupMs": timed(train_step, request["warmupSteps"]),
    }


def train_step():
    """One training step as a user writes it; DDP averages the gradients during backward."""
    model, forward, labels = workload
    F.cross_entropy(forward(), labels).backward()
    model.zero_grad(set_to_none=True)


def allreduce(bytes_, n):
    """One untimed all_reduce(SUM) of `bytes_` of float32 zeros (the tensor kept for the next call), then n timed."""
    tensor = buffers.setdefault(bytes_, torch.zeros(bytes_ // 4))
    dist.all_reduce(tensor)
    return {"ms": timed(lambda: dist.all_reduce(tensor), n)}


def handle(line):
    command, _, rest = line.partition(" ")
    if command == "info":
        return {
            "engine": "pytorch",
            "runtime": f"python {platform.python_version()}",
            "torchVersion": torch.__version__.split("+")[0],
            "threads": torch.get_num_threads(),
            "rank": RANK,
            "worldSize": WORLD_SIZE,
        }
    if command == "allreduce":
        bytes_, n = (int(v) for v in rest.split())
        return allreduce(bytes_, n)
    if command == "setup":
        return setup(json.loads(rest))
    if command == "steps":
        if workload is None:
            raise RuntimeError("steps before setup")
        return {"stepMs": timed(train_step, int(rest))}
    raise ValueError(f"unknown command {line}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--serve", action="store_true", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if WORLD_SIZE > 1:
        dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    serve(handle)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
