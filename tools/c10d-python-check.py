"""Proves that finetune's process groups are PyTorch's own engine: a Python torch.distributed process (gloo) and a
finetune (Node) process join one group on 127.0.0.1 and run collectives together, with exact expected values.

Not part of the test suite (it needs a Python torch of the same version as finetune's libtorch). Run from the
repository root after `npm run setup`:

    PYTHONPATH=/root/.cache/finetune/libtorch-2.13.0+cpu python3 tools/c10d-python-check.py

It runs twice: Python as rank 0 (hosting the TCPStore) with finetune as rank 1, then the other way round. Each side
contributes [1, 2, 3] * (rank + 1); both must see allReduce SUM [3, 6, 9], AVG [1.5, 3, 4.5], MAX [2, 4, 6],
broadcast from rank 1 [2, 4, 6] and allGather [[1, 2, 3], [2, 4, 6]]. Then each wraps a Linear(3, 1) made from its
own seed in its DistributedDataParallel (torch's, and finetune's on c10d's Reducer: the same construction
collectives, the same buckets, rebuilt at the second forward) and runs two backward passes of (W x + b)^2 with
x = [1, 2, 3] * (rank + 1 + step): both must hold the gradients averaged over the two ranks at rank 0's weights.
Exits 1 on any mismatch.
"""

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORLD_SIZE = 2

# The finetune side: the same collectives, in the same order, printed as one JSON line.
NODE_RANK = """
import { distributed, manualSeed, nn, tensor, zeros } from %s;
const [rank, port] = process.argv.slice(1).map(Number);
distributed.initProcessGroup({ initMethod: `tcp://127.0.0.1:${port}`, rank, worldSize: 2, timeout: 20000 });
const mine = () => tensor([1, 2, 3].map((v) => v * (rank + 1)));
const out = {};
for (const op of ['sum', 'avg', 'max']) { const t = mine(); distributed.allReduce(t, op); out[op] = t.toArray(); }
const b = mine(); distributed.broadcast(b, 1); out.broadcast = b.toArray();
const list = [zeros([3]), zeros([3])]; distributed.allGather(list, mine()); out.allGather = list.map((t) => t.toArray());
manualSeed(rank);
const net = new nn.Linear(3, 1);
const ddp = new distributed.DistributedDataParallel(net);
out.weights = [...net.weight.toArray()[0], ...net.bias.toArray()];
out.ddpGrads = [];
for (let step = 0; step < 2; step++) {
  ddp.forward(tensor([[1, 2, 3].map((v) => v * (rank + 1 + step))])).pow(2).sum().backward();
  out.ddpGrads.push([...net.weight.grad.toArray()[0], ...net.bias.grad.toArray()]);
  net.weight.grad = null;
  net.bias.grad = null;
}
distributed.barrier();
distributed.destroyProcessGroup();
console.log(JSON.stringify({ rank, torch: 'finetune', ...out }));
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_rank(rank, port):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE, timeout=timedelta(seconds=20)
    )
    mine = lambda: torch.tensor([1.0, 2.0, 3.0]) * (rank + 1)
    out = {}
    for name, op in [("sum", dist.ReduceOp.SUM), ("avg", dist.ReduceOp.AVG), ("max", dist.ReduceOp.MAX)]:
        t = mine()
        dist.all_reduce(t, op=op)
        out[name] = t.tolist()
    b = mine()
    dist.broadcast(b, src=1)
    out["broadcast"] = b.tolist()
    gathered = [torch.zeros(3), torch.zeros(3)]
    dist.all_gather(gathered, mine())
    out["allGather"] = [t.tolist() for t in gathered]
    torch.manual_seed(rank)
    net = torch.nn.Linear(3, 1)
    ddp = DistributedDataParallel(net)
    out["weights"] = net.weight[0].tolist() + net.bias.tolist()
    out["ddpGrads"] = []
    for step in range(2):
        ddp(torch.tensor([[1.0, 2.0, 3.0]]) * (rank + 1 + step)).pow(2).sum().backward()
        out["ddpGrads"].append(net.weight.grad[0].tolist() + net.bias.grad.tolist())
        net.zero_grad()
    dist.barrier()
    dist.destroy_process_group()
    return {"rank": rank, "torch": torch.__version__, **out}


EXPECTED = {
    "sum": [3.0, 6.0, 9.0],
    "avg": [1.5, 3.0, 4.5],
    "max": [2.0, 4.0, 6.0],
    "broadcast": [2.0, 4.0, 6.0],
    "allGather": [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]],
}


def expected_ddp_grads(weights):
    """The gradients of (W x + b)^2 averaged over both ranks' x, at `weights` (rank 0's, after DDP's broadcast)."""
    w, b = torch.tensor(weights[:3], dtype=torch.float64), weights[3]
    grads = []
    for step in range(2):
        per_rank = []
        for rank in range(WORLD_SIZE):
            x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) * (rank + 1 + step)
            residual = 2 * (float(w @ x) + b)
            per_rank.append((x * residual).tolist() + [residual])
        grads.append([(a + c) / 2 for a, c in zip(*per_rank)])
    return grads


def close(actual, expected):
    return all(abs(a - e) <= 1e-5 * max(1.0, abs(e)) for a, e in zip(actual, expected)) and len(actual) == len(expected)


def run(python_is_rank):
    port = free_port()
    script = NODE_RANK % json.dumps(os.path.join(ROOT, "dist", "index.js"))
    node = subprocess.Popen(
        ["node", "--input-type=module", "-e", script, str(1 - python_is_rank), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        py = python_rank(python_is_rank, port)
    finally:
        stdout, stderr = node.communicate(timeout=60)
    if node.returncode != 0:
        raise SystemExit(f"the finetune rank failed ({node.returncode}):\n{stderr}")
    js = json.loads(stdout.strip().splitlines()[-1])
    ok = True
    for side in (py, js):
        print(json.dumps(side))
        for key, want in EXPECTED.items():
            if side[key] != want:
                print(f"  MISMATCH: rank {side['rank']} ({side['torch']}) {key} = {side[key]}, expected {want}")
                ok = False
    rank0 = py if python_is_rank == 0 else js
    want_grads = expected_ddp_grads(rank0["weights"])
    for side in (py, js):
        if not close(side["weights"], rank0["weights"]):
            print(f"  MISMATCH: rank {side['rank']} ({side['torch']}) DDP weights {side['weights']} are not rank 0's")
            ok = False
        for step, (got, want) in enumerate(zip(side["ddpGrads"], want_grads)):
            if not close(got, want):
                print(f"  MISMATCH: rank {side['rank']} ({side['torch']}) DDP step {step} gradients {got}, expected {want}")
                ok = False
    return ok


def main():
    results = []
    for python_is_rank in (0, 1):
        print(f"Python torch.distributed as rank {python_is_rank}, finetune as rank {1 - python_is_rank}:")
        results.append(run(python_is_rank))
    print("ok: one process group, two engines, the same numbers (collectives and DDP)" if all(results) else "FAILED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
