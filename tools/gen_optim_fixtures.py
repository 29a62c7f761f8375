"""Reference trajectories of torch.optim for finetune's optimizers: test/fixtures/optim/.

Three small float32 parameters (shapes [7,5], [5], [3,4,2]) with seeded initial values and a
seeded sequence of 100 gradients per parameter, shipped in inputs.safetensors (so both sides use
bit-identical gradients). For each configuration (AdamW, Adam, SGD with momentum / Nesterov /
dampening / weight decay, two parameter groups, a parameter that misses some gradients), PyTorch
2.13 runs 100 steps with its default implementation (no foreach/fused flags: on the CPU the
single-tensor for-loop) and again with fused=True; reference.safetensors holds the parameters
after steps 1, 10, 50 and 100, the final state of every parameter, and the fused run's final
parameters (none where PyTorch's fused SGD fails: a momentum buffer starting after step 1).
The CPU kernels libtorch picks (cpuCapability, e.g. AVX2) decide the last bits, so the tests
compare bit for bit only on a machine with the same capability. Plus clip_grad_norm_ / clip_grad_value_ on the first gradients. cases.json lists the
configurations (finetune's option names) and PyTorch's state_dict()["param_groups"] of each.
Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_optim_fixtures.py
"""
import json
import os

from pyref import torch
from safetensors.torch import save_file

torch.manual_seed(0)
STEPS = 100
CHECKPOINTS = [1, 10, 50, 100]
SHAPES = [[7, 5], [5], [3, 4, 2]]

initial = [torch.randn(shape) for shape in SHAPES]
# Gradients of varied scale per parameter (0.5, 2, 0.05), so moments differ in magnitude.
scales = [0.5, 2.0, 0.05]
grads = [torch.randn([STEPS] + shape) * scale for shape, scale in zip(SHAPES, scales)]

# Each case: the optimizer, its options in finetune's (camelCase) names, the groups (lists of
# parameter indices plus per-group options), and optionally a parameter left without a gradient
# every `every`-th step (step index % every == 0).
CASES = [
    {"name": "adamw_default", "optimizer": "AdamW", "options": {}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "adamw_lr1e-2_wd0", "optimizer": "AdamW", "options": {"lr": 1e-2, "weightDecay": 0.0}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "adamw_lr1e-2_wd0.1_maximize", "optimizer": "AdamW", "options": {"lr": 1e-2, "weightDecay": 0.1, "maximize": True}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "adam_lr1e-2", "optimizer": "Adam", "options": {"lr": 1e-2}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "adam_lr1e-2_wd0.1", "optimizer": "Adam", "options": {"lr": 1e-2, "weightDecay": 0.1}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "adam_amsgrad_betas", "optimizer": "Adam", "options": {"lr": 1e-2, "amsgrad": True, "betas": [0.8, 0.99], "eps": 1e-6}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "sgd_plain", "optimizer": "SGD", "options": {"lr": 0.05}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "sgd_momentum", "optimizer": "SGD", "options": {"lr": 0.01, "momentum": 0.9}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "sgd_nesterov_wd", "optimizer": "SGD", "options": {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-4}, "groups": [{"params": [0, 1, 2]}]},
    {"name": "sgd_dampening_wd_maximize", "optimizer": "SGD", "options": {"lr": 0.01, "momentum": 0.9, "dampening": 0.1, "weightDecay": 1e-4, "maximize": True}, "groups": [{"params": [0, 1, 2]}]},
    {
        "name": "adamw_two_groups",
        "optimizer": "AdamW",
        "options": {"lr": 1e-3},
        "groups": [{"params": [0], "lr": 1e-2, "weightDecay": 0.1}, {"params": [1, 2], "lr": 3e-3, "weightDecay": 0.0}],
    },
    {
        "name": "sgd_two_groups",
        "optimizer": "SGD",
        "options": {"lr": 0.01, "momentum": 0.9},
        "groups": [{"params": [0, 2], "lr": 0.02}, {"params": [1], "momentum": 0.5, "nesterov": True}],
    },
    {"name": "adamw_missing_grads", "optimizer": "AdamW", "options": {"lr": 1e-2}, "groups": [{"params": [0, 1, 2]}], "skip": {"param": 1, "every": 3}},
    {"name": "sgd_momentum_missing_grads", "optimizer": "SGD", "options": {"lr": 0.01, "momentum": 0.9}, "groups": [{"params": [0, 1, 2]}], "skip": {"param": 1, "every": 3}},
]

TORCH_NAMES = {"lr": "lr", "weightDecay": "weight_decay", "betas": "betas", "eps": "eps", "amsgrad": "amsgrad", "maximize": "maximize",
               "momentum": "momentum", "dampening": "dampening", "nesterov": "nesterov"}


def torch_options(options):
    out = {}
    for key, value in options.items():
        out[TORCH_NAMES[key]] = tuple(value) if key == "betas" else value
    return out


def run(case, fused):
    params = [p.clone().requires_grad_() for p in initial]
    groups = [{**torch_options({k: v for k, v in g.items() if k != "params"}), "params": [params[i] for i in g["params"]]} for g in case["groups"]]
    cls = getattr(torch.optim, case["optimizer"])
    optimizer = cls(groups, **torch_options(case["options"]), **({"fused": True} if fused else {}))
    skip = case.get("skip")
    checkpoints = {}
    for t in range(STEPS):
        for i, p in enumerate(params):
            p.grad = None if skip and skip["param"] == i and t % skip["every"] == 0 else grads[i][t].clone()
        optimizer.step()
        if t + 1 in CHECKPOINTS:
            checkpoints[t + 1] = [p.detach().clone() for p in params]
    return params, optimizer, checkpoints


def jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return value


tensors = {}
cases = []
for case in CASES:
    params, optimizer, checkpoints = run(case, fused=False)
    for step, values in checkpoints.items():
        for i, v in enumerate(values):
            tensors[f"{case['name']}.step{step}.p{i}"] = v
    index = {id(p): i for i, p in enumerate(params)}
    state_keys = {}
    for p, state in optimizer.state.items():
        i = index[id(p)]
        state_keys[i] = list(state.keys())
        for key, value in state.items():
            tensors[f"{case['name']}.state.p{i}.{key}"] = value.detach().clone().reshape(value.shape)
    try:
        fused_params, _, _ = run(case, fused=True)
        for i, p in enumerate(fused_params):
            tensors[f"{case['name']}.fused.p{i}"] = p.detach().clone()
        fused_error = None
    except TypeError as error:
        # PyTorch's fused SGD cannot start a momentum buffer for a parameter whose first gradient
        # comes after the first step (its is_first_step is per call); finetune's can.
        fused_error = str(error)
    sd = optimizer.state_dict()
    groups = [{k: jsonable(v) for k, v in g.items()} for g in sd["param_groups"]]
    cases.append({**case, "torchFusedError": fused_error, "torchParamGroups": groups, "stateKeys": {str(k): v for k, v in sorted(state_keys.items())}})

# Clipping, on the first step's gradients.
clip = []
for max_norm, norm_type in [(1.0, 2.0), (0.5, 1.0), (0.3, float("inf")), (100.0, 2.0)]:
    params = [p.clone().requires_grad_() for p in initial]
    for i, p in enumerate(params):
        p.grad = grads[i][0].clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    name = f"clip_norm.{max_norm}.{norm_type}"
    tensors[f"{name}.total"] = total.reshape([1])
    for i, p in enumerate(params):
        tensors[f"{name}.g{i}"] = p.grad.clone()
    clip.append({"name": name, "maxNorm": max_norm, "normType": "inf" if norm_type == float("inf") else norm_type})
params = [p.clone().requires_grad_() for p in initial]
for i, p in enumerate(params):
    p.grad = grads[i][0].clone()
torch.nn.utils.clip_grad_value_(params, 0.4)
for i, p in enumerate(params):
    tensors[f"clip_value.0.4.g{i}"] = p.grad.clone()

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "optim")
os.makedirs(out, exist_ok=True)
inputs = {f"p{i}": p for i, p in enumerate(initial)}
inputs.update({f"grad{i}": g.contiguous() for i, g in enumerate(grads)})
save_file(inputs, os.path.join(out, "inputs.safetensors"))
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "reference.safetensors"))
with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cpuCapability": torch.backends.cpu.get_cpu_capability(), "steps": STEPS, "checkpoints": CHECKPOINTS, "shapes": SHAPES, "cases": cases, "clipNorm": clip, "clipValue": 0.4}, f, indent=1)
    f.write("\n")
print("wrote", out, len(tensors), "tensors")
