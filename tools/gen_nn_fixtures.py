"""Reference outputs for finetune's nn layers: test/fixtures/nn.json.

Each case holds a layer's state dict, an input, the output and the input's gradient of
sum(output * projection), all from PyTorch 2.13. Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_nn_fixtures.py
"""
import json
import os

from pyref import torch

torch.manual_seed(0)
nn = torch.nn


def values(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": t.detach().double().flatten().tolist()}


def case(name, module, inputs, train=False, call=None):
    module.train(train)
    xs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    state = {k: values(v) for k, v in module.state_dict().items()}  # before forward: BN updates running stats
    out = call(module, *xs) if call else module(*xs)
    projection = torch.randn(out.shape)
    (out * projection).sum().backward()
    return {
        "name": name,
        "train": train,
        "state": state,
        "stateAfter": {k: values(v) for k, v in module.state_dict().items()},
        "inputs": [values(x) for x in xs],
        "output": values(out),
        "projection": values(projection),
        "inputGrads": [values(x.grad) if x.grad is not None else None for x in xs],
        "paramGrads": {k: values(p.grad) for k, p in module.named_parameters() if p.grad is not None},
    }


def randomize(module):
    """Replaces default init (ones, zeros) so every parameter and statistic matters."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if "running_var" in name:
                t.copy_(torch.rand(t.shape) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape) * 0.5)
    return module


cases = [
    case("Linear", nn.Linear(5, 3), [torch.randn(2, 4, 5)]),
    case("Linear no bias", nn.Linear(5, 3, bias=False), [torch.randn(3, 5)]),
    case("Conv2d stride 2 padding 1 groups 2", randomize(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)), [torch.randn(2, 4, 7, 7)]),
    case("Conv2d same padding dilation 2", nn.Conv2d(3, 2, 3, padding="same", dilation=2), [torch.randn(1, 3, 6, 6)]),
    case("BatchNorm2d eval", randomize(nn.BatchNorm2d(3)), [torch.randn(2, 3, 4, 4)]),
    case("BatchNorm2d train", randomize(nn.BatchNorm2d(3)), [torch.randn(2, 3, 4, 4)], train=True),
    case("LayerNorm", randomize(nn.LayerNorm(6, eps=1e-6)), [torch.randn(2, 3, 6)]),
    case("Embedding padding_idx", nn.Embedding(7, 4, padding_idx=0), [torch.tensor([[0, 3, 6], [2, 0, 1]])]),
    case("GELU tanh", nn.GELU(approximate="tanh"), [torch.randn(3, 4)]),
    case("MaxPool2d", nn.MaxPool2d(3, stride=2, padding=1), [torch.randn(1, 2, 7, 7)]),
    case("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d((2, 3)), [torch.randn(1, 2, 5, 7)]),
    case(
        "MultiheadAttention self batch_first",
        randomize(nn.MultiheadAttention(8, 2, batch_first=True)),
        [torch.randn(2, 5, 8)],
        call=lambda m, x: m(x, x, x, need_weights=False)[0],
    ),
    case(
        "MultiheadAttention key padding seq_first",
        randomize(nn.MultiheadAttention(8, 4)),
        [torch.randn(5, 2, 8), torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])],
        call=lambda m, x, mask: m(x, x, x, key_padding_mask=mask, need_weights=False)[0],
    ),
    case(
        "MultiheadAttention cross attn_mask",
        randomize(nn.MultiheadAttention(8, 2, batch_first=True)),
        [torch.randn(2, 3, 8), torch.randn(2, 4, 8), torch.triu(torch.ones(3, 4, dtype=torch.bool), diagonal=1)],
        call=lambda m, q, kv, mask: m(q, kv, kv, attn_mask=mask, need_weights=False)[0],
    ),
]

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "nn.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.relpath(out)} ({os.path.getsize(out) // 1024} KB)")
