"""Reference fixtures from Hugging Face PEFT for finetune's PEFT reimplementation: test/fixtures/peft/.

What it writes (all from fixed seeds, PEFT 0.21 / transformers 5.x / torch 2.13 CPU):
  tiny-bert/{config.json,model.safetensors}   random BertForSequenceClassification (L2 H16 A2 I32, vocab 64,
                                              32 positions, 3 labels), transformers' save_pretrained
  tiny-conv/model.safetensors                 nn.Sequential(Conv2d(3,4,3,padding=1), ReLU(), Conv2d(4,2,1)):
                                              keys 0.weight 0.bias 2.weight 2.bias
  <case>/{adapter_config.json,adapter_model.safetensors}
                                              peft_model.save_pretrained() of each adapter case (README.md, the
                                              model card PEFT also writes, is deleted), every adapter parameter set
                                              to seeded random values so that the adapter visibly changes outputs
  cases.json                                  the fixed inputs and, per case: the base model's logits, the logits
                                              with the adapter active / disabled / merged (merge_and_unload) /
                                              merge_adapter()ed / unmerge_adapter()ed, the reloaded adapter's
                                              logits (PeftModel.from_pretrained), print_trainable_parameters()'s
                                              line, get_nb_trainable_parameters(), the targeted module names, per
                                              layer r / alpha / scaling, the trainable parameter names, the saved
                                              keys with shapes and dtypes, adapter_config.json as written; plus
                                              target-matching checks (config -> targeted names) and the printed
                                              lines for bert-base-uncased shapes (LoRA, IA3, DoRA).

Every model runs in eval mode. Logits are stored as {"shape", "values"} with values the exact float32
numbers (tensor.tolist(), no rounding).

Run from the repository root with the Python reference stack (the tests never need it):
    eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_peft_fixtures.py
"""
import os
import sys

if os.environ.get('PYTHONHASHSEED') != '0':
    # PEFT stores target_modules as a set and writes it to adapter_config.json as a list in set order, which
    # depends on str hashing: fix the hash seed so that the files come out the same on every run.
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, 'PYTHONHASHSEED': '0'})

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyref import torch  # noqa: E402  first: the same torch wheel the addon links

import contextlib  # noqa: E402
import copy  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402

import peft  # noqa: E402
import transformers  # noqa: E402
from peft import IA3Config, LoraConfig, PeftModel, PromptTuningConfig, get_peft_model  # noqa: E402
from peft.tuners.tuners_utils import BaseTunerLayer  # noqa: E402
from peft.utils import ModulesToSaveWrapper  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

torch.set_num_threads(1)
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
nn = torch.nn
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..'))
os.chdir(ROOT)  # paths below are relative to the repository root
OUT = os.path.join('test', 'fixtures', 'peft')
BERT_DIR = os.path.join(OUT, 'tiny-bert')
CONV_DIR = os.path.join(OUT, 'tiny-conv')

TINY_BERT = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=32, type_vocab_size=2, num_labels=3, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1,
                 # Wider than BERT's 0.02 so the random base gives logits of order 1 that depend on the input.
                 initializer_range=0.2)

# Batch of two; the second row is padded (id 0, mask 0) at its last two positions.
INPUT_IDS = [[2, 17, 33, 5, 60, 41, 3], [2, 9, 48, 27, 3, 0, 0]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]]
TOKEN_TYPE_IDS = [[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0, 0]]
PIXEL_SEED = 1234


def pixel_values():
    g = torch.Generator().manual_seed(PIXEL_SEED)
    return torch.randn(2, 3, 5, 5, generator=g)


def bert_inputs():
    return dict(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(ATTENTION_MASK),
                token_type_ids=torch.tensor(TOKEN_TYPE_IDS))


def flat(t):
    t = t.detach().to(torch.float32)
    return {'shape': list(t.shape), 'values': t.reshape(-1).tolist()}


def max_abs_diff(a, b):
    return float((a.detach() - b.detach()).abs().max())


# ---------------------------------------------------------------------------------------------------------------------
# Base models


def make_tiny_bert():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**TINY_BERT)).eval()
    # BERT's init leaves biases at 0 and LayerNorm weights at 1; give them values so that the bias handling of
    # the adapters (DoRA's bias-free base output, IA3 merging scaling the bias) shows in the outputs.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('.bias'):
                p.normal_(0, 0.1)
            elif 'LayerNorm.weight' in name:
                p.add_(torch.randn(p.shape) * 0.1)
    shutil.rmtree(BERT_DIR, ignore_errors=True)
    model.save_pretrained(BERT_DIR, safe_serialization=True)
    os.chmod(os.path.join(BERT_DIR, 'model.safetensors'), 0o644)  # safetensors writes 0600
    config = json.load(open(os.path.join(BERT_DIR, 'config.json')))
    assert config['model_type'] == 'bert' and config['architectures'] == ['BertForSequenceClassification'], config


def tiny_conv_module():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))


def make_tiny_conv():
    torch.manual_seed(1)
    model = tiny_conv_module()
    shutil.rmtree(CONV_DIR, ignore_errors=True)
    os.makedirs(CONV_DIR)
    path = os.path.join(CONV_DIR, 'model.safetensors')
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    os.chmod(path, 0o644)


def load_tiny_bert():
    model = BertForSequenceClassification.from_pretrained(BERT_DIR).eval()
    # adapter_config.json records this as base_model_name_or_path: the repository-relative path, not the machine's
    model.config._name_or_path = BERT_DIR
    model.name_or_path = BERT_DIR
    return model


def load_tiny_conv():
    from safetensors.torch import load_file
    model = tiny_conv_module()
    model.load_state_dict(load_file(os.path.join(CONV_DIR, 'model.safetensors')))
    return model.eval()


BASES = {
    'tiny-bert': (load_tiny_bert, lambda m: m(**bert_inputs()).logits),
    'tiny-conv': (load_tiny_conv, lambda m: m(pixel_values())),
}


# ---------------------------------------------------------------------------------------------------------------------
# Cases

def cases():
    return [
        ('lora_qv', 'tiny-bert', lambda: LoraConfig(task_type='SEQ_CLS', r=4, lora_alpha=8,
                                                    target_modules=['query', 'value'])),
        ('lora_options', 'tiny-bert', lambda: LoraConfig(
            task_type='SEQ_CLS', r=4, lora_alpha=16, use_rslora=True, bias='all',
            target_modules=['query', 'key', 'value', 'dense'], layers_to_transform=[1],
            rank_pattern={'value': 2}, alpha_pattern={'key': 4})),
        ('lora_regex_all_linear', 'tiny-bert', lambda: LoraConfig(task_type='SEQ_CLS', r=4, lora_alpha=8,
                                                                  target_modules='all-linear')),
        ('dora', 'tiny-bert', lambda: LoraConfig(task_type='SEQ_CLS', r=4, lora_alpha=8, use_dora=True,
                                                 target_modules=['query', 'value'])),
        ('lora_embedding', 'tiny-bert', lambda: LoraConfig(task_type='SEQ_CLS', r=4, lora_alpha=8,
                                                           target_modules=['word_embeddings', 'query'])),
        ('lora_conv', 'tiny-conv', lambda: LoraConfig(r=2, lora_alpha=4, target_modules=['0', '2'])),
        ('ia3', 'tiny-bert', lambda: IA3Config(task_type='SEQ_CLS')),
        ('ia3_custom', 'tiny-bert', lambda: IA3Config(task_type='SEQ_CLS', target_modules=['key', 'value', 'output.dense'],
                                                      feedforward_modules=['output.dense'])),
        ('prompt_tuning', 'tiny-bert', lambda: PromptTuningConfig(task_type='SEQ_CLS', num_virtual_tokens=4,
                                                                  prompt_tuning_init='RANDOM')),
        ('dora_conv', 'tiny-conv', lambda: LoraConfig(r=2, lora_alpha=4, use_dora=True, target_modules=['0', '2'])),
    ]


# Config-only checks of PEFT's target matching on tiny-bert: which modules each config wraps.
TARGET_CHECKS = [
    ('regex attention.self query|key', lambda: LoraConfig(task_type='SEQ_CLS', target_modules='.*attention\\.self\\.(query|key)')),
    ('regex full-match only (no suffix match)', lambda: LoraConfig(task_type='SEQ_CLS', target_modules='query')),
    ('list suffix dense', lambda: LoraConfig(task_type='SEQ_CLS', target_modules=['dense'])),
    ('list suffix output.dense', lambda: LoraConfig(task_type='SEQ_CLS', target_modules=['output.dense'])),
    ('list layers_to_transform [0]', lambda: LoraConfig(task_type='SEQ_CLS', target_modules=['query', 'value'],
                                                        layers_to_transform=[0])),
    ('list layers_to_transform 1 layers_pattern layer', lambda: LoraConfig(
        task_type='SEQ_CLS', target_modules=['query'], layers_to_transform=1, layers_pattern='layer')),
    ('all-linear exclude_modules [key]', lambda: LoraConfig(task_type='SEQ_CLS', target_modules='all-linear',
                                                            exclude_modules=['key'])),
    ('all-linear no task_type', lambda: LoraConfig(target_modules='all-linear')),
    ('ia3 regex', lambda: IA3Config(task_type='SEQ_CLS', target_modules='.*\\.(key|value|intermediate\\.dense)',
                                    feedforward_modules='.*intermediate\\.dense')),
]


def randomize(peft_model, seed):
    """Every trainable parameter (what save_pretrained stores) gets seeded values of moderate size."""
    g = torch.Generator().manual_seed(seed)
    changed = []
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if not p.requires_grad:
                continue
            noise = torch.randn(p.shape, generator=g)
            if 'lora_magnitude_vector' in name:
                p.copy_(p * (1 + 0.1 * noise))
            elif 'ia3_l' in name:
                p.copy_(1 + 0.2 * noise)
            elif 'lora_' in name or 'prompt_encoder' in name or 'modules_to_save' in name:
                p.copy_(0.3 * noise)
            elif name.endswith('bias'):  # bias='all' / 'lora_only': base biases become trainable and are saved
                p.add_(0.1 * noise)
            else:
                raise AssertionError(f'unexpected trainable parameter {name}')
            changed.append(name)
    return changed


def capture(fn):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn()
    return out.getvalue()


def layer_info(peft_model):
    """Per wrapped module (names relative to the base model): class and per-adapter hyperparameters."""
    layers = {}
    for name, module in peft_model.get_base_model().named_modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        info = {'class': type(module).__module__.split('.')[-2] + '.' + type(module).__name__,
                'base_layer': type(module.get_base_layer()).__name__}
        for attr in ('r', 'lora_alpha', 'scaling', 'use_dora', 'use_rslora', 'lora_bias', 'is_feedforward'):
            value = getattr(module, attr, None)
            if isinstance(value, dict):
                value = value.get('default')
            if value is not None:
                info[attr] = value
        layers[name] = info
    return layers


def saved_keys(path):
    with safe_open(path, 'pt') as f:
        metadata = f.metadata()
        keys = {}
        for k in f.keys():
            t = f.get_tensor(k)
            keys[k] = {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', '')}
    return keys, metadata


def record_warnings(caught):
    return [f'{w.category.__name__}: {w.message}' for w in caught]


def run_case(name, base_name, make_config, seed):
    load, call = BASES[base_name]
    torch.manual_seed(seed)
    base = load()
    with torch.no_grad():
        base_logits = call(base)
    config = make_config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        peft_model = get_peft_model(base, config)
    peft_model.eval()
    randomized = randomize(peft_model, seed + 1)

    printed = capture(peft_model.print_trainable_parameters).strip()
    trainable, total = peft_model.get_nb_trainable_parameters()
    base_model = peft_model.get_base_model()
    targeted = [n for n, m in base_model.named_modules() if isinstance(m, BaseTunerLayer)]
    wrapped = [n for n, m in base_model.named_modules() if isinstance(m, ModulesToSaveWrapper)]

    with torch.no_grad():
        active = call(peft_model)
        disabled_how = 'with peft_model.disable_adapter()'
        try:
            with peft_model.disable_adapter():
                disabled = call(peft_model)
        except Exception as e:  # noqa: BLE001
            # PEFT 0.21 + transformers 5: for prompt learning, disable_adapter() reads
            # self.prepare_inputs_for_generation, which BertForSequenceClassification no longer has, and raises.
            # What it means to do is to swap PeftModel.forward for base_model.forward; do that directly.
            disabled_how = f'peft_model.base_model(...) since disable_adapter() raised {type(e).__name__}: {e}'
            disabled = call(peft_model.base_model)

    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    with warnings.catch_warnings(record=True) as caught_save:
        warnings.simplefilter('always')
        peft_model.save_pretrained(path)
    for extra in os.listdir(path):
        if extra not in ('adapter_config.json', 'adapter_model.safetensors'):
            os.remove(os.path.join(path, extra))  # README.md (model card)
    os.chmod(os.path.join(path, 'adapter_model.safetensors'), 0o644)
    with open(os.path.join(path, 'adapter_config.json')) as f:
        adapter_config = json.load(f)
    keys, metadata = saved_keys(os.path.join(path, 'adapter_model.safetensors'))

    # The saved adapter reloads onto a fresh base to the same outputs
    with warnings.catch_warnings(record=True) as caught_load:
        warnings.simplefilter('always')
        reloaded = PeftModel.from_pretrained(load(), path).eval()
    with torch.no_grad():
        reloaded_logits = call(reloaded)

    result = {
        'base': base_name,
        'peft_type': adapter_config['peft_type'],
        'task_type': adapter_config.get('task_type'),
        'logits': {'base': flat(base_logits), 'active': flat(active), 'disabled': flat(disabled),
                   'reloaded': flat(reloaded_logits)},
        'disabled_how': disabled_how,
        'print_trainable_parameters': printed,
        'nb_trainable_parameters': {'trainable': trainable, 'all': total},
        'targeted_modules': targeted,
        'modules_to_save_wrappers': wrapped,
        'peft_targeted_module_names': sorted(getattr(peft_model.base_model, 'targeted_module_names', []) or []),
        'layers': layer_info(peft_model),
        'trainable_parameters': randomized,
        'saved_keys': keys,
        'saved_metadata': metadata,
        'adapter_config': adapter_config,
        'warnings': record_warnings(caught) + record_warnings(caught_save),
        'load_warnings': record_warnings(caught_load),
        'checks': {'reloaded_vs_active': max_abs_diff(reloaded_logits, active),
                   'disabled_vs_base': max_abs_diff(disabled, base_logits),
                   'active_vs_base': max_abs_diff(active, base_logits)},
    }
    if config.is_prompt_learning:
        # What PeftModelForSequenceClassification.forward does for prompt tuning, spelled out: the prompt rows go in
        # front of the word embeddings, the attention mask gets ones and the token types zeros in front, and the
        # position ids are not passed (so BERT numbers the positions 0..P+L-1, the prompt taking 0..P-1).
        with torch.no_grad():
            inputs = bert_inputs()
            n = config.num_virtual_tokens
            words = peft_model.word_embeddings(inputs['input_ids'])
            prompt = peft_model.prompt_encoder['default'].embedding.weight.unsqueeze(0).expand(words.shape[0], -1, -1)
            manual = peft_model.base_model(
                inputs_embeds=torch.cat([prompt, words], 1),
                attention_mask=torch.cat([torch.ones(words.shape[0], n, dtype=torch.long), inputs['attention_mask']], 1),
                token_type_ids=torch.cat([torch.zeros(words.shape[0], n, dtype=torch.long), inputs['token_type_ids']], 1),
            ).logits
        result['checks']['manual_prompt_forward_vs_active'] = max_abs_diff(manual, active)
        assert result['checks']['manual_prompt_forward_vs_active'] < 1e-6, result['checks']
    assert result['checks']['reloaded_vs_active'] < 1e-6, (name, result['checks'])
    assert result['checks']['active_vs_base'] > 1e-2, (name, result['checks'])

    if not config.is_prompt_learning:
        with torch.no_grad(), warnings.catch_warnings(record=True) as caught_merge:
            warnings.simplefilter('always')
            merged_model = copy.deepcopy(peft_model).merge_and_unload().eval()
            merged = call(merged_model)
            merged_keys = sorted(merged_model.state_dict().keys())
            peft_model.merge_adapter()
            merge_adapter = call(peft_model)
            peft_model.unmerge_adapter()
            unmerged = call(peft_model)
            with peft_model.disable_adapter():
                unmerged_disabled = call(peft_model)
        result['logits'].update({'merged': flat(merged), 'merge_adapter': flat(merge_adapter),
                                 'unmerge_adapter': flat(unmerged), 'unmerge_adapter_disabled': flat(unmerged_disabled)})
        result['merged_state_dict_keys_equal_base'] = merged_keys == sorted(load().state_dict().keys())
        result['warnings'] += record_warnings(caught_merge)
        result['checks'].update({'merged_vs_active': max_abs_diff(merged, active),
                                 'merge_adapter_vs_active': max_abs_diff(merge_adapter, active),
                                 'unmerge_adapter_vs_active': max_abs_diff(unmerged, active)})
        assert result['checks']['merged_vs_active'] < 1e-4, (name, result['checks'])
    return result


def run_target_check(label, make_config):
    config = make_config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            peft_model = get_peft_model(load_tiny_bert(), config)
        except Exception as e:  # noqa: BLE001  the error is the reference
            return {'label': label, 'error': f'{type(e).__name__}: {e}'}
    base_model = peft_model.get_base_model()
    saved = peft_model.peft_config['default'].to_dict()
    return {
        'label': label,
        'config': {k: (sorted(v) if isinstance(v, set) else v) for k, v in saved.items()
                   if k in ('peft_type', 'task_type', 'target_modules', 'exclude_modules', 'feedforward_modules',
                            'layers_to_transform', 'layers_pattern', 'modules_to_save')},
        'targeted_modules': [n for n, m in base_model.named_modules() if isinstance(m, BaseTunerLayer)],
        'feedforward_modules': [n for n, m in base_model.named_modules()
                                if isinstance(m, BaseTunerLayer) and getattr(m, 'is_feedforward', False)],
        'modules_to_save_wrappers': [n for n, m in base_model.named_modules() if isinstance(m, ModulesToSaveWrapper)],
        'warnings': record_warnings(caught),
    }


def bert_base_lines():
    lines = {}
    for key, make_config in (
        ('lora', lambda: LoraConfig(task_type='SEQ_CLS', r=8, lora_alpha=32, target_modules=['query', 'value'])),
        ('ia3', lambda: IA3Config(task_type='SEQ_CLS')),
        ('dora', lambda: LoraConfig(task_type='SEQ_CLS', r=8, lora_alpha=32, use_dora=True,
                                    target_modules=['query', 'value'])),
    ):
        torch.manual_seed(0)
        model = get_peft_model(BertForSequenceClassification(BertConfig()), make_config())
        trainable, total = model.get_nb_trainable_parameters()
        lines[key] = {'line': capture(model.print_trainable_parameters).strip(),
                      'trainable': trainable, 'all': total}
        del model
    return lines


def main():
    os.makedirs(OUT, exist_ok=True)
    make_tiny_bert()
    make_tiny_conv()
    results = {}
    for i, (name, base_name, make_config) in enumerate(cases()):
        results[name] = run_case(name, base_name, make_config, seed=100 * (i + 1))
    checks = [run_target_check(label, make) for label, make in TARGET_CHECKS]
    bert_base = bert_base_lines()
    expected = 'trainable params: 296,450 || all params: 109,780,228 || trainable%: 0.2700'
    assert bert_base['lora']['line'] == expected, bert_base['lora']['line']
    document = {
        'about': ('Reference outputs of Hugging Face PEFT, written by tools/gen_peft_fixtures.py. Logits are '
                  '{shape, values} (flat, row-major, exact float32) for "inputs", eval mode. Per case: logits.base '
                  '(the base model before get_peft_model), .active, .disabled (see disabled_how), .reloaded '
                  '(PeftModel.from_pretrained of the saved folder on a fresh base), and for LoRA/IA3 .merged '
                  '(merge_and_unload on a copy), .merge_adapter (after merge_adapter()), .unmerge_adapter (after '
                  'unmerge_adapter()), .unmerge_adapter_disabled; module names are relative to the base model; '
                  'trainable_parameters are PeftModel parameter names (with the adapter name); saved_keys are the '
                  'keys of <case>/adapter_model.safetensors.'),
        'versions': {'peft': peft.__version__, 'transformers': transformers.__version__, 'torch': torch.__version__},
        'inputs': {'input_ids': INPUT_IDS, 'attention_mask': ATTENTION_MASK, 'token_type_ids': TOKEN_TYPE_IDS,
                   'pixel_values': flat(pixel_values())},
        'bases': {'tiny-bert': 'tiny-bert (BertForSequenceClassification, inputs input_ids/attention_mask/token_type_ids)',
                  'tiny-conv': 'tiny-conv (Sequential Conv2d-ReLU-Conv2d, input pixel_values)'},
        'cases': results,
        'target_checks': checks,
        'bert_base_print_line': bert_base['lora']['line'],
        'bert_base_print_lines': bert_base,
    }
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump(document, f, indent=1)
        f.write('\n')
    for root, _, files in sorted(os.walk(OUT)):
        for file in sorted(files):
            full = os.path.join(root, file)
            print(f'{os.path.relpath(full, OUT)}: {os.path.getsize(full)} bytes')


if __name__ == '__main__':
    main()
