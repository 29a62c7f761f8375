"""Writes test/fixtures/tokenizer/bert-base-uncased.json: what transformers' AutoTokenizer (the
Rust-backed BertTokenizer of transformers 5, tokenizers 0.23) gives for the tokenizer shipped in
data/bert-base-uncased/ — the ids of every SST-2 dev sentence (data/sst2/dev.tsv, with special
tokens), sentence pairs with their token type ids, truncation at max_length 16 with every strategy
and side (and the cases that fail), awkward strings (accents, CJK, control characters, a word
longer than 100 characters, special tokens inside text), decode with and without special tokens,
and batches padded by DataCollatorWithPadding. test/data-text.test.ts checks that finetune's
Tokenizer and collate give the same, row by row.

Run with the Python reference stack (never needed by the tests):
    eval "$(bash tools/setup-pyref.sh)"; python3 tools/gen_tokenizer_fixtures.py
"""
import json
import os

import tokenizers
import transformers
from transformers import AutoTokenizer, DataCollatorWithPadding

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..')
TOKENIZER_DIR = os.path.join(ROOT, 'data', 'bert-base-uncased')
DEV = os.path.join(ROOT, 'data', 'sst2', 'dev.tsv')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'bert-base-uncased.json')


def read_tsv(path):
    """GLUE-style TSV: a header row, tab-separated fields, no quoting."""
    with open(path, encoding='utf-8', newline='') as f:
        lines = [line.rstrip('\r\n') for line in f]
    header = lines[0].split('\t')
    return header, [dict(zip(header, line.split('\t'))) for line in lines[1:] if line]


def main():
    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    raw = tokenizers.Tokenizer.from_file(os.path.join(TOKENIZER_DIR, 'tokenizer.json'))
    header, rows = read_tsv(DEV)
    assert header == ['label', 'content'], header
    sentences = [row['content'] for row in rows]
    assert len(sentences) == 872, len(sentences)

    dev_ids = tok(sentences)['input_ids']
    # The tokenizer.json alone (as finetune uses it) agrees with AutoTokenizer's rebuilt pipeline.
    assert [e.ids for e in raw.encode_batch(sentences)] == dev_ids

    # Sentence pairs: consecutive dev sentences (as an NLI / paraphrase task would pair them).
    pairs = [[sentences[2 * i], sentences[2 * i + 1]] for i in range(20)]
    pair_enc = tok([a for a, _ in pairs], [b for _, b in pairs])
    pair_cases = [{'text': a, 'pair': b, 'ids': ids, 'typeIds': types}
                  for (a, b), ids, types in zip(pairs, pair_enc['input_ids'], pair_enc['token_type_ids'])]

    # Awkward single strings: normalisation (accents, CJK, control characters, odd whitespace),
    # the 100-character word limit, special tokens written inside the text, empty input.
    awkward = [
        '', '   ', 'Café naïve résumé Ångström', 'ÉCOLE über Straße', '東京は日本の首都です', '中文 mixed with English',
        'emoji 😀 and ☃ snowman', 'tabs\tand\nnewlines\r\nand  double  spaces', 'control\u0000chars\u0007here\u200b',
        'a' * 101, 'x' * 100, 'hello [MASK] world [SEP] again', '[cls] lower-case special', '[CLS][SEP]',
        "don't won't it's o'neill", 'e-mail: someone@example.com, url https://x.y/z?q=1', '3.14159 1,000,000 $5 10%',
        'UPPER lower MiXeD', '...!?;:--', 'ﬁne ligature ２ fullwidth',
    ]
    awkward_cases = [{'text': t, 'ids': ids} for t, ids in zip(awkward, tok(awkward)['input_ids'])]

    # Truncation at max_length 16 (special tokens included): each strategy and side, single and pair.
    long_a = sentences[1]   # 35+ tokens
    long_b = sentences[3]
    short = 'a fine film .'
    trunc_inputs = [
        (long_a, None), (short, None), (long_a, long_b), (long_a, short), (short, long_b), (short, short),
        (sentences[5], sentences[7]),
    ]
    truncation_cases = []
    for side in ['right', 'left']:
        tok.truncation_side = side
        for strategy in ['longest_first', 'only_first', 'only_second']:
            for text, pair in trunc_inputs:
                case = {'text': text, 'pair': pair, 'strategy': strategy, 'side': side, 'maxLength': 16}
                try:
                    enc = tok(text, pair, truncation=strategy, max_length=16)
                    case['ids'] = enc['input_ids']
                    case['typeIds'] = enc['token_type_ids']
                except Exception as error:  # the Rust tokenizer refuses, e.g. only_second without a pair
                    case['error'] = str(error)
                truncation_cases.append(case)
    tok.truncation_side = 'right'

    # Without special tokens.
    plain = [{'text': s, 'ids': ids} for s, ids in
             zip(sentences[:10], tok(sentences[:10], add_special_tokens=False)['input_ids'])]

    # Decoding.
    decode_texts = sentences[:10] + ["hello , world ! it 's [MASK] ok", 'Café naïve', "don't won't"]
    decode_cases = []
    for text in decode_texts:
        ids = tok(text)['input_ids']
        decode_cases.append({'ids': ids, 'text': tok.decode(ids), 'skipSpecial': tok.decode(ids, skip_special_tokens=True)})

    # DataCollatorWithPadding on the first 5 dev rows, as a trainer would batch them.
    features = [{'input_ids': ids, 'token_type_ids': [0] * len(ids), 'attention_mask': [1] * len(ids),
                 'label': int(rows[i]['label'])} for i, ids in enumerate(dev_ids[:5])]
    collate_cases = []
    for multiple in [None, 8]:
        batch = DataCollatorWithPadding(tok, pad_to_multiple_of=multiple)([dict(f) for f in features])
        collate_cases.append({'padToMultipleOf': multiple,
                              **{key: {'dtype': str(value.dtype).replace('torch.', ''), 'shape': list(value.shape),
                                       'values': value.tolist()} for key, value in batch.items()}})

    special = {name: getattr(tok, f'{name}_token_id') for name in ['pad', 'cls', 'sep', 'unk', 'mask']}
    fixture = {
        'transformers': transformers.__version__, 'tokenizers': tokenizers.__version__,
        'tokenizer': 'data/bert-base-uncased', 'tokenizerClass': type(tok).__name__,
        'special': special, 'vocabSize': len(tok), 'paddingSide': tok.padding_side,
        'sst2Dev': {'file': 'data/sst2/dev.tsv', 'column': 'content', 'ids': dev_ids},
        'pairs': pair_cases, 'awkward': awkward_cases, 'truncation': truncation_cases,
        'noSpecialTokens': plain, 'decode': decode_cases, 'collate': collate_cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(fixture, f, separators=(',', ':'), ensure_ascii=False)
        f.write('\n')
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes): {len(dev_ids)} dev rows, {len(pair_cases)} pairs, '
          f'{len(awkward_cases)} awkward strings, {len(truncation_cases)} truncation cases '
          f'({sum("error" in c for c in truncation_cases)} errors)')


if __name__ == '__main__':
    main()
