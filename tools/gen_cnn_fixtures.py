"""Writes test/fixtures/cnn/*.json: what torchvision's AlexNet and ResNets compute, for test/cnn.test.ts.

Run from tools/, with the torch the addon links plus torchvision:
    eval "$(bash tools/setup-pyref.sh)"; cd tools && python3 gen_cnn_fixtures.py

Pretrained checkpoints are too big to ship (AlexNet is 244 MB), so every model is filled with
*formula weights*: deterministic pseudo-random values the test regenerates bit for bit in
TypeScript. For the k-th entry of the state dict (k counts every entry, num_batches_tracked
included) with n elements, element i is

    h     = hash32(i·0x9E3779B1 + k·0x85EBCA77 mod 2³²)     murmur3's finaliser: h ^= h>>16;
                                                            h *= 0x85EBCA6B; h ^= h>>13;
                                                            h *= 0xC2B2AE35; h ^= h>>16 (mod 2³²)
    u     = (h + 0.5) / 2³¹ − 1                             uniform in (−1, 1), exact in float64
    value = float32(offset + scale·u)

Integer arithmetic (Math.imul in JavaScript, uint64 masked in NumPy) and two correctly rounded
float64 operations, so JavaScript and NumPy agree to the bit (a sin formula would not: neither
libm nor V8 rounds sin correctly), then one rounding to float32. A hash, not a smooth formula
like sin(a·i + b·k): periodic weights make every channel a phase-shifted copy of the others,
and the near-degenerate activations made train-mode ResNet-50 gradients chaotic in float32
(1 vs 2 threads differed by 8%). (scale, offset) by kind of entry:

    conv / linear weight    (sqrt(6/fan_in), 0)     He-like: variance 2/fan_in
    conv / linear bias      (0.1, 0)
    BN weight               (0.25, 1)
    BN bias, running_mean   (0.1, 0)
    BN running_var          (0.25, 1.25)            in [1, 1.5)
    num_batches_tracked     left at 0

The input image uses the same formula with k = 1000 (scale 1), and the loss is
sum(logits · v) with v from k = 2000 (scale 1, 1000 entries). The first image of a batch of two
is the batch-of-one image. Each model records:

- `weights_sha256`: SHA-256 of every float32 entry's bytes (little-endian), in state-dict order;
- `eval`: the model converted to float64 (after filling in float32), logits of the 1×3×224×224
  image in eval mode and the gradient of the loss w.r.t. the first conv weight (a subset at fixed
  indices, plus its sum, sum of squares and largest magnitude over all of it);
- `train` (ResNets): the same for the 2×3×224×224 batch in train mode (BN batch statistics),
  then bn1.running_mean and num_batches_tracked after that step.

The references are float64, written in full: the exact result of torchvision's architecture for
these weights. float32 runs are not reproducible enough to be a reference: an isolated ReLU or
max-pool decision flips with the summation order, and the train-mode first-conv gradient of a
randomly initialised ResNet is ill-conditioned (BN at init amplifies gradients with depth). Torch
itself, float32 against float64, differs by 2e-6 of the largest first-conv gradient element in
eval mode but by 0.1% (ResNet-18) to 3.5% (ResNet-50) in train mode; ResNet-50's eval gradient
differs by 0.1% between 1 and 2 threads. The test runs float32 eval against the float64
reference (logits and gradient norm within 1e-4, gradient elements within 1e-2), then float64
eval and train (everything within 1e-4; in practice ~1e-12).

state_dicts.json lists torchvision's state-dict keys and shapes, in order, and parameter counts.
float64 values are written in full (Python's repr).
"""
import hashlib
import json
import math
import os

import numpy as np

from pyref import torch, torchvision

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

MASK = 0xFFFFFFFF
INPUT_K = 1000
LOSS_K = 2000
GRAD_SAMPLES = 2000
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'cnn')


def formula(n, k, scale, offset=0.0):
    """float32 values offset + scale·u(i, k), i = 0 … n−1, u uniform in (−1, 1) from a 32-bit integer hash."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * 0x9E3779B1 + k * 0x85EBCA77) & MASK
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    u = (h.astype(np.float64) + 0.5) / 2147483648.0 - 1.0
    return (offset + scale * u).astype(np.float32)


def scale_offset(key, tensor, bn_modules):
    owner, name = key.rsplit('.', 1)
    if owner in bn_modules:
        return {'weight': (0.25, 1.0), 'bias': (0.1, 0.0), 'running_mean': (0.1, 0.0), 'running_var': (0.25, 1.25)}[name]
    if name == 'weight':
        fan_in = tensor.shape[1] * math.prod(tensor.shape[2:])
        return (math.sqrt(6 / fan_in), 0.0)
    if name == 'bias':
        return (0.1, 0.0)
    raise ValueError(f'no formula for {key}')


def fill_formula(model):
    """Fills every floating state-dict entry by the formula; returns the SHA-256 of their bytes."""
    bn_modules = {name for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    digest = hashlib.sha256()
    with torch.no_grad():
        for k, (key, t) in enumerate(model.state_dict().items()):
            if not t.is_floating_point():
                continue
            scale, offset = scale_offset(key, t, bn_modules)
            values = formula(t.numel(), k, scale, offset)
            digest.update(values.tobytes())
            t.copy_(torch.from_numpy(values).reshape(t.shape))
    return digest.hexdigest()


def image(batch):
    return torch.from_numpy(formula(batch * 3 * 224 * 224, INPUT_K, 1.0)).reshape(batch, 3, 224, 224)


def grad_indices(n):
    step = n / GRAD_SAMPLES
    return [int(j * step) for j in range(GRAD_SAMPLES)]


def run(model, first_conv, batch):
    x = image(batch).double()
    v = torch.from_numpy(formula(1000, LOSS_K, 1.0)).double()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = (logits * v).sum()
    loss.backward()
    grad = first_conv.weight.grad.detach().reshape(-1).double()
    idx = grad_indices(grad.numel())
    return {
        'logits': logits.detach().reshape(-1).tolist(),
        'loss': float(loss.detach()),
        'grad': {
            'shape': list(first_conv.weight.shape),
            'indices': idx,
            'values': [grad[i].item() for i in idx],
            'sum': float(grad.sum()),
            'sum_squares': float((grad * grad).sum()),
            'max_abs': float(grad.abs().max()),
        },
    }


def reference(name, build, first_conv_path, train_mode):
    torch.manual_seed(0)
    model = build()
    sha = fill_formula(model)
    first_conv = model.get_submodule(first_conv_path)
    out = {'model': name, 'torch': torch.__version__, 'torchvision': torchvision.__version__,
           'weights_sha256': sha, 'first_conv': first_conv_path}
    model.double().eval()
    out['eval'] = run(model, first_conv, 1)
    if train_mode:
        model.train()
        out['train'] = run(model, first_conv, 2)
        out['train']['bn1_running_mean'] = model.bn1.running_mean.tolist()
        out['train']['bn1_num_batches_tracked'] = int(model.bn1.num_batches_tracked)
    return out


def state_dict_spec(model):
    return {
        'keys': list(model.state_dict().keys()),
        'shapes': [list(t.shape) for t in model.state_dict().values()],
        'num_parameters': sum(p.numel() for p in model.parameters()),
    }


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')
    print(f'{path}: {os.path.getsize(path)} bytes')


def main():
    os.makedirs(OUT, exist_ok=True)
    tvm = torchvision.models
    specs = {
        'alexnet': tvm.alexnet(),
        'alexnet_10': tvm.alexnet(num_classes=10),
        'resnet18': tvm.resnet18(),
        'resnet18_10': tvm.resnet18(num_classes=10),
        'resnet34': tvm.resnet34(),
        'resnet50': tvm.resnet50(),
        'resnet101': tvm.resnet101(),
        'resnet152': tvm.resnet152(),
        'resnext50_32x4d': tvm.resnext50_32x4d(),
        'wide_resnet50_2': tvm.wide_resnet50_2(),
    }
    write('state_dicts.json', {'torchvision': torchvision.__version__,
                               'models': {k: state_dict_spec(m) for k, m in specs.items()}})
    del specs
    write('alexnet.json', reference('alexnet', tvm.alexnet, 'features.0', False))
    write('resnet18.json', reference('resnet18', tvm.resnet18, 'conv1', True))
    write('resnet50.json', reference('resnet50', tvm.resnet50, 'conv1', True))


if __name__ == '__main__':
    main()
