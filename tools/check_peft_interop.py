"""Checks that adapters saved by finetune's TypeScript PEFT load in Hugging Face PEFT and give the same outputs.

Input: a directory written by the TypeScript side,
    <dir>/<case>/adapter_config.json + adapter_model.safetensors   one saved adapter per case, for the base model
                                                                   of test/fixtures/peft/cases.json's case of that
                                                                   name (tiny-bert or tiny-conv)
    <dir>/outputs.json                                             the TypeScript logits per case, for the inputs in
                                                                   cases.json ("inputs"), adapter active, eval mode:
        {"<case>": {"shape": [2, 3], "values": [...flat row-major...]}, ...}
    (a nested list instead of {"shape", "values"}, a top-level {"cases": {...}} wrapper, and per case
    {"logits": ...} or {"active": ...} are accepted too; a case may name its base with "base": "tiny-conv").

For each case it runs PeftModel.from_pretrained(base, <dir>/<case>) on a fresh base model from
test/fixtures/peft/tiny-bert or tiny-conv, computes the logits in eval mode and writes
test/fixtures/peft/interop.json (or --out):
    {"peft": version, "transformers": ..., "torch": ..., "source": <dir>, "tolerance": ...,
     "cases": {"<case>": {"loaded": bool, "error": str|null, "base": "tiny-bert", "peft_type": ...,
                          "warnings": [...], "missing_keys": [...], "unexpected_keys": [...],
                          "python_fixture_missing_keys": [...], "python_fixture_unexpected_keys": [...],
                          "new_missing_keys": [...], "new_unexpected_keys": [...], "ok": bool,
                          "max_abs_diff_vs_ts": float|null, "max_abs_diff_vs_python_fixture": float|null,
                          "keys_only_in_ts": [...], "keys_only_in_python_fixture": [...], "shape_mismatches": {...},
                          "config_fields_missing_vs_python_fixture": [...], "logits": {"shape", "values"}}}}
missing_keys / unexpected_keys are those of PEFT's own load_adapter (adapter keys the model expected but the file
lacks / file keys the model has no place for); python_fixture_* are the same for the Python-saved fixture of the case
(PEFT's own files have some: bias='all' and prompt tuning) and new_* the TS file's beyond those. A case is "ok" when it
loads, has no new missing/unexpected keys and its logits are within --tol (default 1e-4) of the TS ones; the exit
status is 1 when a case is not ok.

Run from the repository root with the Python reference stack:
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/check_peft_interop.py <dir> [--out PATH] [--tol 1e-4]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import argparse  # noqa: E402
import json  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import peft  # noqa: E402
import transformers  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertForSequenceClassification  # noqa: E402

torch.set_num_threads(1)
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'peft')


def load_tiny_bert():
    return BertForSequenceClassification.from_pretrained(os.path.join(FIXTURES, 'tiny-bert')).eval()


def load_tiny_conv():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    model.load_state_dict(load_file(os.path.join(FIXTURES, 'tiny-conv', 'model.safetensors')))
    return model.eval()


def to_tensor(value):
    """{"shape", "values"} or a nested list -> float32 tensor."""
    if isinstance(value, dict):
        for key in ('logits', 'active'):
            if key in value:
                return to_tensor(value[key])
        return torch.tensor(value['values'], dtype=torch.float32).reshape(value['shape'])
    return torch.tensor(value, dtype=torch.float32)


def saved_keys(path):
    with safe_open(path, 'pt') as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


def pick_base(case, reference, adapter_config, ts_entry):
    if isinstance(ts_entry, dict) and ts_entry.get('base') in ('tiny-bert', 'tiny-conv'):
        return ts_entry['base']
    if reference is not None:
        return reference['base']
    auto = adapter_config.get('auto_mapping') or {}
    return 'tiny-conv' if auto.get('base_model_class') == 'Sequential' else 'tiny-bert'


def load(base_name, adapter_dir):
    """PeftModel.from_pretrained on a fresh base: (model, warnings, missing keys, unexpected keys)."""
    base = load_tiny_bert() if base_name == 'tiny-bert' else load_tiny_conv()
    captured = {}
    load_adapter = PeftModel.load_adapter

    def spy(self, *args, **kwargs):  # keep PEFT's own load result (missing and unexpected keys)
        captured['result'] = load_adapter(self, *args, **kwargs)
        return captured['result']

    PeftModel.load_adapter = spy
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            model = PeftModel.from_pretrained(base, adapter_dir).eval()
    finally:
        PeftModel.load_adapter = load_adapter
    result = captured.get('result')
    return (model, [f'{w.category.__name__}: {w.message}' for w in caught],
            list(result.missing_keys) if result else [], list(result.unexpected_keys) if result else [])


def check_case(case, case_dir, ts_entry, reference, inputs, tol):
    result = {'loaded': False, 'error': None, 'base': None, 'peft_type': None, 'warnings': [], 'missing_keys': [],
              'unexpected_keys': [], 'max_abs_diff_vs_ts': None, 'max_abs_diff_vs_python_fixture': None}
    try:
        with open(os.path.join(case_dir, 'adapter_config.json')) as f:
            adapter_config = json.load(f)
        result['peft_type'] = adapter_config.get('peft_type')
        base_name = result['base'] = pick_base(case, reference, adapter_config, ts_entry)

        ts_keys = saved_keys(os.path.join(case_dir, 'adapter_model.safetensors'))
        if reference is not None:
            py_keys = {k: v['shape'] for k, v in reference['saved_keys'].items()}
            result['keys_only_in_ts'] = sorted(set(ts_keys) - set(py_keys))
            result['keys_only_in_python_fixture'] = sorted(set(py_keys) - set(ts_keys))
            result['shape_mismatches'] = {k: {'ts': ts_keys[k], 'python': py_keys[k]}
                                          for k in sorted(set(ts_keys) & set(py_keys)) if ts_keys[k] != py_keys[k]}
            result['config_fields_missing_vs_python_fixture'] = sorted(set(reference['adapter_config'])
                                                                        - set(adapter_config))

        model, result['warnings'], result['missing_keys'], result['unexpected_keys'] = load(base_name, case_dir)
        result['loaded'] = True
        # PEFT's own files are not free of such keys either (bias='all' saves classifier.modules_to_save.bias,
        # prompt tuning's prompt_embeddings loads outside load_state_dict): only keys beyond those of the Python
        # fixture of the same case count against the TS file.
        reference_dir = os.path.join(FIXTURES, case)
        if reference is not None and os.path.isfile(os.path.join(reference_dir, 'adapter_config.json')):
            _, _, py_missing, py_unexpected = load(base_name, reference_dir)
            result['python_fixture_missing_keys'] = py_missing
            result['python_fixture_unexpected_keys'] = py_unexpected
        else:
            py_missing, py_unexpected = [], []
        result['new_missing_keys'] = [k for k in result['missing_keys'] if k not in py_missing]
        result['new_unexpected_keys'] = [k for k in result['unexpected_keys'] if k not in py_unexpected]

        with torch.no_grad():
            if base_name == 'tiny-bert':
                logits = model(input_ids=torch.tensor(inputs['input_ids']),
                               attention_mask=torch.tensor(inputs['attention_mask']),
                               token_type_ids=torch.tensor(inputs['token_type_ids'])).logits
            else:
                logits = model(to_tensor(inputs['pixel_values']))
        result['logits'] = {'shape': list(logits.shape), 'values': logits.reshape(-1).tolist()}
        if ts_entry is not None:
            ts = to_tensor(ts_entry)
            if list(ts.shape) != list(logits.shape):
                result['error'] = f'TS logits shape {list(ts.shape)} != {list(logits.shape)}'
            else:
                result['max_abs_diff_vs_ts'] = float((ts - logits).abs().max())
        else:
            result['error'] = 'no TS logits for this case in outputs.json'
        if reference is not None:
            result['max_abs_diff_vs_python_fixture'] = float((to_tensor(reference['logits']['active']) - logits)
                                                             .abs().max())
    except Exception as e:  # noqa: BLE001  the failure is the result
        result['error'] = f'{type(e).__name__}: {e}'
        result['traceback'] = traceback.format_exc()
    result['ok'] = (result['loaded'] and result['error'] is None and not result.get('new_missing_keys')
                    and not result.get('new_unexpected_keys') and result['max_abs_diff_vs_ts'] is not None
                    and result['max_abs_diff_vs_ts'] <= tol)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dir', help='directory with <case>/ adapter folders and outputs.json from the TypeScript side')
    parser.add_argument('--out', default=os.path.join(FIXTURES, 'interop.json'))
    parser.add_argument('--tol', type=float, default=1e-4)
    args = parser.parse_args()

    with open(os.path.join(FIXTURES, 'cases.json')) as f:
        fixtures = json.load(f)
    outputs_path = os.path.join(args.dir, 'outputs.json')
    outputs = {}
    if os.path.exists(outputs_path):
        with open(outputs_path) as f:
            outputs = json.load(f)
        if isinstance(outputs.get('cases'), dict):
            outputs = outputs['cases']

    cases = sorted(name for name in os.listdir(args.dir)
                   if os.path.isfile(os.path.join(args.dir, name, 'adapter_config.json')))
    report = {'peft': peft.__version__, 'transformers': transformers.__version__, 'torch': torch.__version__,
              'source': args.dir, 'tolerance': args.tol, 'cases': {}}
    for case in cases:
        report['cases'][case] = check_case(case, os.path.join(args.dir, case), outputs.get(case),
                                           fixtures['cases'].get(case), fixtures['inputs'], args.tol)
    missing_dirs = sorted(set(outputs) - set(cases))
    if missing_dirs:
        report['outputs_without_adapter_dir'] = missing_dirs

    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1)
        f.write('\n')
    failed = 0
    for case, r in report['cases'].items():
        failed += not r['ok']
        print(f"{'ok  ' if r['ok'] else 'FAIL'} {case}: loaded={r['loaded']} max|dlogits| vs TS={r['max_abs_diff_vs_ts']}"
              f" new missing={len(r.get('new_missing_keys', []))} new unexpected={len(r.get('new_unexpected_keys', []))}"
              + (f" error={r['error']}" if r['error'] else ''))
    print(f'wrote {args.out} ({len(cases)} cases, {failed} failed)')
    sys.exit(1 if failed or not cases else 0)


if __name__ == '__main__':
    main()
