"""Reference shards of torch.utils.data.distributed.DistributedSampler: test/fixtures/distributed-sampler/cases.json.

For each case (dataset size, replicas, shuffle, drop_last, seed, epoch) the indices of every rank, as
`list(iter(sampler))` after `sampler.set_epoch(epoch)`, with num_samples and total_size. No process group is
needed: num_replicas and rank are passed. Run from the repository root with the pinned torch wheel:
    PYTHONPATH=/root/.cache/finetune/libtorch-2.13.0+cpu python3 tools/gen_distributed_sampler_fixtures.py
"""
import json
import os

import torch
from torch.utils.data.distributed import DistributedSampler

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "distributed-sampler", "cases.json")

# (size, replicas, shuffle, drop_last, seed, epoch): even and uneven splits, padding longer than the
# dataset, a share of zero, dropLast with and without a remainder, several epochs and seeds, a larger set.
CASES = [
    (10, 3, True, False, 0, 0),
    (10, 3, True, False, 0, 1),
    (10, 3, True, True, 0, 0),
    (10, 4, False, False, 0, 0),
    (10, 4, False, True, 0, 0),
    (12, 4, True, True, 7, 2),
    (2, 5, True, False, 0, 0),
    (2, 5, False, False, 0, 0),
    (3, 4, True, True, 0, 0),
    (1, 1, True, False, 0, 0),
    (100, 4, True, False, 42, 0),
    (100, 4, True, False, 42, 1),
    (100, 4, True, False, 42, 2),
    (101, 8, True, True, 1234, 5),
    (1000, 3, True, False, 2**31, 3),
]


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def main():
    cases = []
    for size, replicas, shuffle, drop_last, seed, epoch in CASES:
        ranks = []
        for rank in range(replicas):
            sampler = DistributedSampler(
                Sized(size), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
            )
            sampler.set_epoch(epoch)
            ranks.append(list(iter(sampler)))
        cases.append(
            {
                "size": size,
                "num_replicas": replicas,
                "shuffle": shuffle,
                "drop_last": drop_last,
                "seed": seed,
                "epoch": epoch,
                "num_samples": sampler.num_samples,
                "total_size": sampler.total_size,
                "ranks": ranks,
            }
        )
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases (torch {torch.__version__})")


if __name__ == "__main__":
    main()
