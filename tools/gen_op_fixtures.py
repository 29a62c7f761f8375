"""Writes test/fixtures/ops.json: op inputs and the outputs real PyTorch computes for them.

Run with the same libtorch the addon links:
    PYTHONPATH=~/.cache/finetune/libtorch-2.13.0+cpu python3 tools/gen_op_fixtures.py

Each case names a finetune op (the key test/ops-values.test.ts dispatches on) and its
parameters: tensors as {shape, dtype, values} and plain JSON args. Float values are written as
the shortest decimal that rounds back to the same float32, so Math.fround recovers them exactly.
Non-finite numbers are the strings "nan", "inf" and "-inf".
"""
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

DTYPES = {
    'float32': torch.float32, 'float64': torch.float64, 'float16': torch.float16, 'bfloat16': torch.bfloat16,
    'int64': torch.int64, 'int32': torch.int32, 'int16': torch.int16, 'int8': torch.int8, 'uint8': torch.uint8,
    'bool': torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def number(v, dtype):
    if isinstance(v, bool) or isinstance(v, int):
        return v
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    if dtype == torch.float64:
        return v
    # Shortest decimal that rounds back to the same float32 (Math.fround recovers it exactly).
    return float(str(np.float32(v)))


def encode_tensor(t):
    t = t.detach()
    flat = t.reshape(-1)
    values = flat.float().tolist() if t.dtype in (torch.float16, torch.bfloat16) else flat.tolist()
    return {'shape': list(t.shape), 'dtype': DTYPE_NAMES[t.dtype], 'values': [number(v, t.dtype) for v in values]}


def encode_result(r):
    if isinstance(r, torch.Tensor):
        return {'kind': 'tensor', **encode_tensor(r)}
    if isinstance(r, dict):
        return {'kind': 'dict', 'items': {k: encode_result(v) for k, v in r.items()}}
    if isinstance(r, (list, tuple)):
        return {'kind': 'list', 'items': [encode_result(v) for v in r]}
    if isinstance(r, (bool, int, float)):
        return {'kind': 'scalar', 'value': number(r, torch.float64)}
    raise TypeError(f'cannot encode {type(r)}')


def nested(t):
    """tolist() with non-finite values spelled as strings."""
    def walk(v):
        return [walk(e) for e in v] if isinstance(v, list) else number(v, t.dtype)
    return {'kind': 'nested', 'dtype': DTYPE_NAMES[t.dtype], 'value': walk(t.tolist())}


CASES = []


def case(case_id, op, fn, **params):
    inputs = {k: v for k, v in params.items() if isinstance(v, torch.Tensor)}
    args = {k: v for k, v in params.items() if not isinstance(v, torch.Tensor)}
    assert all(c['id'] != case_id for c in CASES), case_id
    # Inputs are encoded before fn runs because in-place ops mutate them.
    encoded_inputs = {k: encode_tensor(v) for k, v in inputs.items()}
    p = SimpleNamespace(**{k: v.clone() for k, v in inputs.items()}, **args)
    result = fn(p)
    expected = result if isinstance(result, dict) and result.get('kind') == 'nested' else encode_result(result)
    CASES.append({'id': case_id, 'op': op, 'inputs': encoded_inputs, 'args': args, 'expected': expected})


def det(*shape, seed=0, lo=-2.0, hi=2.0, dtype=torch.float32):
    """Distinct values in [lo, hi) from a fixed formula (no RNG), rounded to 3 decimals."""
    n = math.prod(shape)
    stride = (381 + 137 * seed) % 997 or 1  # 997 is prime, so any non-zero stride visits distinct residues
    values = [round(lo + (hi - lo) * ((i * stride + 44 * seed + 1) % 997) / 997, 3) for i in range(n)]
    return torch.tensor(values, dtype=torch.float64).to(dtype).reshape(shape)


def pos(*shape, seed=0):
    return det(*shape, seed=seed, lo=0.1, hi=3.0)


def ints(values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


def bools(values):
    return torch.tensor(values, dtype=torch.bool)


def f32(values):
    return torch.tensor(values, dtype=torch.float32)


def gen_arithmetic():
    a, b, row = det(2, 3), det(2, 3, seed=1), det(3, seed=2)
    case('add/broadcast', 'add', lambda p: torch.add(p.a, p.b), a=a, b=row)
    case('add/alpha', 'add', lambda p: torch.add(p.a, p.b, alpha=p.alpha), a=a, b=b, alpha=0.5)
    case('add/scalar', 'add', lambda p: torch.add(p.a, p.b), a=a, b=2.5)
    case('add/scalar-first-alpha', 'add', lambda p: torch.add(p.a, p.b, alpha=p.alpha), a=2, b=a, alpha=3)
    case('add/int64-scalar', 'add', lambda p: torch.add(p.a, p.b), a=ints([[1, -2], [3, 40]]), b=3)
    case('add/float64', 'add', lambda p: torch.add(p.a, p.b), a=det(4, dtype=torch.float64), b=det(4, seed=3, dtype=torch.float64))
    case('sub/alpha', 'sub', lambda p: torch.sub(p.a, p.b, alpha=p.alpha), a=a, b=b, alpha=2)
    case('sub/scalar-first', 'sub', lambda p: torch.rsub(p.b, p.a), a=5, b=a)
    case('mul/broadcast', 'mul', lambda p: torch.mul(p.a, p.b), a=a, b=det(2, 1, seed=4))
    case('mul/scalar', 'mul', lambda p: torch.mul(p.a, p.b), a=a, b=-1.5)
    num, den = f32([7.0, -7.0, 7.5, -7.5, 0.5, -3.0]), f32([2.0, 2.0, -2.0, 2.0, 4.0, 3.0])
    case('div/true', 'div', lambda p: torch.div(p.a, p.b), a=a, b=b)
    case('div/trunc', 'div', lambda p: torch.div(p.a, p.b, rounding_mode='trunc'), a=num, b=den, roundingMode='trunc')
    case('div/floor', 'div', lambda p: torch.div(p.a, p.b, rounding_mode='floor'), a=num, b=den, roundingMode='floor')
    case('div/scalar', 'div', lambda p: torch.div(p.a, p.b), a=a, b=4)
    case('div/scalar-floor', 'div', lambda p: torch.div(p.a, p.b, rounding_mode='floor'), a=num, b=2, roundingMode='floor')
    case('div/int64-true', 'div', lambda p: torch.div(p.a, p.b), a=ints([7, -7, 9]), b=ints([2, 2, 3]))
    case('div/int64-floor', 'div', lambda p: torch.div(p.a, p.b, rounding_mode='floor'), a=ints([7, -7, 9]), b=ints([2, 2, -4]), roundingMode='floor')
    case('div/scalar-first', 'div', lambda p: torch.div(torch.full_like(p.b, p.a), p.b), a=1, b=pos(5))
    case('pow/square', 'pow', lambda p: torch.pow(p.a, p.b), a=a, b=2)
    case('pow/sqrt', 'pow', lambda p: torch.pow(p.a, p.b), a=pos(5), b=0.5)
    case('pow/scalar-base', 'pow', lambda p: torch.pow(p.a, p.b), a=2, b=det(5))
    case('pow/tensor', 'pow', lambda p: torch.pow(p.a, p.b), a=pos(2, 3), b=det(2, 3, seed=5))
    case('pow/int64', 'pow', lambda p: torch.pow(p.a, p.b), a=ints([1, 2, 3, -4]), b=3)


def gen_unary():
    x = det(2, 5, seed=6)
    positive = pos(2, 5, seed=7)
    unary = {
        'exp': (torch.exp, x), 'log': (torch.log, positive), 'log1p': (torch.log1p, positive), 'sqrt': (torch.sqrt, positive),
        'rsqrt': (torch.rsqrt, positive), 'tanh': (torch.tanh, x), 'sigmoid': (torch.sigmoid, x), 'relu': (torch.relu, x),
        'abs': (torch.abs, x), 'neg': (torch.neg, x), 'square': (torch.square, x), 'reciprocal': (torch.reciprocal, positive),
        'sin': (torch.sin, x), 'cos': (torch.cos, x), 'floor': (torch.floor, x), 'ceil': (torch.ceil, x),
    }
    for name, (fn, value) in unary.items():
        case(f'{name}/basic', name, lambda p, fn=fn: fn(p.x), x=value)
    case('sign/with-zero', 'sign', lambda p: torch.sign(p.x), x=f32([-2.5, 0.0, 3.0, -0.0, 1e-3]))
    case('abs/int64', 'abs', lambda p: torch.abs(p.x), x=ints([-3, 0, 5]))
    case('round/half-even', 'round', lambda p: torch.round(p.x), x=f32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, 1.51]))
    case('log/zero-and-negative', 'log', lambda p: torch.log(p.x), x=f32([0.0, -1.0, 1.0]))
    case('clamp/both', 'clamp', lambda p: torch.clamp(p.x, p.min, p.max), x=x, min=-0.5, max=1)
    case('clamp/min-only', 'clamp', lambda p: torch.clamp(p.x, min=p.min), x=x, min=0.25, max=None)
    case('clamp/max-only', 'clamp', lambda p: torch.clamp(p.x, max=p.max), x=x, min=None, max=-0.25)
    case('clamp/int64', 'clamp', lambda p: torch.clamp(p.x, p.min, p.max), x=ints([-5, 0, 5, 10]), min=-1, max=6)
    case('maximum/broadcast', 'maximum', lambda p: torch.maximum(p.a, p.b), a=x, b=det(5, seed=8))
    case('minimum/basic', 'minimum', lambda p: torch.minimum(p.a, p.b), a=x, b=det(2, 5, seed=9))
    cond = bools([[True, False, True, False, True], [False, False, True, True, False]])
    case('where/tensors', 'where', lambda p: torch.where(p.cond, p.a, p.b), cond=cond, a=x, b=det(2, 5, seed=10))
    case('where/scalar-other', 'where', lambda p: torch.where(p.cond, p.a, p.b), cond=cond, a=x, b=-1)
    case('lerp/scalar', 'lerp', lambda p: torch.lerp(p.a, p.b, p.w), a=x, b=det(2, 5, seed=11), w=0.3)
    case('lerp/tensor', 'lerp', lambda p: torch.lerp(p.a, p.b, p.w), a=x, b=det(2, 5, seed=11), w=pos(2, 5, seed=12) / 3)


def gen_reductions():
    x = det(2, 3, 4, seed=13)
    case('sum/all', 'sum', lambda p: torch.sum(p.x), x=x)
    case('sum/dim-keepdim', 'sum', lambda p: torch.sum(p.x, p.dim, keepdim=p.keepdim), x=x, dim=1, keepdim=True)
    case('sum/dims', 'sum', lambda p: torch.sum(p.x, p.dim), x=x, dim=[0, 2], keepdim=False)
    case('sum/all-keepdim', 'sum', lambda p: torch.sum(p.x, dim=None, keepdim=True), x=x, dim=None, keepdim=True)
    case('sum/int64', 'sum', lambda p: torch.sum(p.x, p.dim), x=ints([[1, 2, 3], [4, 5, 6]]), dim=0, keepdim=False)
    case('sum/bool', 'sum', lambda p: torch.sum(p.x), x=bools([True, False, True, True]))
    case('mean/all', 'mean', lambda p: torch.mean(p.x), x=x)
    case('mean/dim-keepdim', 'mean', lambda p: torch.mean(p.x, p.dim, keepdim=p.keepdim), x=x, dim=-1, keepdim=True)
    case('mean/dims', 'mean', lambda p: torch.mean(p.x, p.dim), x=x, dim=[0, 1], keepdim=False)
    case('max/all', 'max', lambda p: torch.max(p.x), x=x)
    case('max/dim', 'max', lambda p: dict(zip(('values', 'indices'), torch.max(p.x, p.dim))), x=x, dim=1, keepdim=False)
    case('max/dim-keepdim', 'max', lambda p: dict(zip(('values', 'indices'), torch.max(p.x, p.dim, keepdim=True))), x=x, dim=-1, keepdim=True)
    case('min/all', 'min', lambda p: torch.min(p.x), x=x)
    case('min/dim', 'min', lambda p: dict(zip(('values', 'indices'), torch.min(p.x, p.dim))), x=x, dim=2, keepdim=False)
    case('argmax/all', 'argmax', lambda p: torch.argmax(p.x), x=x, dim=None, keepdim=False)
    case('argmax/dim-keepdim', 'argmax', lambda p: torch.argmax(p.x, p.dim, keepdim=True), x=x, dim=1, keepdim=True)
    case('argmin/dim', 'argmin', lambda p: torch.argmin(p.x, p.dim), x=x, dim=0, keepdim=False)
    case('std/all', 'std', lambda p: torch.std(p.x), x=x, dim=None)
    case('std/dim-correction0-keepdim', 'std', lambda p: torch.std(p.x, p.dim, correction=0, keepdim=True), x=x, dim=1, correction=0, keepdim=True)
    case('var/dims', 'var', lambda p: torch.var(p.x, p.dim, correction=1), x=x, dim=[0, 2], correction=1)
    case('var/all-correction0', 'var', lambda p: torch.var(p.x, correction=0), x=x, dim=None, correction=0)
    case('var/correction2', 'var', lambda p: torch.var(p.x, p.dim, correction=2), x=x, dim=2, correction=2)
    case('norm/l2', 'norm', lambda p: torch.linalg.vector_norm(p.x), x=x, p=2, dim=None, keepdim=False)
    case('norm/l1-dim', 'norm', lambda p: torch.linalg.vector_norm(p.x, 1, p.dim), x=x, p=1, dim=1, keepdim=False)
    case('norm/inf-keepdim', 'norm', lambda p: torch.linalg.vector_norm(p.x, math.inf, p.dim, keepdim=True), x=x, p='inf', dim=-1, keepdim=True)
    case('norm/p3-dims', 'norm', lambda p: torch.linalg.vector_norm(p.x, 3, p.dim), x=x, p=3, dim=[0, 2], keepdim=False)
    case('logsumexp/dim', 'logsumexp', lambda p: torch.logsumexp(p.x, p.dim), x=x, dim=1, keepdim=False)
    case('logsumexp/dims-keepdim', 'logsumexp', lambda p: torch.logsumexp(p.x, p.dim, keepdim=True), x=x * 20, dim=[0, 2], keepdim=True)
    case('cumsum/dim0', 'cumsum', lambda p: torch.cumsum(p.x, p.dim), x=x, dim=0)
    case('cumsum/last', 'cumsum', lambda p: torch.cumsum(p.x, p.dim), x=x, dim=-1)
    case('cumsum/int64', 'cumsum', lambda p: torch.cumsum(p.x, p.dim), x=ints([[1, 2, 3], [4, 5, 6]]), dim=1)
    case('prod/all', 'prod', lambda p: torch.prod(p.x), x=det(2, 3, seed=14, lo=0.5, hi=1.5))
    case('prod/dim-keepdim', 'prod', lambda p: torch.prod(p.x, p.dim, keepdim=True), x=x, dim=1, keepdim=True)
    case('prod/int64', 'prod', lambda p: torch.prod(p.x, p.dim), x=ints([[1, 2, 3], [4, -5, 6]]), dim=1, keepdim=False)
    flags = bools([[True, True, False], [True, True, True]])
    case('all/all', 'all', lambda p: torch.all(p.x), x=flags)
    case('all/dim', 'all', lambda p: torch.all(p.x, p.dim), x=flags, dim=1, keepdim=False)
    case('all/float', 'all', lambda p: torch.all(p.x), x=f32([1.0, -2.0, 0.5]))
    case('any/all', 'any', lambda p: torch.any(p.x), x=bools([False, False, True]))
    case('any/dim-keepdim', 'any', lambda p: torch.any(p.x, p.dim, keepdim=True), x=bools([[False, False], [True, False]]), dim=0, keepdim=True)


def gen_shape():
    x = det(2, 3, 4, seed=15)
    case('reshape/infer', 'reshape', lambda p: torch.reshape(p.x, p.shape), x=x, shape=[3, -1])
    case('reshape/transposed', 'reshape', lambda p: torch.reshape(p.x.transpose(0, 1), p.shape), x=x, shape=[6, 4], transposeFirst=True)
    case('view/basic', 'view', lambda p: p.x.view(p.shape), x=x, shape=[4, 6])
    case('flatten/from1', 'flatten', lambda p: torch.flatten(p.x, 1), x=x, startDim=1, endDim=-1)
    case('flatten/0to1', 'flatten', lambda p: torch.flatten(p.x, 0, 1), x=x, startDim=0, endDim=1)
    case('permute/basic', 'permute', lambda p: p.x.permute(p.dims), x=x, dims=[2, 0, 1])
    case('transpose/0-2', 'transpose', lambda p: p.x.transpose(0, 2), x=x, dim0=0, dim1=2)
    case('t/matrix', 't', lambda p: p.x.t(), x=det(2, 3, seed=16))
    case('contiguous/permuted', 'contiguous', lambda p: p.x.permute(1, 0, 2).contiguous(), x=x, dims=[1, 0, 2])
    a, b = det(2, 3, seed=17), det(2, 2, seed=18)
    case('cat/dim0', 'cat', lambda p: torch.cat([p.a, p.b], 0), a=a, b=det(1, 3, seed=18), dim=0)
    case('cat/dim1', 'cat', lambda p: torch.cat([p.a, p.b], 1), a=a, b=b, dim=1)
    case('cat/negative-dim-three', 'cat', lambda p: torch.cat([p.a, p.b, p.c], -1), a=a, b=b, c=det(2, 1, seed=19), dim=-1)
    case('stack/dim0', 'stack', lambda p: torch.stack([p.a, p.b], 0), a=a, b=det(2, 3, seed=20), dim=0)
    case('stack/last', 'stack', lambda p: torch.stack([p.a, p.b], 2), a=a, b=det(2, 3, seed=20), dim=2)
    y = det(5, 4, seed=21)
    case('split/size', 'split', lambda p: list(torch.split(p.x, 2, 0)), x=y, splitSize=2, dim=0)
    case('split/sizes', 'split', lambda p: list(torch.split(p.x, [1, 3], 1)), x=y, splitSize=[1, 3], dim=1)
    case('chunk/uneven', 'chunk', lambda p: list(torch.chunk(p.x, 3, 0)), x=y, chunks=3, dim=0)
    case('chunk/dim1', 'chunk', lambda p: list(torch.chunk(p.x, 2, 1)), x=y, chunks=2, dim=1)
    case('flip/one', 'flip', lambda p: torch.flip(p.x, [0]), x=x, dims=[0])
    case('flip/two', 'flip', lambda p: torch.flip(p.x, [0, 2]), x=x, dims=[0, 2])
    z = det(1, 3, 1, 2, seed=22)
    case('squeeze/all', 'squeeze', lambda p: torch.squeeze(p.x), x=z, dim=None)
    case('squeeze/dim', 'squeeze', lambda p: torch.squeeze(p.x, 2), x=z, dim=2)
    case('squeeze/non-unit-dim', 'squeeze', lambda p: torch.squeeze(p.x, 1), x=z, dim=1)
    case('unsqueeze/front', 'unsqueeze', lambda p: torch.unsqueeze(p.x, 0), x=a, dim=0)
    case('unsqueeze/back', 'unsqueeze', lambda p: torch.unsqueeze(p.x, -1), x=a, dim=-1)
    case('expand/basic', 'expand', lambda p: p.x.expand(p.shape), x=det(3, 1, seed=23), shape=[3, 4])
    case('expand/new-dims', 'expand', lambda p: p.x.expand(p.shape), x=det(1, 2, seed=24), shape=[2, 3, -1])
    case('repeat/basic', 'repeat', lambda p: p.x.repeat(p.repeats), x=a, repeats=[2, 1, 3])
    case('narrow/basic', 'narrow', lambda p: p.x.narrow(1, 1, 2), x=x, dim=1, start=1, length=2)


def gen_indexing():
    x = det(3, 4, seed=25)
    case('select/negative', 'select', lambda p: torch.select(p.x, 1, -1), x=x, dim=1, index=-1)
    case('select/row', 'select', lambda p: torch.select(p.x, 0, 1), x=x, dim=0, index=1)
    case('slice/step', 'slice', lambda p: p.x[:, 0::2], x=x, dim=1, start=0, end=None, step=2)
    case('slice/negative-start', 'slice', lambda p: p.x[:, -3:], x=x, dim=1, start=-3, end=None, step=1)
    case('slice/bounded-step', 'slice', lambda p: p.x[1:3:1], x=x, dim=0, start=1, end=3, step=1)
    case('slice/end-past-size', 'slice', lambda p: p.x[:, 1:100:3], x=x, dim=1, start=1, end=100, step=3)
    case('indexSelect/repeat', 'indexSelect', lambda p: torch.index_select(p.x, 0, p.index), x=x, dim=0, index=ints([2, 0, 2]))
    case('indexSelect/dim1', 'indexSelect', lambda p: torch.index_select(p.x, 1, p.index), x=x, dim=1, index=ints([3, 1]))
    case('gather/dim1', 'gather', lambda p: torch.gather(p.x, 1, p.index), x=x, dim=1, index=ints([[0, 0], [1, 3], [2, 1]]))
    case('gather/dim0', 'gather', lambda p: torch.gather(p.x, 0, p.index), x=x, dim=0, index=ints([[2, 1, 0, 2]]))
    case('scatter/src', 'scatter', lambda p: torch.scatter(p.x, 0, p.index, p.src), x=torch.zeros(3, 4), dim=0,
         index=ints([[1, 2, 0, 1]]), src=det(1, 4, seed=26))
    case('scatter/value', 'scatter', lambda p: torch.scatter(p.x, 1, p.index, p.value), x=x, dim=1, index=ints([[0], [3], [1]]), value=9.5)
    mask = bools([[True, False, False, True], [False, False, False, False], [True, True, True, True]])
    case('maskedFill/value', 'maskedFill', lambda p: p.x.masked_fill(p.mask, p.value), x=x, mask=mask, value=-1.5)
    case('maskedFill/-inf-broadcast', 'maskedFill', lambda p: p.x.masked_fill(p.mask, -math.inf), x=x,
         mask=bools([True, False, True, False]), value='-inf')
    case('maskedFill_/in-place', 'maskedFill_', lambda p: p.x.masked_fill_(p.mask, p.value), x=x, mask=mask, value=0)
    idx = ints([2, 0])
    case('index/first-dim', 'index', lambda p: torch.ops.aten.index.Tensor(p.x, [p.i0]), x=x, i0=idx, pattern=['i0'])
    case('index/null-then-tensor', 'index', lambda p: torch.ops.aten.index.Tensor(p.x, [None, p.i1]), x=x, i1=ints([3, 3, 1]),
         pattern=[None, 'i1'])
    case('index/pairs', 'index', lambda p: torch.ops.aten.index.Tensor(p.x, [p.i0, p.i1]), x=x, i0=ints([0, 2, 1]),
         i1=ints([1, 3, 0]), pattern=['i0', 'i1'])
    case('index/bool-mask', 'index', lambda p: torch.ops.aten.index.Tensor(p.x, [p.i0]), x=x, i0=mask, pattern=['i0'])
    case('indexPut_/accumulate-duplicates', 'indexPut_', lambda p: p.x.index_put_((p.i0,), p.values, accumulate=True),
         x=torch.zeros(5), i0=ints([0, 2, 0, 4]), values=f32([1, 2, 3, 4]), pattern=['i0'], accumulate=True)
    case('indexPut_/null-accumulate', 'indexPut_', lambda p: torch.ops.aten.index_put_(p.x, [None, p.i1], p.values, True),
         x=x, i1=ints([1, 1, 3]), values=det(3, 3, seed=27), pattern=[None, 'i1'], accumulate=True)
    case('indexPut_/overwrite', 'indexPut_', lambda p: p.x.index_put_((p.i0, p.i1), p.values), x=x, i0=ints([0, 2]),
         i1=ints([1, 3]), values=f32([10, 20]), pattern=['i0', 'i1'], accumulate=False)
    case('oneHot/infer', 'oneHot', lambda p: F.one_hot(p.x), x=ints([0, 3, 1]), numClasses=-1)
    case('oneHot/given', 'oneHot', lambda p: F.one_hot(p.x, 5), x=ints([[0, 3], [4, 1]]), numClasses=5)


def gen_compare():
    a, b = det(2, 4, seed=28), det(2, 4, seed=29)
    b_mixed = a.clone()
    b_mixed[0, 1] = 7.0
    b_mixed[1, 2] = -7.0
    for name, fn in {'eq': torch.eq, 'ne': torch.ne, 'lt': torch.lt, 'le': torch.le, 'gt': torch.gt, 'ge': torch.ge}.items():
        case(f'{name}/tensor', name, lambda p, fn=fn: fn(p.a, p.b), a=a, b=b_mixed)
    case('lt/broadcast', 'lt', lambda p: torch.lt(p.a, p.b), a=a, b=det(4, seed=30))
    case('le/scalar', 'le', lambda p: torch.le(p.a, p.b), a=a, b=0)
    case('eq/int64-scalar', 'eq', lambda p: torch.eq(p.a, p.b), a=ints([1, 2, 3, 2]), b=2)
    near = a + f32([[1e-7, 1e-3, 0, -2e-6], [0, 5e-5, -1e-9, 0.1]])
    case('isclose/default', 'isclose', lambda p: torch.isclose(p.a, p.b), a=a, b=near)
    case('isclose/loose', 'isclose', lambda p: torch.isclose(p.a, p.b, rtol=p.rtol, atol=p.atol), a=a, b=near, rtol=1e-3, atol=1e-4)
    case('allclose/false', 'allclose', lambda p: torch.allclose(p.a, p.b), a=a, b=near)
    case('allclose/true-loose', 'allclose', lambda p: torch.allclose(p.a, p.b, rtol=p.rtol, atol=p.atol), a=a, b=near, rtol=0, atol=0.2)
    case('equal/true', 'equal', lambda p: torch.equal(p.a, p.b), a=a, b=a.clone())
    case('equal/false-value', 'equal', lambda p: torch.equal(p.a, p.b), a=a, b=b_mixed)
    case('equal/false-shape', 'equal', lambda p: torch.equal(p.a, p.b), a=a, b=a.reshape(4, 2))
    special = f32([1.0, math.nan, math.inf, -math.inf, 0.0])
    case('isnan/special', 'isnan', lambda p: torch.isnan(p.x), x=special)
    case('isfinite/special', 'isfinite', lambda p: torch.isfinite(p.x), x=special)


def gen_linalg():
    case('matmul/2d', 'matmul', lambda p: torch.matmul(p.a, p.b), a=det(2, 3, seed=31), b=det(3, 4, seed=32))
    case('matmul/batched-broadcast', 'matmul', lambda p: torch.matmul(p.a, p.b), a=det(2, 3, 4, seed=33), b=det(4, 2, seed=34))
    case('matmul/vector-matrix', 'matmul', lambda p: torch.matmul(p.a, p.b), a=det(3, seed=35), b=det(3, 2, seed=36))
    case('matmul/vector-vector', 'matmul', lambda p: torch.matmul(p.a, p.b), a=det(4, seed=37), b=det(4, seed=38))
    case('mm/basic', 'mm', lambda p: torch.mm(p.a, p.b), a=det(3, 2, seed=39), b=det(2, 4, seed=40))
    case('bmm/basic', 'bmm', lambda p: torch.bmm(p.a, p.b), a=det(2, 2, 3, seed=41), b=det(2, 3, 2, seed=42))
    case('dot/basic', 'dot', lambda p: torch.dot(p.a, p.b), a=det(5, seed=43), b=det(5, seed=44))
    case('outer/basic', 'outer', lambda p: torch.outer(p.a, p.b), a=det(3, seed=45), b=det(2, seed=46))
    case('einsum/batched-matmul', 'einsum', lambda p: torch.einsum(p.equation, p.a, p.b), equation='bij,bjk->bik',
         a=det(2, 2, 3, seed=47), b=det(2, 3, 2, seed=48))
    case('einsum/trace', 'einsum', lambda p: torch.einsum(p.equation, p.a), equation='ii->', a=det(3, 3, seed=49))
    case('einsum/outer-transpose', 'einsum', lambda p: torch.einsum(p.equation, p.a, p.b), equation='i,j->ji',
         a=det(3, seed=50), b=det(2, seed=51))


def gen_functional():
    x3 = det(2, 3, 4, seed=52)
    w, bias = det(5, 4, seed=53), det(5, seed=54)
    case('linear/bias', 'linear', lambda p: F.linear(p.x, p.w, p.b), x=x3, w=w, b=bias)
    case('linear/no-bias', 'linear', lambda p: F.linear(p.x, p.w), x=x3, w=w)
    img = det(1, 2, 5, 5, seed=55)
    cw, cb = det(4, 2, 3, 3, seed=56), det(4, seed=57)
    case('conv2d/default', 'conv2d', lambda p: F.conv2d(p.x, p.w, p.b), x=img, w=cw, b=cb)
    case('conv2d/stride-padding', 'conv2d', lambda p: F.conv2d(p.x, p.w, p.b, stride=2, padding=1), x=img, w=cw, b=cb, stride=2, padding=1)
    case('conv2d/groups-dilation', 'conv2d', lambda p: F.conv2d(p.x, p.w, None, padding=2, dilation=2, groups=2), x=img,
         w=det(4, 1, 3, 3, seed=58), padding=2, dilation=2, groups=2)
    case('conv2d/same', 'conv2d', lambda p: F.conv2d(p.x, p.w, p.b, padding='same'), x=img, w=cw, b=cb, padding='same')
    case('conv2d/asymmetric', 'conv2d', lambda p: F.conv2d(p.x, p.w, p.b, stride=(2, 1), padding=(1, 0)), x=img, w=cw, b=cb,
         stride=[2, 1], padding=[1, 0])
    case('layerNorm/plain', 'layerNorm', lambda p: F.layer_norm(p.x, [4]), x=x3, normalizedShape=[4])
    case('layerNorm/affine-eps', 'layerNorm', lambda p: F.layer_norm(p.x, [3, 4], p.w, p.b, eps=1e-2), x=x3,
         w=det(3, 4, seed=59), b=det(3, 4, seed=60), normalizedShape=[3, 4], eps=1e-2)
    bx = det(4, 3, 2, seed=61)
    stats = dict(mean=det(3, seed=62, lo=-0.5, hi=0.5), var=pos(3, seed=63), w=det(3, seed=64), b=det(3, seed=65))

    def batch_norm(p, training):
        out = F.batch_norm(p.x, p.mean, p.var, p.w, p.b, training=training, momentum=p.momentum, eps=p.eps)
        return [out, p.mean, p.var]

    case('batchNorm/eval', 'batchNorm', lambda p: batch_norm(p, False), x=bx, **stats, training=False, momentum=0.1, eps=1e-5)
    case('batchNorm/training-updates-stats', 'batchNorm', lambda p: batch_norm(p, True), x=bx, **stats, training=True,
         momentum=0.2, eps=1e-3)
    case('groupNorm/affine', 'groupNorm', lambda p: F.group_norm(p.x, 2, p.w, p.b), x=det(2, 4, 3, seed=66),
         w=det(4, seed=67), b=det(4, seed=68), numGroups=2)
    ew = det(4, 3, seed=69)
    case('embedding/basic', 'embedding', lambda p: F.embedding(p.ids, p.w), ids=ints([[0, 2], [3, 0]]), w=ew, paddingIdx=None)
    case('embedding/padding-idx', 'embedding', lambda p: F.embedding(p.ids, p.w, padding_idx=0), ids=ints([1, 0, 3]), w=ew, paddingIdx=0)
    act = det(2, 6, seed=70, lo=-4, hi=4)
    case('gelu/exact', 'gelu', lambda p: F.gelu(p.x), x=act, approximate='none')
    case('gelu/tanh', 'gelu', lambda p: F.gelu(p.x, approximate='tanh'), x=act, approximate='tanh')
    case('silu/basic', 'silu', lambda p: F.silu(p.x), x=act)
    case('dropout/eval-identity', 'dropout', lambda p: F.dropout(p.x, 0.5, training=False), x=act, p=0.5, training=False)
    case('softmax/last', 'softmax', lambda p: F.softmax(p.x, -1), x=x3, dim=-1)
    case('softmax/dim0', 'softmax', lambda p: F.softmax(p.x, 0), x=x3, dim=0)
    case('softmax/with-inf', 'softmax', lambda p: F.softmax(p.x, 1), x=f32([[1.0, -math.inf, 2.0], [-math.inf, 0.0, -math.inf]]), dim=1)
    case('logSoftmax/dim1', 'logSoftmax', lambda p: F.log_softmax(p.x, 1), x=x3 * 5, dim=1)
    logits, target = det(4, 5, seed=71, lo=-3, hi=3), ints([1, 0, 4, 2])
    case('crossEntropy/mean', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t), x=logits, t=target)
    case('crossEntropy/label-smoothing', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t, label_smoothing=0.1), x=logits, t=target,
         labelSmoothing=0.1)
    case('crossEntropy/ignore-index', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t, ignore_index=2), x=logits, t=target,
         ignoreIndex=2)
    case('crossEntropy/ignore-smoothing-weight', 'crossEntropy',
         lambda p: F.cross_entropy(p.x, p.t, weight=p.w, ignore_index=4, label_smoothing=0.2), x=logits, t=target,
         w=pos(5, seed=72), ignoreIndex=4, labelSmoothing=0.2)
    case('crossEntropy/none', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t, reduction='none'), x=logits, t=target, reduction='none')
    case('crossEntropy/sum', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t, reduction='sum'), x=logits, t=target, reduction='sum')
    case('crossEntropy/probabilities', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t, label_smoothing=0.1), x=logits,
         t=F.softmax(det(4, 5, seed=73), -1), labelSmoothing=0.1)
    case('crossEntropy/spatial', 'crossEntropy', lambda p: F.cross_entropy(p.x, p.t), x=det(2, 3, 4, seed=74),
         t=ints([[0, 2, 1, 1], [2, 2, 0, 1]]))
    logp = F.log_softmax(logits, -1)
    case('nllLoss/mean', 'nllLoss', lambda p: F.nll_loss(p.x, p.t), x=logp, t=target)
    case('nllLoss/weight-sum-ignore', 'nllLoss', lambda p: F.nll_loss(p.x, p.t, weight=p.w, reduction='sum', ignore_index=0),
         x=logp, t=target, w=pos(5, seed=75), reduction='sum', ignoreIndex=0)
    case('nllLoss/weight-mean', 'nllLoss', lambda p: F.nll_loss(p.x, p.t, weight=p.w), x=logp, t=target, w=pos(5, seed=75))
    pred, truth = det(3, 4, seed=76), det(3, 4, seed=77)
    for reduction in ('mean', 'sum', 'none'):
        case(f'mseLoss/{reduction}', 'mseLoss', lambda p: F.mse_loss(p.x, p.y, reduction=p.reduction), x=pred, y=truth, reduction=reduction)
    case('l1Loss/mean', 'l1Loss', lambda p: F.l1_loss(p.x, p.y), x=pred, y=truth, reduction='mean')
    bce_target = f32([[0, 1, 1, 0], [1, 0, 0.5, 1], [0, 0, 1, 1]])
    case('bceWithLogits/mean', 'binaryCrossEntropyWithLogits', lambda p: F.binary_cross_entropy_with_logits(p.x, p.y), x=pred * 4,
         y=bce_target)
    case('bceWithLogits/pos-weight', 'binaryCrossEntropyWithLogits',
         lambda p: F.binary_cross_entropy_with_logits(p.x, p.y, pos_weight=p.posWeight, reduction='sum'), x=pred, y=bce_target,
         posWeight=pos(4, seed=78), reduction='sum')
    q, k, v = det(1, 2, 3, 4, seed=79), det(1, 2, 3, 4, seed=80), det(1, 2, 3, 4, seed=81)
    sdpa = F.scaled_dot_product_attention
    case('sdpa/plain', 'scaledDotProductAttention', lambda p: sdpa(p.q, p.k, p.v), q=q, k=k, v=v)
    case('sdpa/bool-mask', 'scaledDotProductAttention', lambda p: sdpa(p.q, p.k, p.v, attn_mask=p.mask), q=q, k=k, v=v,
         mask=bools([[True, False, True], [False, True, False], [True, True, True]]))
    case('sdpa/causal', 'scaledDotProductAttention', lambda p: sdpa(p.q, p.k, p.v, is_causal=True), q=q, k=k, v=v, isCausal=True)
    case('sdpa/float-mask-scale', 'scaledDotProductAttention', lambda p: sdpa(p.q, p.k, p.v, attn_mask=p.mask, scale=0.3),
         q=q, k=k, v=v, mask=det(3, 3, seed=82), scale=0.3)
    case('sdpa/cross-lengths-broadcast-mask', 'scaledDotProductAttention', lambda p: sdpa(p.q, p.k, p.v, attn_mask=p.mask),
         q=det(1, 2, 2, 4, seed=83), k=k, v=v, mask=bools([[[[True, True, False]], [[False, True, True]]]]))
    pool_in = det(1, 2, 5, 7, seed=84)
    case('maxPool2d/kernel2', 'maxPool2d', lambda p: F.max_pool2d(p.x, 2), x=pool_in, kernelSize=2)
    case('maxPool2d/stride-padding', 'maxPool2d', lambda p: F.max_pool2d(p.x, 3, 2, 1), x=pool_in, kernelSize=3, stride=2, padding=1)
    case('maxPool2d/ceil-mode', 'maxPool2d', lambda p: F.max_pool2d(p.x, [2, 3], ceil_mode=True), x=pool_in, kernelSize=[2, 3],
         ceilMode=True)
    case('avgPool2d/kernel2', 'avgPool2d', lambda p: F.avg_pool2d(p.x, 2), x=pool_in, kernelSize=2)
    case('adaptiveAvgPool2d/uneven', 'adaptiveAvgPool2d', lambda p: F.adaptive_avg_pool2d(p.x, (2, 3)), x=pool_in, outputSize=[2, 3])
    case('adaptiveAvgPool2d/global', 'adaptiveAvgPool2d', lambda p: F.adaptive_avg_pool2d(p.x, 1), x=pool_in, outputSize=1)
    case('pad/constant', 'pad', lambda p: F.pad(p.x, [1, 2], value=0.5), x=det(2, 3, seed=85), padding=[1, 2], mode='constant', value=0.5)
    case('pad/reflect', 'pad', lambda p: F.pad(p.x, [1, 1, 1, 1], mode='reflect'), x=det(1, 1, 3, 3, seed=86), padding=[1, 1, 1, 1],
         mode='reflect')


def gen_creation():
    case('arange/int', 'arange', lambda p: torch.arange(5), start=5)
    case('arange/int-step', 'arange', lambda p: torch.arange(2, 11, 3), start=2, end=11, step=3)
    case('arange/float-step', 'arange', lambda p: torch.arange(0, 1, 0.25), start=0, end=1, step=0.25)
    case('arange/negative-float', 'arange', lambda p: torch.arange(-1, 1, 0.5), start=-1, end=1, step=0.5)
    case('arange/float-bound', 'arange', lambda p: torch.arange(0.5, 3), start=0.5, end=3)
    case('arange/dtype', 'arange', lambda p: torch.arange(4, dtype=torch.float64), start=4, dtype='float64')
    case('linspace/unit', 'linspace', lambda p: torch.linspace(0, 1, 5), start=0, end=1, steps=5)
    case('linspace/symmetric', 'linspace', lambda p: torch.linspace(-2, 2, 7), start=-2, end=2, steps=7)
    case('linspace/float64', 'linspace', lambda p: torch.linspace(0, 1, 3, dtype=torch.float64), start=0, end=1, steps=3, dtype='float64')
    case('eye/square', 'eye', lambda p: torch.eye(3), n=3)
    case('eye/rect', 'eye', lambda p: torch.eye(2, 4), n=2, m=4)
    case('eye/int64', 'eye', lambda p: torch.eye(2, dtype=torch.int64), n=2, dtype='int64')
    case('full/float', 'full', lambda p: torch.full((2, 3), 1.5), shape=[2, 3], value=1.5)
    case('full/whole-number-is-float32', 'full', lambda p: torch.full((2,), 7.0), shape=[2], value=7)
    case('full/bool', 'full', lambda p: torch.full((2,), True), shape=[2], value=True)
    case('full/int32', 'full', lambda p: torch.full((2, 2), 7, dtype=torch.int32), shape=[2, 2], value=7, dtype='int32')
    case('zeros/default', 'zeros', lambda p: torch.zeros(2, 3), shape=[2, 3])
    case('zeros/bool', 'zeros', lambda p: torch.zeros(2, dtype=torch.bool), shape=[2], dtype='bool')
    case('ones/int64', 'ones', lambda p: torch.ones(2, 2, dtype=torch.int64), shape=[2, 2], dtype='int64')
    case('ones/float64', 'ones', lambda p: torch.ones(3, dtype=torch.float64), shape=[3], dtype='float64')
    case('ones/scalar-shape', 'ones', lambda p: torch.ones(()), shape=[])
    case('zerosLike/basic', 'zerosLike', lambda p: torch.zeros_like(p.x), x=det(2, 2, seed=87))
    case('onesLike/int', 'onesLike', lambda p: torch.ones_like(p.x), x=ints([[3, 4, 5]]))
    case('fullLike/basic', 'fullLike', lambda p: torch.full_like(p.x, 2.5), x=det(2, 2, seed=87), value=2.5)
    case('tensor/nested-float', 'tensorNested', lambda p: torch.tensor([[1.5, -2.0], [3.25, 4.0]]), data=[[1.5, -2.0], [3.25, 4.0]])
    case('tensor/nested-bool', 'tensorNested', lambda p: torch.tensor([[True, False, True]]), data=[[True, False, True]])
    case('tensor/nested-int64', 'tensorNested', lambda p: torch.tensor([[1, -2], [3, 2 ** 40]]), data=[[1, -2], [3, 2 ** 40]], dtype='int64')
    case('tensor/scalar', 'tensorNested', lambda p: torch.tensor(2.5), data=2.5)
    case('tensor/float16', 'tensorNested', lambda p: torch.tensor([0.1, 1 / 3, 1000.7, 70000.0], dtype=torch.float16),
         data=[0.1, 1 / 3, 1000.7, 70000.0], dtype='float16')


def gen_dtypes():
    lossy = f32([0.1, 1 / 3, -2.7, 1000.7, 65504.0, 1e-5, 3.0e5, -0.0])
    case('to/float16', 'to', lambda p: p.x.to(torch.float16), x=lossy, dtype='float16')
    case('to/float16-roundtrip', 'toRoundTrip', lambda p: p.x.half().float(), x=lossy, dtype='float16')
    case('to/bfloat16', 'to', lambda p: p.x.to(torch.bfloat16), x=lossy, dtype='bfloat16')
    case('to/bfloat16-roundtrip', 'toRoundTrip', lambda p: p.x.bfloat16().float(), x=lossy, dtype='bfloat16')
    case('to/float16-math', 'halfMath', lambda p: (p.a.half() * p.b.half() + 1).float(), a=det(6, seed=88), b=det(6, seed=89))
    case('to/int64-truncates', 'to', lambda p: p.x.to(torch.int64), x=f32([-2.7, -0.5, 0.0, 0.9, 3.99, 1e6]), dtype='int64')
    case('to/int32', 'to', lambda p: p.x.to(torch.int32), x=f32([-2.7, 5.5, 123456.0]), dtype='int32')
    case('to/uint8', 'to', lambda p: p.x.to(torch.uint8), x=f32([0, 1.5, 200, 255]), dtype='uint8')
    case('to/bool', 'to', lambda p: p.x.to(torch.bool), x=f32([0.0, 0.5, -1.0, -0.0]), dtype='bool')
    case('to/int64-to-float32', 'to', lambda p: p.x.float(), x=ints([-3, 0, 2 ** 24 + 1]), dtype='float32')
    case('to/bool-to-float32', 'to', lambda p: p.x.float(), x=bools([True, False, True]), dtype='float32')
    case('to/float64', 'to', lambda p: p.x.double(), x=lossy, dtype='float64')
    case('to/float64-to-float32', 'to', lambda p: p.x.float(), x=torch.tensor([0.1, 1 / 3, 1e-40], dtype=torch.float64), dtype='float32')
    case('promote/int64-plus-float', 'add', lambda p: torch.add(p.a, p.b), a=ints([1, 2]), b=f32([0.5, 0.25]))
    case('promote/int64-plus-float-scalar', 'add', lambda p: torch.add(p.a, p.b), a=ints([1, 2]), b=0.5)
    case('promote/bool-plus-int', 'add', lambda p: torch.add(p.a, p.b), a=bools([True, False]), b=ints([3, 4]))


def gen_readback():
    x = det(2, 3, seed=90)
    case('item/float-sum', 'item', lambda p: torch.sum(p.x).item(), x=x)
    case('item/int64', 'item', lambda p: torch.sum(p.x).item(), x=ints([5, 7, -2]))
    case('item/bool', 'itemAll', lambda p: torch.all(p.x).item(), x=bools([True, True]))
    case('item/bool-false', 'itemAll', lambda p: torch.all(p.x).item(), x=bools([True, False]))
    case('toArray/float', 'toArray', lambda p: nested(p.x.reshape(3, 2)), x=x, shape=[3, 2])
    case('toArray/int64', 'toArray', lambda p: nested(p.x.reshape(2, 2)), x=ints([1, -2, 3, 2 ** 40]), shape=[2, 2])
    case('toArray/bool', 'toArray', lambda p: nested(p.x.reshape(1, 3)), x=bools([True, False, True]), shape=[1, 3])
    case('toArray/scalar', 'toArray', lambda p: nested(p.x.reshape(())), x=f32([1.25]), shape=[])
    case('toArray/non-contiguous', 'toArrayTransposed', lambda p: nested(p.x.t()), x=x)
    case('data/transposed', 'dataTransposed', lambda p: p.x.t(), x=x)


def main():
    for gen in (gen_arithmetic, gen_unary, gen_reductions, gen_shape, gen_indexing, gen_compare, gen_linalg, gen_functional,
                gen_creation, gen_dtypes, gen_readback):
        gen()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, 'test', 'fixtures', 'ops.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fixture = {'torch': torch.__version__, 'cases': CASES}
    with open(out, 'w') as f:
        json.dump(fixture, f, separators=(',', ':'), allow_nan=False)
        f.write('\n')
    ops = sorted({c['op'] for c in CASES})
    print(f'wrote {len(CASES)} cases over {len(ops)} ops to {out} ({os.path.getsize(out)} bytes)')


if __name__ == '__main__':
    main()
