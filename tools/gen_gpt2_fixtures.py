"""Writes test/fixtures/gpt2/: tiny random-weight GPT-2 checkpoints saved by transformers'
save_pretrained (config.json + model.safetensors), the outputs transformers computes for them, and
PEFT LoRA adapters on them (read by test/gpt2.test.ts and test/generation.test.ts).

  lm/            GPT2LMHeadModel (L2 H32 A4, vocab 100, 64 positions, tied lm_head), reference.json:
                 logits for a batch without padding and one with left padding, the loss with labels
                 (some -100), greedy generation of 20 tokens (no padding, left padding, stopping at an
                 eos token), and a seeded sampled generation
  options/       a smaller GPT2LMHeadModel with scale_attn_weights false, scale_attn_by_inverse_layer_idx, n_inner,
                 relu, an untied lm_head and two eos ids: logits
  seqcls/        GPT2ForSequenceClassification (3 labels, pad_token_id 0): logits and loss on a padded batch
  processors.json  transformers' repetition penalty / temperature / top-k / top-p on fixed scores
  lora/          peft 0.21 LoRA (task_type CAUSAL_LM, the default targets: c_attn, fan_in_fan_out set by PEFT)
                 with seeded random weights: adapter_config.json, adapter_model.safetensors, reference.json
                 (logits with the adapter, merged)
  lora_mlp/      the same on c_attn, c_proj and c_fc with r 4, alpha 8
  ia3/           peft 0.21 IA3 (CAUSAL_LM, the defaults for gpt2: c_attn and mlp.c_proj, mlp.c_proj feedforward)

Run from the repository root with the Python reference stack (the tests never need it):
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_gpt2_fixtures.py
"""
import os
import sys

if os.environ.get('PYTHONHASHSEED') != '0':
    # PEFT writes target_modules (a set) in set order: fix the hash seed so the files are the same every run.
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, 'PYTHONHASHSEED': '0'})

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import json  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402

import peft  # noqa: E402
import transformers  # noqa: E402
from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel  # noqa: E402
from transformers.generation.logits_process import (  # noqa: E402
    RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'gpt2')

# A wide init (0.02 makes near-uniform logits and greedy repeats one token) so generations vary.
TINY = dict(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=None, eos_token_id=None,
            initializer_range=0.3)

INPUT_IDS = [[5, 17, 83, 9, 61, 30, 3, 44], [12, 99, 5, 3, 70, 21, 8, 2]]
# Left padding: the second row's first three tokens are padding (id 0, mask 0).
PADDED_IDS = [[5, 17, 83, 9, 61, 30, 3, 44], [0, 0, 0, 12, 99, 5, 3, 70]]
PADDED_MASK = [[1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1]]
LABELS = [[5, 17, 83, -100, 61, 30, 3, 44], [-100, -100, 5, 3, 70, 21, 8, 2]]


def flat(t):
    return {'shape': list(t.shape), 'values': t.detach().reshape(-1).tolist()}


def ids(rows):
    return torch.tensor(rows, dtype=torch.long)


def write_json(path, data):
    with open(path, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')


def save_model(model, name):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    os.chmod(os.path.join(path, 'model.safetensors'), 0o644)  # safetensors writes 0600
    generation_config = os.path.join(path, 'generation_config.json')
    if os.path.exists(generation_config):
        os.remove(generation_config)  # generation settings are generate()'s options here
    return path


def lm():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(**TINY)).eval()
    path = save_model(model, 'lm')
    with torch.no_grad():
        plain = model(input_ids=ids(INPUT_IDS), labels=ids(LABELS))
        padded = model(input_ids=ids(PADDED_IDS), attention_mask=ids(PADDED_MASK))
        greedy = model.generate(ids(INPUT_IDS), attention_mask=torch.ones(2, 8, dtype=torch.long),
                                max_new_tokens=20, do_sample=False, pad_token_id=0)
        greedy_padded = model.generate(ids(PADDED_IDS), attention_mask=ids(PADDED_MASK), max_new_tokens=20,
                                       do_sample=False, pad_token_id=0)
        # An end token the first row produces at its 6th new token: that row stops there and is padded.
        eos = greedy[0, 8 + 5].item()
        greedy_eos = model.generate(ids(INPUT_IDS), attention_mask=torch.ones(2, 8, dtype=torch.long),
                                    max_new_tokens=20, do_sample=False, eos_token_id=eos, pad_token_id=0)
        torch.manual_seed(1234)
        sampled = model.generate(ids(PADDED_IDS), attention_mask=ids(PADDED_MASK), max_new_tokens=20,
                                 do_sample=True, temperature=0.8, top_k=20, top_p=0.9, repetition_penalty=1.3,
                                 pad_token_id=0)
    write_json(os.path.join(path, 'reference.json'), {
        'transformers': transformers.__version__, 'torch': torch.__version__,
        'input_ids': INPUT_IDS, 'labels': LABELS, 'padded_ids': PADDED_IDS, 'padded_mask': PADDED_MASK,
        'logits': flat(plain.logits), 'loss': plain.loss.item(), 'padded_logits': flat(padded.logits),
        'greedy': greedy.tolist(), 'greedy_padded': greedy_padded.tolist(),
        'eos': eos, 'greedy_eos': greedy_eos.tolist(),
        'sampled': {'seed': 1234, 'temperature': 0.8, 'top_k': 20, 'top_p': 0.9, 'repetition_penalty': 1.3,
                    'sequences': sampled.tolist()},
    })
    return model


def options():
    # The attention and MLP options of GPT2Config, on a smaller model: scores scaled by 1/(layer + 1) and not
    # by 1/sqrt(head_dim), a set n_inner and a relu MLP, with an untied lm_head (saved as lm_head.weight).
    torch.manual_seed(4)
    config = GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2, n_inner=24,
                        activation_function='relu', scale_attn_weights=False, scale_attn_by_inverse_layer_idx=True,
                        tie_word_embeddings=False, bos_token_id=None, eos_token_id=[7, 9], initializer_range=0.3)
    model = GPT2LMHeadModel(config).eval()
    path = save_model(model, 'options')
    rows = [[1, 5, 9, 13, 2, 7], [4, 4, 8, 15, 16, 23]]
    with torch.no_grad():
        logits = model(input_ids=ids(rows)).logits
    write_json(os.path.join(path, 'reference.json'), {'input_ids': rows, 'logits': flat(logits)})


def seqcls():
    torch.manual_seed(1)
    config = GPT2Config(**TINY, num_labels=3, pad_token_id=0)
    model = GPT2ForSequenceClassification(config).eval()
    path = save_model(model, 'seqcls')
    # Right padding here: the score is read at each row's last non-pad token.
    rows = [[5, 17, 83, 9, 61, 30, 3, 44], [12, 99, 5, 3, 70, 0, 0, 0]]
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        out = model(input_ids=ids(rows), attention_mask=(ids(rows) != 0).long(), labels=labels)
    write_json(os.path.join(path, 'reference.json'), {
        'input_ids': rows, 'labels': labels.tolist(), 'logits': flat(out.logits), 'loss': out.loss.item()})


def processors():
    torch.manual_seed(2)
    scores = torch.randn(2, 100) * 3
    input_ids = ids([[4, 8, 15, 16, 23, 42], [1, 1, 2, 3, 5, 8]])
    finite = lambda t: [[None if v == float('-inf') else v for v in row] for row in t.tolist()]  # noqa: E731
    cases = {}
    for name, chain in {
        'repetition_penalty': [RepetitionPenaltyLogitsProcessor(1.5)],
        'temperature': [TemperatureLogitsWarper(0.7)],
        'top_k': [TopKLogitsWarper(5)],
        'top_p': [TopPLogitsWarper(0.8)],
        'top_p_tiny': [TopPLogitsWarper(0.01)],
        'all': [RepetitionPenaltyLogitsProcessor(1.3), TemperatureLogitsWarper(0.7), TopKLogitsWarper(20),
                TopPLogitsWarper(0.9)],
    }.items():
        out = scores.clone()
        for processor in chain:
            out = processor(input_ids, out)
        cases[name] = finite(out)
    write_json(os.path.join(OUT, 'processors.json'),
               {'scores': scores.tolist(), 'input_ids': input_ids.tolist(), 'cases': cases})


def adapter(model, name, config):
    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # fan_in_fan_out set to True for Conv1D
        peft_model = peft.get_peft_model(model, config)
    for param_name, param in peft_model.named_parameters():
        with torch.no_grad():
            if 'lora_' in param_name:
                param.copy_(torch.randn_like(param) * 0.1)
            elif 'ia3_l' in param_name:
                param.copy_(1 + torch.randn_like(param) * 0.2)
    peft_model.eval()
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    peft_model.save_pretrained(path)
    os.remove(os.path.join(path, 'README.md'))
    os.chmod(os.path.join(path, 'adapter_model.safetensors'), 0o644)
    with torch.no_grad():
        logits = peft_model(input_ids=ids(PADDED_IDS), attention_mask=ids(PADDED_MASK)).logits
        merged = peft_model.merge_and_unload()(input_ids=ids(PADDED_IDS), attention_mask=ids(PADDED_MASK)).logits
    write_json(os.path.join(path, 'reference.json'), {
        'peft': peft.__version__, 'logits': flat(logits), 'merged_logits': flat(merged)})


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    model = lm()
    options()
    seqcls()
    processors()
    adapter(model, 'lora', peft.LoraConfig(task_type='CAUSAL_LM'))
    torch.manual_seed(0)
    adapter(GPT2LMHeadModel(GPT2Config(**TINY)).eval(), 'lora_mlp',
            peft.LoraConfig(task_type='CAUSAL_LM', r=4, lora_alpha=8, target_modules=['c_attn', 'c_proj', 'c_fc']))
    torch.manual_seed(0)
    adapter(GPT2LMHeadModel(GPT2Config(**TINY)).eval(), 'ia3', peft.IA3Config(task_type='CAUSAL_LM'))
