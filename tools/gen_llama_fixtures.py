"""Writes test/fixtures/llama/<name>/: tiny random-weight Llama-family checkpoints saved by transformers'
save_pretrained (config.json + model.safetensors) and reference.json, what transformers computes for
them: logits of an unpadded batch, of a left-padded batch (with the position ids transformers'
generate passes: the attention mask's cumulative sum - 1), the causal-LM loss with labels (some -100),
and greedy generation of 20 new tokens for one prompt and for a left-padded batch of two. `seqcls`
is a LlamaForSequenceClassification (logits and loss on a right-padded batch). `lora` is a PEFT 0.21
LoRA adapter (q_proj/v_proj, random B) on `llama`, with the logits it gives.

Run from tools/ with the Python reference stack (never needed by the tests):
    eval "$(bash tools/setup-pyref.sh)"; cd tools && python3 gen_llama_fixtures.py
"""
from pyref import torch  # first: the same torch wheel the addon links

import json
import os
import shutil

import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)
import peft
from peft import LoraConfig, get_peft_model

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'llama')

# L2 H32 I48, 4 query heads over 2 key/value heads (grouped-query attention), vocabulary 64. Weights
# N(0, 0.2²): with transformers' 0.02 a random model repeats one token. eos_token_id None: generation
# runs the full 20 tokens.
TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, initializer_range=0.2, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=None)

INPUT_IDS = [[1, 45, 17, 53, 9, 61, 30, 7], [1, 12, 59, 5, 3, 44, 21, 28]]
# The second row left-padded: three pad tokens (id 0, mask 0) before five real ones.
PADDED_IDS = [[1, 45, 17, 53, 9, 61, 30, 7], [0, 0, 0, 1, 12, 59, 5, 3]]
PADDED_MASK = [[1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1]]
LABELS = [[1, 45, -100, 53, 9, -100, 30, 7], [-100, -100, -100, 1, 12, 59, 5, 3]]
PROMPT = [[1, 23, 57, 8, 40]]
NEW_TOKENS = 20


def flat(t, digits=7):
    values = t.detach().reshape(-1).tolist()
    return {'shape': list(t.shape), 'values': [float(f'{v:.{digits}g}') for v in values]}


def padded_inputs():
    # The positions transformers' generate passes (_prepare_position_ids_for_generation).
    mask = torch.tensor(PADDED_MASK)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    return dict(input_ids=torch.tensor(PADDED_IDS), attention_mask=mask, position_ids=positions)


def save(model, name, reference):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    os.chmod(os.path.join(path, 'model.safetensors'), 0o644)  # safetensors writes 0600
    reference = {'transformers': transformers.__version__, 'torch': torch.__version__, **reference}
    with open(os.path.join(path, 'reference.json'), 'w') as f:
        json.dump(reference, f, separators=(',', ':'))
        f.write('\n')


def causal_lm_reference(model, forward_default=False):
    with torch.no_grad():
        padded = padded_inputs()
        reference = {
            'input_ids': INPUT_IDS,
            'logits': flat(model(input_ids=torch.tensor(INPUT_IDS)).logits),
            'padded': {'input_ids': PADDED_IDS, 'attention_mask': PADDED_MASK,
                       'position_ids': padded['position_ids'].tolist(), 'logits': flat(model(**padded).logits)},
            'labels': LABELS,
            'loss': model(input_ids=torch.tensor(INPUT_IDS), labels=torch.tensor(LABELS)).loss.item(),
        }
        if forward_default:
            # No position_ids: LlamaModel.forward numbers the tokens 0, 1, … whatever the mask (left padding included).
            del padded['position_ids']
            reference['padded']['logits_forward_default'] = flat(model(**padded).logits)
        greedy = model.generate(torch.tensor(PROMPT), max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        reference['generate'] = {'prompt': PROMPT, 'ids': greedy[:, len(PROMPT[0]):].tolist()}
        # A left-padded batch of two prompts, as generate's callers pad them.
        prompts = torch.tensor([[1, 45, 17, 53, 9, 61], [0, 0, 0, 1, 12, 59]])
        mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]])
        batch = model.generate(prompts, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
                               pad_token_id=0)
        reference['generate_padded'] = {'prompt': prompts.tolist(), 'attention_mask': mask.tolist(),
                                        'ids': batch[:, prompts.shape[1]:].tolist()}
    return reference


def build(cls, config, seed):
    torch.manual_seed(seed)
    model = cls(config).eval()
    # Norm weights start at one and biases at zero: give them values so the tests see them loaded.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight') or name.endswith('.bias'):
                p.normal_(1.0 if name.endswith('norm.weight') else 0.0, 0.2)
    model.generation_config.eos_token_id = None
    return model


def llama():
    model = build(LlamaForCausalLM, LlamaConfig(**TINY, rope_theta=10000.0), 0)
    save(model, 'llama', causal_lm_reference(model, forward_default=True))
    return model


def llama_tied():
    # Tied lm_head, biases everywhere, head_dim 12 (query width 48 ≠ hidden 32), rope θ 500, eps 1e-5.
    config = LlamaConfig(**TINY, tie_word_embeddings=True, attention_bias=True, mlp_bias=True, head_dim=12,
                         rope_parameters={'rope_type': 'default', 'rope_theta': 500.0}, rms_norm_eps=1e-5)
    model = build(LlamaForCausalLM, config, 1)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    save(model, 'llama_tied', causal_lm_reference(model))


def qwen2():
    config = Qwen2Config(**TINY, tie_word_embeddings=True, rope_theta=1000000.0)
    model = build(Qwen2ForCausalLM, config, 2)
    save(model, 'qwen2', causal_lm_reference(model))
    return model


def mistral():
    # A sliding window of 4 tokens, shorter than the sequences: the window is in play.
    model = build(MistralForCausalLM, MistralConfig(**TINY, sliding_window=4), 3)
    save(model, 'mistral', causal_lm_reference(model))


def seqcls():
    torch.manual_seed(4)
    model = LlamaForSequenceClassification(LlamaConfig(**TINY, num_labels=3)).eval()
    # Right-padded: the score is read at each row's last token that is not pad_token_id.
    ids = torch.tensor([[1, 45, 17, 53, 9, 61, 30, 7], [1, 12, 59, 5, 3, 0, 0, 0]])
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    save(model, 'seqcls', {'input_ids': ids.tolist(), 'attention_mask': mask.tolist(), 'labels': labels.tolist(),
                           'logits': flat(out.logits), 'loss': out.loss.item()})


# RoPE scaling (modeling_rope_utils.ROPE_INIT_FUNCTIONS): the `llama` and `qwen2` weights under configs of
# each rope type, in both spellings (transformers 5's rope_parameters, the older rope_theta + rope_scaling).
# head_dim 8: inverse frequencies 1, 0.1, 0.01, 0.001 at θ 1e4, so llama3 keeps one, smooths one and divides
# two; YaRN at θ 100 with original 128 ramps over dimensions 0..3. Dynamic NTK's max_position_embeddings 6 is
# below the 8-token forward and the generations, so its base grows (and, as in transformers, its state carries
# from call to call: the calls below run in this order on a fresh model, and the test repeats the order).
ROPE_CASES = {
    'llama3': ('llama', dict(max_position_embeddings=256, rope_parameters={
        'rope_type': 'llama3', 'rope_theta': 10000.0, 'factor': 8.0, 'low_freq_factor': 1.0,
        'high_freq_factor': 4.0, 'original_max_position_embeddings': 64})),
    'linear': ('llama', dict(rope_theta=10000.0, rope_scaling={'type': 'linear', 'factor': 2.0})),
    'dynamic': ('llama', dict(max_position_embeddings=6, rope_theta=10000.0,
                              rope_scaling={'rope_type': 'dynamic', 'factor': 2.0})),
    'yarn': ('qwen2', dict(max_position_embeddings=512, rope_theta=100.0, tie_word_embeddings=True, rope_scaling={
        'type': 'yarn', 'factor': 4.0, 'original_max_position_embeddings': 128})),
}


def rope(bases):
    out = {}
    for name, (base, overrides) in ROPE_CASES.items():
        config_class, model_class = (Qwen2Config, Qwen2ForCausalLM) if base == 'qwen2' else (LlamaConfig, LlamaForCausalLM)
        config = config_class(**{**TINY, **overrides})
        model = model_class(config).eval()
        model.load_state_dict(bases[base].state_dict())
        model.generation_config.eos_token_id = None
        with torch.no_grad():
            case = {'base': base, 'config': json.loads(config.to_json_string()),
                    'logits': flat(model(input_ids=torch.tensor(INPUT_IDS)).logits, digits=6)}
            greedy = model.generate(torch.tensor(PROMPT), max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
            case['generate'] = greedy[:, len(PROMPT[0]):].tolist()
            prompts, mask = torch.tensor(PADDED_IDS)[:, :6], torch.tensor(PADDED_MASK)[:, :6]
            batch = model.generate(prompts, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
                                   pad_token_id=0)
            case['generate_padded'] = {'prompt': prompts.tolist(), 'attention_mask': mask.tolist(),
                                       'ids': batch[:, prompts.shape[1]:].tolist()}
            uncached = model.generate(torch.tensor(PROMPT), max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0,
                                      use_cache=False)
            case['generate_no_cache'] = uncached[:, len(PROMPT[0]):].tolist()
        out[name] = case
    path = os.path.join(OUT, 'rope')
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    with open(os.path.join(path, 'reference.json'), 'w') as f:
        json.dump({'transformers': transformers.__version__, 'torch': torch.__version__, 'input_ids': INPUT_IDS,
                   'prompt': PROMPT, 'cases': out}, f, separators=(',', ':'))
        f.write('\n')


# Real checkpoints' config.json (test/fixtures/llama/configs/<name>.json, copied from public sources: see the
# test), shrunk: the same keys with tiny sizes (2 layers, head_dim 8, the same query/key-value head ratio,
# vocabulary 64, intermediate 48), so that every other key (rope, biases by model type, tied head, norm eps,
# sliding window) is the real one. Weights from a fixed formula both sides compute (deterministic_weights),
# so no weight file is committed.
SHRUNK_HEADS = {'SmolLM2-135M': (3, 1), 'Qwen2.5-0.5B': (7, 1), 'Mistral-7B-v0.1': (4, 1), 'Llama-3.2-1B': (4, 1),
                'TinyLlama-1.1B-Chat-v1.0': (8, 1)}


def shrink(config, heads, kv_heads):
    out = dict(config, num_hidden_layers=2, num_attention_heads=heads, num_key_value_heads=kv_heads,
               hidden_size=8 * heads, intermediate_size=48, vocab_size=64)
    if 'head_dim' in out:
        out['head_dim'] = 8
    return out


def name_seed(name):
    h = 0
    for c in name:
        h = (h * 31 + ord(c)) & 0xFFFFFFFF
    return h


def deterministic_weights(model):
    """Each parameter from a 32-bit LCG seeded by its name (uniform in [-0.5, 0.5), norms around 1):
    integer arithmetic, so finetune's test computes the same float32 values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            state = name_seed(name)
            values = []
            for _ in range(p.numel()):
                state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
                values.append(state / 2**32 - 0.5)
            t = torch.tensor(values, dtype=torch.float64).reshape(p.shape)
            p.copy_(t + 1 if name.endswith('norm.weight') else t)


def real_configs():
    folder = os.path.join(OUT, 'configs')
    classes = {'llama': LlamaForCausalLM, 'qwen2': Qwen2ForCausalLM, 'mistral': MistralForCausalLM}
    out = {}
    for name, (heads, kv_heads) in SHRUNK_HEADS.items():
        with open(os.path.join(folder, f'{name}.json')) as f:
            shrunk = shrink(json.load(f), heads, kv_heads)
        config = transformers.AutoConfig.for_model(**shrunk)
        model = classes[shrunk['model_type']](config).eval()
        deterministic_weights(model)
        model.generation_config.eos_token_id = None
        with torch.no_grad():
            out[name] = {'config': shrunk, 'logits': flat(model(input_ids=torch.tensor(INPUT_IDS[:1])).logits, digits=6),
                         'generate': model.generate(torch.tensor(PROMPT), max_new_tokens=NEW_TOKENS, do_sample=False,
                                                    pad_token_id=0)[:, len(PROMPT[0]):].tolist()}
    with open(os.path.join(folder, 'reference.json'), 'w') as f:
        json.dump({'transformers': transformers.__version__, 'torch': torch.__version__, 'input_ids': INPUT_IDS[:1],
                   'prompt': PROMPT, 'shrunk': out}, f, separators=(',', ':'))
        f.write('\n')


def lora(base):
    torch.manual_seed(5)
    config = LoraConfig(task_type='CAUSAL_LM', r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj'],
                        init_lora_weights=False)
    model = get_peft_model(base, config).eval()
    path = os.path.join(OUT, 'lora')
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    os.chmod(os.path.join(path, 'adapter_model.safetensors'), 0o644)
    os.remove(os.path.join(path, 'README.md'))  # PEFT's model card: not read
    with torch.no_grad():
        reference = {'peft': peft.__version__, 'input_ids': INPUT_IDS,
                     'logits': flat(model(input_ids=torch.tensor(INPUT_IDS)).logits)}
        with model.disable_adapter():
            reference['logits_disabled'] = flat(model(input_ids=torch.tensor(INPUT_IDS)).logits)
    with open(os.path.join(path, 'reference.json'), 'w') as f:
        json.dump(reference, f, separators=(',', ':'))
        f.write('\n')


if __name__ == '__main__':
    base = llama()
    llama_tied()
    qwen2_base = qwen2()
    rope({'llama': base, 'qwen2': qwen2_base})
    real_configs()
    mistral()
    seqcls()
    lora(base)
    for name in sorted(n for n in os.listdir(OUT) if n != 'configs'):
        for file in sorted(os.listdir(os.path.join(OUT, name))):
            print(f'{name}/{file}: {os.path.getsize(os.path.join(OUT, name, file))} bytes')
