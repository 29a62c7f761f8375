"""References for optim's losses and multi-task weighting: test/fixtures/multi-task/*.json.

- label_smoothing.json: torch.nn.functional.cross_entropy(..., label_smoothing=eps) values and
  gradients (float64) for class-index targets with ignore_index, class weights, every reduction,
  a [N, C, d] case and class-probability targets.
- gradnorm.json: three GradNorm steps (Chen et al. 2018) done the usual way, with
  torch.autograd.grad(w_i·L_i, W, create_graph=True) and a backward of L_grad through it, on two
  regression heads over one shared Linear + tanh, plain SGD on the model and the weights.
Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_multi_task_fixtures.py
"""
import json
import os

from pyref import torch

F = torch.nn.functional
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
here = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "multi-task")


def flat(t):
    return {"shape": list(t.shape), "values": t.detach().double().flatten().tolist()}


# ---- label smoothing ----------------------------------------------------------------------------
cases = []


def ce_case(name, logits, target, **kw):
    x = logits.clone().requires_grad_(True)
    out = F.cross_entropy(x, target, **kw)
    proj = torch.randn(out.shape) if out.dim() else torch.tensor(1.0)
    (out * proj).sum().backward()
    options = {k: (flat(v) if torch.is_tensor(v) else v) for k, v in kw.items()}
    cases.append({"name": name, "logits": flat(logits), "target": flat(target), "targetDtype": str(target.dtype).replace("torch.", ""),
                  "options": options, "output": flat(out), "projection": flat(proj), "grad": flat(x.grad)})


logits = torch.randn(6, 4) * 2
labels = torch.tensor([0, 3, -100, 1, 2, 2])
weight = torch.tensor([0.5, 1.0, 2.0, 1.5])
for eps in (0.0, 0.1, 0.3, 1.0):
    for reduction in ("mean", "sum", "none"):
        ce_case(f"eps={eps} {reduction}", logits, labels, label_smoothing=eps, reduction=reduction)
ce_case("eps=0.1 mean, ignore_index=2", logits, torch.tensor([0, 3, 1, 1, 2, 2]), label_smoothing=0.1, ignore_index=2)
ce_case("eps=0.2 mean, weight", logits, labels, label_smoothing=0.2, weight=weight)
ce_case("eps=0.2 sum, weight", logits, labels, label_smoothing=0.2, weight=weight, reduction="sum")
ce_case("eps=0.2 none, weight, ignore_index=2", logits, torch.tensor([0, 3, 1, 1, 2, 2]), label_smoothing=0.2, weight=weight, reduction="none", ignore_index=2)
ce_case("eps=0.1 mean, [N, C, d]", torch.randn(2, 3, 5), torch.tensor([[0, 1, 2, -100, 1], [2, 2, 0, 1, -100]]), label_smoothing=0.1)
ce_case("eps=0.25 mean, probabilities", logits, torch.softmax(torch.randn(6, 4), 1), label_smoothing=0.25)

with open(os.path.join(here, "label_smoothing.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
    f.write("\n")

# ---- GradNorm ------------------------------------------------------------------------------------
torch.manual_seed(1)
shared = torch.nn.Linear(3, 4)
heads = [torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)]
x = torch.randn(8, 3)
y = [torch.randn(8, 1), 3 * torch.randn(8, 1)]
params = {"shared.weight": shared.weight, "shared.bias": shared.bias}
for i, h in enumerate(heads):
    params[f"head{i}.weight"] = h.weight
    params[f"head{i}.bias"] = h.bias
initial = {k: flat(v) for k, v in params.items()}
alpha, lr, lr_w = 1.5, 0.05, 0.1
w = torch.ones(2, requires_grad=True)
L0 = None
steps = []
for step in range(3):
    feats = torch.tanh(shared(x))
    L = torch.stack([F.mse_loss(h(feats), t) for h, t in zip(heads, y)])
    if L0 is None:
        L0 = L.detach()
    for p in params.values():
        p.grad = None
    w.grad = None
    (w.detach() * L).sum().backward(retain_graph=True)
    W = shared.weight
    G = torch.stack([torch.autograd.grad(w[i] * L[i], W, retain_graph=True, create_graph=True)[0].norm() for i in range(2)])
    Lt = L.detach() / L0
    r = Lt / Lt.mean()
    target = (G.mean() * r ** alpha).detach()
    Lgrad = (G - target).abs().sum()
    w.grad = torch.autograd.grad(Lgrad, w)[0]
    record = {"losses": L.detach().tolist(), "gradNorms": G.detach().tolist(), "targets": target.tolist(), "gradNormLoss": Lgrad.item(),
              "wGrad": w.grad.tolist(), "grads": {k: flat(p.grad) for k, p in params.items()}}
    with torch.no_grad():
        for p in params.values():
            p -= lr * p.grad
        w -= lr_w * w.grad
        w *= 2 / w.sum()
    record["weightsAfter"] = w.detach().tolist()
    steps.append(record)

with open(os.path.join(here, "gradnorm.json"), "w") as f:
    json.dump({"torch": torch.__version__, "alpha": alpha, "lr": lr, "lrWeights": lr_w, "x": flat(x), "y": [flat(t) for t in y],
               "params": initial, "steps": steps}, f)
    f.write("\n")
print("wrote", here)
