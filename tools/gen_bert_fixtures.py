"""Writes test/fixtures/bert/{seqcls,mlm}/: tiny random-weight BERT checkpoints saved by
transformers' save_pretrained (config.json + model.safetensors) and reference.json, the outputs
transformers computes for fixed inputs: logits (with padding and token types, and with neither),
losses with labels, and gradients of the loss.

Run from tools/ with the Python reference stack (never needed by the tests):
    eval "$(bash tools/setup-pyref.sh)"; cd tools && python3 gen_bert_fixtures.py

Float values are the shortest decimal that rounds back to the same float32 at 7 significant
digits, which keeps the files small and is far inside the tests' 1e-4 tolerance.
"""
from pyref import torch  # first: the same torch wheel the addon links

import json
import os
import shutil

import transformers
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'bert')

# Tiny shapes: L2 H32 A4 I64, vocab 100, 32 positions.
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=32, type_vocab_size=2, pad_token_id=0)

# Batch of two; the second sequence has three padding positions (pad id 0, mask 0).
INPUT_IDS = [[2, 45, 17, 83, 9, 61, 30, 3], [2, 12, 99, 5, 3, 0, 0, 0]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]]
TOKEN_TYPE_IDS = [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0, 0, 0]]


def flat(t):
    values = t.detach().reshape(-1).tolist()
    return {'shape': list(t.shape), 'values': [float(f'{v:.7g}') for v in values]}


def inputs():
    return dict(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(ATTENTION_MASK),
                token_type_ids=torch.tensor(TOKEN_TYPE_IDS))


def grads(model, names):
    params = dict(model.named_parameters())
    return {name: flat(params[name].grad) for name in names}


def save(model, name, reference):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    os.chmod(os.path.join(path, 'model.safetensors'), 0o644)  # safetensors writes 0600
    reference = {'transformers': transformers.__version__, 'torch': torch.__version__,
                 'input_ids': INPUT_IDS, 'attention_mask': ATTENTION_MASK, 'token_type_ids': TOKEN_TYPE_IDS,
                 **reference}
    with open(os.path.join(path, 'reference.json'), 'w') as f:
        json.dump(reference, f, separators=(',', ':'))
        f.write('\n')


# Gradients deeper in the tiny random network are ~1e-6, below the tests' tolerance: the word
# embeddings (the first layer; in the MLM also the tied decoder) and the heads are compared.
GRAD_KEYS = ['bert.embeddings.word_embeddings.weight']


def seqcls():
    torch.manual_seed(0)
    config = BertConfig(**TINY, num_labels=3, id2label={0: 'negative', 1: 'neutral', 2: 'positive'},
                        label2id={'negative': 0, 'neutral': 1, 'positive': 2})
    model = BertForSequenceClassification(config).eval()
    labels = torch.tensor([2, 0])
    out = model(**inputs(), labels=labels)
    out.loss.backward()
    reference = {
        'labels': labels.tolist(),
        'logits': flat(out.logits),
        'loss': out.loss.item(),
        'grads': grads(model, GRAD_KEYS + ['classifier.weight']),
    }
    # Defaults: no attention mask and no token types (the buffered zeros)
    with torch.no_grad():
        reference['logits_default'] = flat(model(input_ids=torch.tensor(INPUT_IDS)).logits)
        multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        model.config.problem_type = 'multi_label_classification'
        reference['multi_label'] = {'labels': multi.tolist(), 'loss': model(**inputs(), labels=multi).loss.item()}
        model.config.problem_type = None
    save(model, 'seqcls', reference)


def mlm():
    torch.manual_seed(1)
    model = BertForMaskedLM(BertConfig(**TINY)).eval()
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    # The head's bias starts at zero; give it values so the test sees it is loaded
    with torch.no_grad():
        model.cls.predictions.bias.normal_(0, 0.5)
    labels = torch.full((2, 8), -100)
    labels[0, 2] = 17
    labels[0, 5] = 61
    labels[1, 1] = 12
    labels[1, 3] = 5
    out = model(**inputs(), labels=labels)
    out.loss.backward()
    save(model, 'mlm', {
        'labels': labels.tolist(),
        'logits': flat(out.logits),
        'loss': out.loss.item(),
        'grads': grads(model, GRAD_KEYS + ['cls.predictions.bias']),
    })


if __name__ == '__main__':
    seqcls()
    mlm()
    for name in ('seqcls', 'mlm'):
        for file in sorted(os.listdir(os.path.join(OUT, name))):
            print(f'{name}/{file}: {os.path.getsize(os.path.join(OUT, name, file))} bytes')
