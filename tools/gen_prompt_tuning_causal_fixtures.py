"""Writes test/fixtures/{gpt2,llama}/prompt_tuning/: peft 0.21 prompt tuning (task_type CAUSAL_LM, 4
random virtual tokens) on the tiny checkpoints of test/fixtures/gpt2/lm and test/fixtures/llama/llama,
with the loss and logits PeftModelForCausalLM computes with labels (it prepends -100 labels for the
virtual tokens), and PEFT's greedy generate of 8 tokens on the same (left-padded) batch. Read by
test/prompt-tuning-causal.test.ts.

Run from the repository root with the Python reference stack (the tests never need it):
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_prompt_tuning_causal_fixtures.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import json  # noqa: E402

import peft  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

torch.set_num_threads(1)
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')

# Ids below 64, the tiny Llama's vocabulary.
INPUT_IDS = [[5, 17, 33, 9, 61, 30], [12, 59, 5, 3, 40, 21]]
MASK = [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]]
LABELS = [[5, 17, 33, -100, 61, 30], [-100, -100, 5, 3, 40, 21]]

for family, base in (('gpt2', 'lm'), ('llama', 'llama')):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(FIXTURES, family, base))
    model.eval()
    torch.manual_seed(0)
    config = peft.PromptTuningConfig(task_type='CAUSAL_LM', num_virtual_tokens=4)
    tuned = peft.get_peft_model(model, config)
    out_dir = os.path.join(FIXTURES, family, 'prompt_tuning')
    tuned.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, 'README.md'))  # PEFT's model card, not needed
    # The base named relative to the repository root, not as this machine's path.
    with open(os.path.join(out_dir, 'adapter_config.json')) as f:
        adapter_config = json.load(f)
    adapter_config['base_model_name_or_path'] = f'test/fixtures/{family}/{base}'
    with open(os.path.join(out_dir, 'adapter_config.json'), 'w') as f:
        json.dump(adapter_config, f, indent=2, sort_keys=True)
    with torch.no_grad():
        out = tuned(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(MASK), labels=torch.tensor(LABELS))
        greedy = tuned.generate(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(MASK),
                                max_new_tokens=8, do_sample=False)
    reference = {
        'peft': peft.__version__,
        'input_ids': INPUT_IDS,
        'attention_mask': MASK,
        'labels': LABELS,
        'loss': out.loss.item(),
        'logits': {'shape': list(out.logits.shape), 'values': out.logits.reshape(-1).tolist()},
        'greedy': greedy.tolist(),
    }
    with open(os.path.join(out_dir, 'reference.json'), 'w') as f:
        json.dump(reference, f)
    print(family, 'loss', out.loss.item(), 'logits', list(out.logits.shape))
