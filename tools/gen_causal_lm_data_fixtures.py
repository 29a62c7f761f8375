"""Writes test/fixtures/causal-lm/: two small byte-level BPE tokenizers trained here with Python
`tokenizers` on the SST-2 sentences the project ships (data/sst2/), laid out as the Hub repos of
their families lay them out, and what transformers gives for them — read by
test/data-causal-lm.test.ts, which checks that finetune's Tokenizer and causal-LM datasets give the
same.

- gpt2-style/: GPT-2's pipeline (ByteLevel pre-tokenizer with GPT-2's regex, ByteLevel decoder and
  post-processor), one special token `<|endoftext|>` (bos = eos = unk, no pad) named in
  special_tokens_map.json, as the `gpt2` repo has it.
- llama3-style/: Llama 3's pipeline (Split on Llama 3's regex, then ByteLevel without regex;
  `ignore_merges`; a TemplateProcessing post-processor that puts `<|begin_of_text|>` first), the
  Llama 3 Instruct special tokens, eos `<|eot_id|>`, no pad, and a chat template in
  tokenizer_config.json.
- expected.json: AutoTokenizer's ids for awkward texts (unicode, emoji, spaces, newlines, special
  tokens written in text), decode with and without special tokens, the special tokens AutoTokenizer
  resolves, `add_bos_token` / `add_eos_token` given in the config, and the causal-LM datasets made
  from sample.txt / sample.jsonl / pairs.jsonl / chat.jsonl exactly as the TypeScript documents them:
  * .txt by line: datasets' `text` loader (universal newlines, `str.splitlines(keepends=True)`, as
    run_clm.py with keep_linebreaks), each line tokenised with the tokenizer's special tokens, no EOS
    added, then run_clm.py's group_texts (concatenate, cut into blocks, drop the remainder);
  * .txt by paragraph (datasets' sample_by='paragraph': split at '\\n\\n') and JSONL texts: the same
    with EOS appended to each text;
  * prompt/response pairs: prompt tokens with special tokens, response tokens without, then EOS;
    labels -100 on the prompt; unpacked, cut at the block size (a prompt of a whole block or more
    leaves no response token: that row is left out, with onBadRow 'skip');
  * chat: transformers' apply_chat_template (jinja2) renders the conversation and its prefixes, the
    rendered text is tokenised without special tokens, and labels keep the assistant turns only.

Run with the Python reference stack (never needed by the tests):
    eval "$(bash tools/setup-pyref.sh)"; python3 tools/gen_causal_lm_data_fixtures.py
"""
import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'causal-lm')
VOCAB_SIZE = 700
BLOCK_SIZE = 32
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIAL = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>']
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

AWKWARD = [
    '', ' ', 'Hello world', ' leading space', 'trailing space ', 'two  spaces   three', '\ttab\tseparated',
    'line one\nline two', 'para one\n\npara two', 'windows\r\nline', '\n\n\n', "don't I'LL we've they'RE",
    'numbers 1234567 and 3.14159', 'Café naïve résumé Ångström', 'combining e\u0301 and n\u0303',
    '東京は日本の首都です', '中文 mixed with English', 'emoji 😀 and ☃ snowman', 'family 👨‍👩‍👧‍👦 flag 🇫🇷',
    'Zero\u200bwidth and\u00a0nbsp', 'end of text <|endoftext|> in text', '<|begin_of_text|>written bos',
    'a' * 120, 'x = {"k": [1, 2]};  // code?!', "it 's a film with  ... what ?",
]


def sst2_sentences():
    texts = []
    for name in ['dev.tsv', 'train-200.tsv']:
        with open(os.path.join(ROOT, 'data', 'sst2', name), encoding='utf-8') as f:
            rows = [line.rstrip('\r\n').split('\t') for line in f][1:]
        texts += [row[-1] if name == 'train-200.tsv' else row[1] for row in rows if len(row) == 2]
    return texts


def train(tok, texts, special_tokens):
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=special_tokens, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)


def write_json(path, value, indent=None):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(value, f, ensure_ascii=False, indent=indent)
        f.write('\n')


def make_gpt2(texts):
    folder = os.path.join(OUT, 'gpt2-style')
    os.makedirs(folder, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    train(tok, texts, ['<|endoftext|>'])
    tok.save(os.path.join(folder, 'tokenizer.json'))
    write_json(os.path.join(folder, 'tokenizer_config.json'),
               {'model_max_length': 1024, 'tokenizer_class': 'GPT2Tokenizer', 'add_prefix_space': False}, 2)
    write_json(os.path.join(folder, 'special_tokens_map.json'),
               {'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>', 'unk_token': '<|endoftext|>'}, 2)
    return folder


def make_llama3(texts):
    folder = os.path.join(OUT, 'llama3-style')
    os.makedirs(folder, exist_ok=True)
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    train(tok, texts, [])
    tok.add_special_tokens(LLAMA3_SPECIAL)  # after the vocabulary, as Llama 3's 128000…
    bos_id = tok.token_to_id('<|begin_of_text|>')
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single='<|begin_of_text|> $A', pair='<|begin_of_text|> $A <|begin_of_text|>:1 $B:1',
                                      special_tokens=[('<|begin_of_text|>', bos_id)]),
    ])
    tok.save(os.path.join(folder, 'tokenizer.json'))
    write_json(os.path.join(folder, 'tokenizer_config.json'), {
        'bos_token': '<|begin_of_text|>', 'eos_token': '<|eot_id|>', 'model_max_length': 131072,
        'clean_up_tokenization_spaces': True, 'tokenizer_class': 'PreTrainedTokenizerFast',
        'chat_template': LLAMA3_CHAT_TEMPLATE,
    }, 2)
    return folder


def text_lines(path):
    """datasets' `text` loader, sample_by='line', keep_linebreaks=True (run_clm.py's default)."""
    with open(path, encoding='utf-8') as f:  # universal newlines, as datasets opens it
        return f.read().splitlines(keepends=True)


def text_paragraphs(path):
    """datasets' `text` loader, sample_by='paragraph'."""
    with open(path, encoding='utf-8') as f:
        return f.read().split('\n\n')


def group_texts(ids, labels, block_size):
    """run_clm.py's group_texts: concatenate, drop the remainder, cut into blocks."""
    total = (len(ids) // block_size) * block_size
    return {'inputIds': [ids[i:i + block_size] for i in range(0, total, block_size)],
            'labels': [labels[i:i + block_size] for i in range(0, total, block_size)], 'dropped': len(ids) - total}


def pack(tok, texts, add_eos, block_size):
    ids = []
    for text_ids in tok(texts)['input_ids']:
        ids += text_ids + ([tok.eos_token_id] if add_eos and text_ids[-1:] != [tok.eos_token_id] else [])
    return group_texts(ids, ids, block_size)


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def prompt_response(tok, rows, max_length):
    """Pairs cut to max_length; a pair whose prompt leaves no response token is left out (its 1-based line listed)."""
    out, skipped, truncated = [], [], 0
    for line, row in enumerate(rows, 1):
        prompt = tok(row['prompt'])['input_ids']
        response = tok(row['response'], add_special_tokens=False)['input_ids'] + [tok.eos_token_id]
        if len(prompt) >= max_length:
            skipped.append(line)
            continue
        truncated += len(prompt + response) > max_length
        ids = (prompt + response)[:max_length]
        out.append({'inputIds': ids, 'labels': ([-100] * len(prompt) + response)[:max_length]})
    return {'examples': out, 'skippedLines': skipped, 'truncated': truncated}


def chat(tok, conversations, max_length):
    """Loss on the assistant turns: each turn is the text its conversation adds over the prefix rendered with a generation prompt."""
    out = []
    for messages in conversations:
        whole = tok.apply_chat_template(messages, tokenize=False)
        pieces, at = [], 0
        for i, message in enumerate(messages):
            if message['role'] != 'assistant':
                continue
            before = tok.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
            through = tok.apply_chat_template(messages[:i + 1], tokenize=False)
            assert whole.startswith(through) and through.startswith(before)
            pieces += [(whole[at:len(before)], False), (through[len(before):], True)]
            at = len(through)
        pieces.append((whole[at:], False))
        ids, labels = [], []
        for text, trained in pieces:
            piece = tok(text, add_special_tokens=False)['input_ids'] if text else []
            ids += piece
            labels += piece if trained else [-100] * len(piece)
        out.append({'text': whole, 'inputIds': ids[:max_length], 'labels': labels[:max_length]})
    return out


def tokenizer_cases(folder):
    tok = AutoTokenizer.from_pretrained(folder)
    raw = Tokenizer.from_file(os.path.join(folder, 'tokenizer.json'))
    ids = tok(AWKWARD)['input_ids']
    # The tokenizer.json alone (as finetune uses it) agrees with AutoTokenizer.
    assert [e.ids for e in raw.encode_batch(AWKWARD)] == ids, folder
    with_bos = AutoTokenizer.from_pretrained(folder, add_bos_token=True, add_eos_token=True)
    no_bos = AutoTokenizer.from_pretrained(folder, add_bos_token=False)
    specials = {role: {'token': getattr(tok, f'{role}_token'), 'id': getattr(tok, f'{role}_token_id')}
                for role in ['bos', 'eos', 'unk', 'pad']}
    return tok, {
        'specialTokens': specials,
        'vocabSize': len(tok),
        'awkward': [{'text': t, 'ids': i, 'noSpecial': tok(t, add_special_tokens=False)['input_ids'],
                     'decoded': tok.decode(i), 'decodedSkip': tok.decode(i, skip_special_tokens=True)}
                    for t, i in zip(AWKWARD, ids)],
        'addBosEos': [{'text': t, 'ids': i} for t, i in zip(AWKWARD[:6], with_bos(AWKWARD[:6])['input_ids'])],
        'noBos': [{'text': t, 'ids': i} for t, i in zip(AWKWARD[:6], no_bos(AWKWARD[:6])['input_ids'])],
    }


def main():
    texts = sst2_sentences()
    gpt2_dir = make_gpt2(texts)
    llama_dir = make_llama3(texts)
    sample_txt = os.path.join(OUT, 'sample.txt')
    sample_jsonl = os.path.join(OUT, 'sample.jsonl')
    pairs_jsonl = os.path.join(OUT, 'pairs.jsonl')
    chat_jsonl = os.path.join(OUT, 'chat.jsonl')
    expected = {'blockSize': BLOCK_SIZE}
    for name, folder in [('gpt2', gpt2_dir), ('llama3', llama_dir)]:
        tok, cases = tokenizer_cases(folder)
        cases['textByLine'] = pack(tok, text_lines(sample_txt), False, BLOCK_SIZE)
        cases['textByParagraph'] = pack(tok, text_paragraphs(sample_txt), True, BLOCK_SIZE)
        cases['jsonl'] = pack(tok, [row['text'] for row in read_jsonl(sample_jsonl)], True, BLOCK_SIZE)
        cases['pairs'] = prompt_response(tok, read_jsonl(pairs_jsonl), BLOCK_SIZE)
        if tok.chat_template:
            conversations = [row['messages'] for row in read_jsonl(chat_jsonl)]
            conversations += [[{'role': 'user', 'content': r['prompt']}, {'role': 'assistant', 'content': r['response']}]
                              for r in read_jsonl(pairs_jsonl)]
            cases['chat'] = chat(tok, conversations, 64)
            cases['generationPrompt'] = tok.apply_chat_template(conversations[0][:1], tokenize=False, add_generation_prompt=True)
        expected[name] = cases
    write_json(os.path.join(OUT, 'expected.json'), expected)


if __name__ == '__main__':
    main()
