"""Reference fp16 training steps for the Trainer's --fp16: test/fixtures/precision/fp16-overflow.json.

A two-layer MLP (4 → 8 → 3, ReLU, cross entropy) trained on 8 fixed examples (one batch a step) the
way transformers' Trainer runs fp16 through accelerate: forward under torch.autocast("cpu",
float16), logits back in float32, loss × scale backward (torch.amp.GradScaler, defaults), gradients
unscaled, clip_grad_norm_(1.0), scaler.step, scaler.update, the linear schedule stepped only when
the update was not skipped (HF's optimizer_step_was_skipped). At step OVERFLOW_STEP the loss is
multiplied by 1e8, so its scaled gradients overflow float16: that update is skipped and the scale
halved. Records each step's loss, gradient norm, stepped flag, scale, lr and weights. Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_precision_fixtures.py
"""
import json
import math
import os

from pyref import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "precision")
STEPS = 6
OVERFLOW_STEP = 3
BOOST = 1e8
LR = 0.01
MAX_GRAD_NORM = 1.0


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    fc1, fc2 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)
    model = torch.nn.Sequential(fc1, torch.nn.ReLU(), fc2)
    x = torch.randn(8, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1, 0])
    initial = {name: flat(p) for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0, eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, (STEPS - step) / STEPS))
    scaler = torch.amp.GradScaler("cpu")
    steps = []
    for step in range(1, STEPS + 1):
        with torch.autocast("cpu", dtype=torch.float16):
            logits = model(x)
        assert logits.dtype == torch.float16
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        if step == OVERFLOW_STEP:
            loss = loss * BOOST
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM))
        before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        stepped = scaler.get_scale() >= before
        if stepped:
            scheduler.step()
        optimizer.zero_grad()
        steps.append(
            {
                "step": step,
                "loss": float(loss.detach()),
                "grad_norm": norm if math.isfinite(norm) else None,
                "stepped": stepped,
                "scale": scaler.get_scale(),
                "lr": optimizer.param_groups[0]["lr"],
                "weights": {name: flat(p) for name, p in model.named_parameters()},
            }
        )
    state = scaler.state_dict()
    fixture = {
        "torch": torch.__version__,
        "x": x.tolist(),
        "y": y.tolist(),
        "initial": initial,
        "lr": LR,
        "max_grad_norm": MAX_GRAD_NORM,
        "overflow_step": OVERFLOW_STEP,
        "boost": BOOST,
        "steps": steps,
        "scaler_state": {k: (float(v) if k == "scale" else v) for k, v in state.items()},
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "fp16-overflow.json"), "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
