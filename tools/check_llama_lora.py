"""Checks that a LoRA adapter finetune saved for the tiny Llama (tools/export-llama-lora.ts) loads in
Hugging Face PEFT 0.21 with no missing or unexpected keys, has every adapter_config.json field PEFT
writes, and gives finetune's logits (max |diff| <= 1e-4), which differ from the base model's. Prints the verdict; exit status 1 if it fails.

Run from the repository root with the Python reference stack:
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/check_llama_lora.py build/llama-lora
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import json  # noqa: E402

from peft import PeftModel  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'llama')


def main(directory):
    outputs = json.load(open(os.path.join(directory, 'outputs.json')))
    base = LlamaForCausalLM.from_pretrained(os.path.join(FIXTURES, 'llama')).eval()
    model = PeftModel.from_pretrained(base, directory).eval()
    result = model.load_adapter(directory, adapter_name='check')
    model.set_adapter('default')
    ours = json.load(open(os.path.join(directory, 'adapter_config.json')))
    python = json.load(open(os.path.join(FIXTURES, 'lora', 'adapter_config.json')))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(outputs['input_ids'])).logits
    expected = torch.tensor(outputs['logits']['values']).reshape(outputs['logits']['shape'])
    diff = (logits - expected).abs().max().item()
    with model.disable_adapter(), torch.no_grad():
        adapter_effect = (model(input_ids=torch.tensor(outputs['input_ids'])).logits - logits).abs().max().item()
    verdict = {
        'missing_keys': [k for k in result.missing_keys if 'lora_' in k],
        'unexpected_keys': list(result.unexpected_keys),
        'config_fields_missing': sorted(set(python) - set(ours)),
        'max_abs_diff': diff,
        'adapter_effect': adapter_effect,
    }
    verdict['ok'] = (not verdict['missing_keys'] and not verdict['unexpected_keys'] and diff <= 1e-4
                     and adapter_effect > 1e-3)
    print(json.dumps(verdict, indent=1))
    return 0 if verdict['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
