"""Reference learning rates for finetune's schedules: test/fixtures/schedules/{hf,torch}.json.

hf.json: transformers.get_scheduler for every step-based schedule, driven step by step on a real
torch optimizer with two param groups (lr 1e-3 = the optimizer's default, and 3e-4), recorded at
checkpoints that include the warmup edges (0, w-1, w, w+1), phase boundaries and the last steps.
torch.json: torch.optim.lr_scheduler.OneCycleLR (lr and momentum / beta1 at every step) and
ReduceLROnPlateau (lrs and counters after each metric). Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_schedule_fixtures.py
"""
import json
import math
import os
from types import SimpleNamespace

from pyref import torch
from transformers import TrainingArguments
from transformers.optimization import get_scheduler

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "schedules")
LR, LR2 = 1e-3, 3e-4


def sgd(momentum=0.0, lrs=(LR, LR2)):
    p1, p2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    return torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": lrs[1]}], lr=lrs[0], momentum=momentum)


def checkpoints(n, w, extra=()):
    steps = {0, 1, 2, w - 2, w - 1, w, w + 1, w + 2, n // 4, n // 2, (3 * n) // 4, n - 2, n - 1, n, n + 1, n + 10, *extra}
    return sorted(s for s in steps if s >= 0)


def hf_case(label, name, n, warmup=None, warmup_ratio=None, kwargs=None, extra=()):
    if warmup_ratio is not None:
        # transformers 5: TrainingArguments(warmup_steps=<float < 1>) is a ratio of the training steps
        warmup = TrainingArguments.get_warmup_steps(SimpleNamespace(warmup_steps=warmup_ratio), n)
    opt = sgd()
    sched = get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=n, scheduler_specific_kwargs=kwargs)
    points = checkpoints(n, warmup or 0, extra)
    lam = sched.lr_lambdas[0]
    rows = []
    for step in range(points[-1] + 1):
        if step > 0:
            opt.step()
            sched.step()
        if step in points:
            rows.append({"step": step, "lrs": [g["lr"] for g in opt.param_groups], "last_lr": sched.get_last_lr(), "multiplier": float(lam(step))})
    assert len(rows) >= 10, label
    return {
        "label": label,
        "name": name,
        "num_training_steps": n,
        "num_warmup_steps": warmup,
        "warmup_ratio": warmup_ratio,
        "kwargs": kwargs or {},
        "optimizer_lrs": [LR, LR2],
        "rows": rows,
    }


def hf_cases():
    return [
        hf_case("constant", "constant", 100),
        hf_case("constant_with_warmup", "constant_with_warmup", 100, warmup=10),
        hf_case("linear", "linear", 100, warmup=10),
        hf_case("linear, warmup ratio 0.06 of 1000", "linear", 1000, warmup_ratio=0.06),
        hf_case("linear, no warmup", "linear", 50, warmup=0),
        hf_case("cosine", "cosine", 100, warmup=10),
        hf_case("cosine, 1.5 cycles", "cosine", 100, warmup=5, kwargs={"num_cycles": 1.5}, extra=(35, 36, 37, 68, 69, 70)),
        hf_case("cosine, warmup ratio 0.1", "cosine", 1000, warmup_ratio=0.1),
        hf_case("cosine_with_restarts, 3 cycles", "cosine_with_restarts", 100, warmup=10, kwargs={"num_cycles": 3}, extra=(39, 40, 41, 69, 70, 71)),
        hf_case("cosine_with_min_lr, min_lr_rate", "cosine_with_min_lr", 100, warmup=10, kwargs={"min_lr_rate": 0.1}),
        hf_case("cosine_with_min_lr, min_lr", "cosine_with_min_lr", 100, warmup=10, kwargs={"min_lr": 1e-5}),
        hf_case("cosine_warmup_with_min_lr", "cosine_warmup_with_min_lr", 100, warmup=10, kwargs={"min_lr_rate": 0.05}),
        hf_case("cosine_warmup_with_min_lr, warmup_lr_rate", "cosine_warmup_with_min_lr", 100, warmup=10, kwargs={"min_lr": 2e-5, "warmup_lr_rate": 0.1}),
        hf_case("polynomial, power 2", "polynomial", 100, warmup=10, kwargs={"lr_end": 1e-5, "power": 2.0}),
        hf_case("polynomial, defaults", "polynomial", 100, warmup=0),
        hf_case("inverse_sqrt", "inverse_sqrt", 100, warmup=10),
        hf_case("inverse_sqrt, no warmup", "inverse_sqrt", 100, warmup=0),
        hf_case("inverse_sqrt, timescale 20", "inverse_sqrt", 100, warmup=10, kwargs={"timescale": 20}),
        hf_case("warmup_stable_decay, defaults", "warmup_stable_decay", 100, warmup=10, kwargs={"num_decay_steps": 30, "min_lr_ratio": 0.1}, extra=(68, 69, 70, 71)),
        hf_case(
            "warmup_stable_decay, linear decay, cosine warmup, stable steps",
            "warmup_stable_decay",
            100,
            warmup=10,
            kwargs={"num_stable_steps": 40, "num_decay_steps": 20, "warmup_type": "cosine", "decay_type": "linear"},
            extra=(49, 50, 51, 69, 70, 71),
        ),
        hf_case(
            "warmup_stable_decay, 1-sqrt",
            "warmup_stable_decay",
            100,
            warmup=10,
            kwargs={"num_decay_steps": 25, "warmup_type": "1-sqrt", "decay_type": "1-sqrt", "min_lr_ratio": 0.05},
            extra=(74, 75, 76),
        ),
    ]


def group_momentum(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def one_cycle_case(label, total, kwargs, adam=False, lrs=(LR, LR2)):
    p1, p2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    groups = [{"params": [p1]}, {"params": [p2], "lr": lrs[1]}]
    opt = torch.optim.Adam(groups, lr=lrs[0], betas=(0.9, 0.99)) if adam else torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, **kwargs)
    rows = []
    for step in range(total + 1):
        if step > 0:
            opt.step()
            sched.step()
        rows.append({"step": step, "lrs": [g["lr"] for g in opt.param_groups], "momentum": group_momentum(opt)})
    return {"label": label, "total_steps": total, "adam": adam, "optimizer_lrs": list(lrs), "kwargs": kwargs, "rows": rows}


def plateau_case(label, metrics, kwargs):
    opt = sgd(lrs=(0.1, 0.05))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    rows = []
    for m in metrics:
        sched.step(m)
        rows.append({"metric": m, "lrs": [g["lr"] for g in opt.param_groups], "best": sched.best, "num_bad_epochs": sched.num_bad_epochs, "cooldown_counter": sched.cooldown_counter})
    return {"label": label, "optimizer_lrs": [0.1, 0.05], "kwargs": kwargs, "rows": rows}


def torch_cases():
    falling = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79995, 0.7, 0.7, 0.71, 0.72, 0.73, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69]
    rising = [0.5, 0.6, 0.65, 0.66, 0.66, 0.7, 0.71, 0.72, 0.72, 0.72, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    return {
        "one_cycle": [
            one_cycle_case("defaults (SGD momentum, max_lr per group)", 100, {"max_lr": [0.1, 0.01]}),
            one_cycle_case("Adam betas, three phases, linear", 50, {"max_lr": 1e-3, "three_phase": True, "anneal_strategy": "linear"}, adam=True),
            one_cycle_case("odd total, pct_start 0.25, div 10, final_div 100", 37, {"max_lr": 0.05, "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
            one_cycle_case("no momentum cycling", 20, {"max_lr": 0.2, "cycle_momentum": False}),
            one_cycle_case("custom momenta", 30, {"max_lr": 0.3, "base_momentum": 0.8, "max_momentum": 0.9}, adam=True),
        ],
        "reduce_on_plateau": [
            plateau_case("patience 2", falling, {"patience": 2}),
            plateau_case("defaults", falling + falling, {}),
            plateau_case("max mode, abs threshold, cooldown, per-group min_lr", rising, {"mode": "max", "threshold_mode": "abs", "threshold": 0.02, "cooldown": 2, "factor": 0.5, "patience": 1, "min_lr": [0.02, 0.03]}),
            plateau_case("eps skips tiny reductions", [1.0] * 12, {"patience": 0, "factor": 0.5, "min_lr": 0.047, "eps": 0.004}),
        ],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__, "transformers": __import__("transformers").__version__}
    with open(os.path.join(OUT, "hf.json"), "w") as f:
        json.dump({**meta, "cases": hf_cases()}, f, indent=1)
    with open(os.path.join(OUT, "torch.json"), "w") as f:
        json.dump({**meta, **torch_cases()}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
