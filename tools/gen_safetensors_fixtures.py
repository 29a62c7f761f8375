"""safetensors interop between finetune and the reference implementation (Python `safetensors`).

Setup (once): python3 -m pip install --no-deps --target .deps/pyref safetensors==0.8.0

Write the fixtures test/safetensors.test.ts loads:
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_safetensors_fixtures.py

  test/fixtures/safetensors/python-all-dtypes.safetensors  written by safetensors.torch.save_file
  test/fixtures/safetensors/python-all-dtypes.json         what it holds: per tensor the dtype, shape,
      values (nested lists; "nan"/"inf"/"-inf" for non-finite floats, int64 as decimal strings) and raw
      little-endian bytes (hex), plus the metadata and the tensor order of the header.

Check that the reference reads a file finetune wrote (the test writes
build/safetensors-interop/finetune-all-dtypes.safetensors and a .json of what it holds beside it):
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_safetensors_fixtures.py \
        --check build/safetensors-interop/finetune-all-dtypes.safetensors

--check loads FILE with safetensors (which validates the header as the reference does), checks
the 8-byte alignment of the header, compares every tensor's dtype, shape and bytes (sha256) with
FILE's .json when there is one, and checks that safetensors.torch.save of the loaded tensors
reproduces FILE byte for byte (tensor order, offsets, padding; metadata with at most one key, as
Rust's HashMap orders several keys at random). Exits non-zero on any difference.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'safetensors')

NAMES = {
    torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
    torch.bool: 'BOOL', torch.complex64: 'C64',
}


def raw_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.complex64:
        t = torch.view_as_real(t)
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def plain(v):
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return 'nan'
        if math.isinf(v):
            return 'inf' if v > 0 else '-inf'
    return v


def values(t):
    if t.dtype == torch.int64:
        def strings(v):
            return [strings(x) for x in v] if isinstance(v, list) else str(v)
        return strings(t.tolist())
    if t.dtype == torch.complex64:
        return plain(torch.view_as_real(t).tolist())
    return plain(t.tolist())


def fixture_tensors():
    g = torch.Generator().manual_seed(0)
    special = [0.0, -0.0, 1.0, -1.5, float('inf'), float('-inf'), float('nan')]
    f32 = torch.tensor(special + [3.4028234663852886e38, 1e-45, 1 / 3], dtype=torch.float32)
    f16 = torch.tensor(special + [65504.0, 6e-08, 1 / 3], dtype=torch.float16)
    bf16 = torch.tensor(special + [3.3895313892515355e38, 1e-40, 1 / 3], dtype=torch.bfloat16)
    return {
        'f64.matrix': torch.randn(3, 4, generator=g, dtype=torch.float64),
        'f64.special': torch.tensor(special + [1.7976931348623157e308, 5e-324], dtype=torch.float64),
        'f32.special': f32,
        'f32.tensor3d': torch.randn(2, 3, 4, generator=g),
        'f16.special': f16,
        'f16.matrix': torch.randn(4, 5, generator=g).to(torch.float16),
        'bf16.special': bf16,
        'bf16.matrix': torch.randn(5, 3, generator=g).to(torch.bfloat16),
        'i64.values': torch.tensor([0, -1, 2**62 + 12345, -(2**63), 2**63 - 1, 2**53 + 1], dtype=torch.int64),
        'i32.values': torch.tensor([[0, -1, 2**31 - 1], [-(2**31), 7, 123456789]], dtype=torch.int32),
        'i16.values': torch.tensor([0, -1, 32767, -32768, 1234], dtype=torch.int16),
        'i8.values': torch.tensor([0, -1, 127, -128, 42], dtype=torch.int8),
        'u8.values': torch.tensor([0, 1, 128, 255, 42], dtype=torch.uint8),
        'bool.mask': torch.tensor([[True, False, True], [False, False, True]]),
        'c64.values': torch.tensor([1 + 2j, -0.5 + 0j, 0 - 3.25j], dtype=torch.complex64),
        'scalar.f32': torch.tensor(2.5, dtype=torch.float32),
        'scalar.i64': torch.tensor(-7, dtype=torch.int64),
        'scalar.bool': torch.tensor(True),
        'empty.f32': torch.zeros(0, dtype=torch.float32),
        'empty.bf16.2x0': torch.zeros(2, 0, dtype=torch.bfloat16),
        'empty.i8.0x3': torch.zeros(0, 3, dtype=torch.int8),
        'model.layers.0.self_attn.q_proj.weight': torch.randn(8, 8, generator=g).to(torch.bfloat16),
        'unicode.naïve→名前': torch.arange(6, dtype=torch.int32).reshape(2, 3),
    }


def header_of(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return n, json.loads(f.read(n))


def describe(path, tensors, metadata):
    n, header = header_of(path)
    return {
        'metadata': metadata,
        'header_size': n,
        'order': [k for k in header if k != '__metadata__'],
        'tensors': {
            name: {
                'dtype': NAMES[t.dtype],
                'shape': list(t.shape),
                'values': values(t),
                'hex': raw_bytes(t).hex(),
                'sha256': hashlib.sha256(raw_bytes(t)).hexdigest(),
            }
            for name, t in tensors.items()
        },
    }


def generate():
    os.makedirs(FIXTURES, exist_ok=True)
    tensors = fixture_tensors()
    metadata = {'format': 'pt', 'note': 'written by safetensors %s: "quotes", ünïcode, \\backslash\\, tab\t' % safetensors_version()}
    path = os.path.join(FIXTURES, 'python-all-dtypes.safetensors')
    save_file(tensors, path, metadata=metadata)
    with open(os.path.join(FIXTURES, 'python-all-dtypes.json'), 'w') as f:
        json.dump(describe(path, tensors, metadata), f, indent=1, ensure_ascii=False)
        f.write('\n')
    print(f'wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)')


def safetensors_version():
    import safetensors
    return safetensors.__version__


def check(path):
    problems = []
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    if n % 8 != 0:
        problems.append(f'header length {n} is not a multiple of 8')
    loaded = load_file(path)  # the reference's validation: offsets, sizes, coverage
    with safe_open(path, framework='pt') as f:
        metadata = f.metadata() or {}
        keys = list(f.keys())
    expected_path = os.path.splitext(path)[0] + '.json'
    if os.path.exists(expected_path):
        with open(expected_path) as f:
            expected = json.load(f)
        if expected.get('metadata', {}) != metadata:
            problems.append(f'metadata {metadata!r} != expected {expected.get("metadata")!r}')
        if sorted(expected['tensors']) != sorted(keys):
            problems.append(f'tensor names {sorted(keys)} != expected {sorted(expected["tensors"])}')
        for name, want in expected['tensors'].items():
            if name not in loaded:
                continue
            t = loaded[name]
            if NAMES.get(t.dtype) != want['dtype']:
                problems.append(f'{name}: dtype {t.dtype} != {want["dtype"]}')
            if list(t.shape) != want['shape']:
                problems.append(f'{name}: shape {list(t.shape)} != {want["shape"]}')
            if hashlib.sha256(raw_bytes(t)).hexdigest() != want['sha256']:
                problems.append(f'{name}: bytes differ (sha256)')
    else:
        print(f'(no {expected_path}: checking only that safetensors reads the file and re-serializes it identically)')
    if len(metadata) <= 1:
        again = save(loaded, metadata=metadata or None)
        if again != data:
            problems.append('safetensors.torch.save of the loaded tensors does not reproduce the file byte for byte')
    else:
        print('(metadata has several keys: skipping the byte-for-byte comparison)')
    if problems:
        print(f'FAIL {path}:')
        for p in problems:
            print('  ' + p)
        return 1
    print(f'OK {path}: safetensors {safetensors_version()} read {len(loaded)} tensors '
          f'({", ".join(sorted({NAMES[t.dtype] for t in loaded.values()}))}), header {n} bytes, '
          f'metadata {metadata}' + (', identical on re-save' if len(metadata) <= 1 else ''))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--check', metavar='FILE', help='verify that safetensors reads FILE (written by finetune)')
    args = parser.parse_args()
    if args.check:
        sys.exit(check(args.check))
    generate()


if __name__ == '__main__':
    main()
