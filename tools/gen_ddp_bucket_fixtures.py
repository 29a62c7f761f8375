"""Reference bucket assignments of torch's DistributedDataParallel: test/fixtures/ddp-buckets/cases.json.

For a small MLP (nn.Sequential of Linear and ReLU, ~2 MB of float32 parameters) and each case (bucket_cap_mb,
find_unused_parameters), the names of the parameters in each of the Reducer's buckets, in reduction order, right
after construction and after the second forward (when the Reducer rebuilds its buckets in the order the gradients
arrived). A one-rank gloo group on a HashStore is enough: the assignment does not depend on the world size. Run from
the repository root with the pinned torch wheel:
    PYTHONPATH=/root/.cache/finetune/libtorch-2.13.0+cpu python3 tools/gen_ddp_bucket_fixtures.py
"""
import json
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "ddp-buckets", "cases.json")

# in → hidden → hidden → out features; 256·512 + 512·512 + 512·256 weights put one layer exactly at 1 MiB, the
# first bucket's default cap.
LAYERS = [(256, 512), (512, 512), (512, 256), (256, 8)]
# (bucket_cap_mb, find_unused_parameters): torch's defaults, a cap given (it caps the first bucket too), and the
# find_unused_parameters layout (buckets from the parameters' order at construction, never rebuilt).
CASES = [(None, False), (0.25, False), (None, True), (0.25, True)]


def model():
    modules = []
    for i, (n_in, n_out) in enumerate(LAYERS):
        if i > 0:
            modules.append(nn.ReLU())
        modules.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*modules)


def buckets(ddp, names):
    return [[names[id(p)] for p in b.parameters()] for b in ddp.reducer._get_zeros_like_grad_buckets()]


def main():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    cases = []
    for cap, find_unused in CASES:
        torch.manual_seed(0)
        net = model()
        names = {id(p): name for name, p in net.named_parameters()}
        options = {} if cap is None else {"bucket_cap_mb": cap}
        ddp = DistributedDataParallel(net, find_unused_parameters=find_unused, **options)
        at_construction = buckets(ddp, names)
        for _ in range(2):
            ddp(torch.ones(4, LAYERS[0][0])).sum().backward()
        cases.append({
            "bucketCapMb": cap,
            "findUnusedParameters": find_unused,
            "atConstruction": at_construction,
            "afterSecondForward": buckets(ddp, names),
        })
    dist.destroy_process_group()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "layers": LAYERS, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
