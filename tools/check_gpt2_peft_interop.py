"""Checks that LoRA adapters saved by finetune on GPT-2 load in Hugging Face PEFT and give the same logits.

Input: build/gpt2-peft-interop/ (or the first argument), written by tools/export-gpt2-peft-interop.ts:
    <case>/adapter_config.json + adapter_model.safetensors   finetune's savePretrained on test/fixtures/gpt2/lm
    outputs.json                                              finetune's logits per case ({"shape", "values"})
For each case: PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(test/fixtures/gpt2/lm), <case>), eval,
logits for the left-padded batch of lm/reference.json, compared with finetune's. Writes
test/fixtures/gpt2/interop.json ({"peft", "transformers", "cases": {case: {"ok", "max_abs_diff", "warnings",
"missing_keys", "unexpected_keys", "fan_in_fan_out", "target_modules"}}}); exits 1 when a case is not ok.

    node build/ts/tools/export-gpt2-peft-interop.js
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/check_gpt2_peft_interop.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import json  # noqa: E402
import warnings  # noqa: E402

import peft  # noqa: E402
import transformers  # noqa: E402
from transformers import GPT2LMHeadModel  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'gpt2')
SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build', 'gpt2-peft-interop')
TOLERANCE = 1e-4


def main():
    reference = json.load(open(os.path.join(FIXTURES, 'lm', 'reference.json')))
    outputs = json.load(open(os.path.join(SOURCE, 'outputs.json')))
    input_ids = torch.tensor(reference['padded_ids'])
    attention_mask = torch.tensor(reference['padded_mask'])
    cases = {}
    for name, expected in outputs.items():
        base = GPT2LMHeadModel.from_pretrained(os.path.join(FIXTURES, 'lm')).eval()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            model = peft.PeftModel.from_pretrained(base, os.path.join(SOURCE, name)).eval()
        load = model.load_adapter(os.path.join(SOURCE, name), adapter_name='check')
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        diff = (logits.reshape(-1) - torch.tensor(expected['values'])).abs().max().item()
        cases[name] = check(logits, expected, diff, caught, load, model.peft_config['default'])
    result = {'peft': peft.__version__, 'transformers': transformers.__version__, 'torch': torch.__version__,
              'tolerance': TOLERANCE, 'cases': cases}
    with open(os.path.join(FIXTURES, 'interop.json'), 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(case['ok'] for case in cases.values()) else 1)


def check(logits, expected, diff, caught, load, config):
    missing = [k for k in load.missing_keys if 'lora_' in k]
    return {
        'ok': list(logits.shape) == expected['shape'] and diff <= TOLERANCE and not missing
        and not load.unexpected_keys,
        'max_abs_diff': diff,
        'warnings': [str(w.message) for w in caught],
        'missing_keys': missing,
        'unexpected_keys': list(load.unexpected_keys),
        'fan_in_fan_out': config.fan_in_fan_out,
        'target_modules': sorted(config.target_modules),
        'task_type': str(config.task_type),
    }


if __name__ == '__main__':
    main()
