"""Reference results from Python's `re` for finetune's linear-time pattern matcher: test/fixtures/patterns/python-re.json.

What it writes:
  fullmatch   [pattern, text, re.fullmatch(pattern, text) is not None] for every pattern x text below: the form
              PEFT uses for a string target_modules / exclude_modules / feedforward_modules
  match       [pattern, text, re.match(pattern, text).groups() with group 0 first, or null] for the patterns PEFT
              builds around modules_to_save entries, layers_pattern and rank_pattern / alpha_pattern keys
              (tuners_utils.check_target_module_exists, utils/other.get_pattern_key)
  random      [pattern, text, re.match groups or null, re.fullmatch is not None] for 600 seeded random patterns of
              the supported syntax (groups, alternation, classes, lazy and counted repeats, anchors) on short texts
  errors      patterns Python's `re` itself refuses, with its message: finetune must refuse them too

Only the standard library is needed (no reference stack):
    python3 tools/gen_pattern_fixtures.py
"""
import json
import os
import random
import re

PATTERNS = [
    # PEFT's docs and examples
    r".*\.(q|v)_proj", r".*decoder.*(SelfAttention|EncDecAttention).*(q|v)$", r".*\.(query|value)",
    r"^(?:.*\.)?(query|key|value)$", r".*(query|value).*", r".*encoder.*\.(query|key|value)", r"model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj",
    r".*\.layer\.[0-3]\.attention\.self\.(query|value)", r".*\.layer\.([4-9]|1[01])\..*dense", r"(?:.*\.)?lm_head",
    # syntax coverage
    r"a{3}", r"a{2,}", r"a{,2}", r"a{1,3}b", r"a{}", r"a{x}", r"a{,}", r"(ab){2,3}", r"a*?b", r"(a|b)+?c", r"a??b",
    r"[a-c]+", r"[^a-c.]+", r"[\d.]+", r"[\w]+", r"[]a]+", r"[a\]]+", r"[-a]+", r"[a-]+", r"[\s\S]*", r"[\x41-\x43]+",
    r"\d+", r"\D+", r"\w+", r"\W+", r"\s", r"\S+", r"\.", r"a\.b", r"\x41", r"\u00e9", r"\t", r"\\",
    r"(?:ab)+", r"(?P<name>ab)c", r"(?#comment)ab", r"^ab$", r"\Aab\Z", r"ab$", r"\bab\b", r"a\Bb", r".*\bdense",
    r"", r"|a", r"a|", r"a||b", r"()", r"(a)|b", r"\$", r"a.c", r"é+", r"[é-ë]+",
]
# Exponential for Python's backtracking (linear for finetune): tried on the short texts only, or Python would not finish.
CATASTROPHIC = [r"(.|.)*Z", r"(a+)+$", r"(a|aa)*b", r"(a*)*b", r"(x+x+)+y", r"(\w+\.?)*!"]
SHORT = 15
TEXTS = [
    "", "a", "b", "aa", "ab", "abc", "aaaa", "aaab", "abab", "ababab", "aab", "aaa", "a{}", "a{x}", "a{,}",
    "a.b", "a b", "a\nb", "ab\n", "\t", " ", "A", "ABC", "é", "éêë", "]a]", "-a", "123", "1.2.3", "x_y", "a-b", "\\", "$",
    "q_proj", "model.layers.0.self_attn.q_proj", "model.layers.12.self_attn.v_proj", "model.layers.3.mlp.up_proj",
    "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.11.attention.self.value",
    "bert.encoder.layer.5.intermediate.dense", "bert.encoder.layer.3.attention.output.dense", "classifier", "lm_head",
    "decoder.block.0.layer.0.SelfAttention.q", "decoder.block.1.layer.1.EncDecAttention.v", "encoder.block.0.layer.0.SelfAttention.k",
    "a" * 14 + "!", "a" * 14 + "Z", "x" * 12 + "y", "aaaaaaaaaaaab", "a.b.c.d!", "aaaaaaaaaaaaaa",
]
# The patterns PEFT builds around a user's entry, with the entries and names to try them on.
MODULES_TO_SAVE = ["classifier", "score", "pooler", "dense", "classifier|pooler", "layer\\.0"]
LAYERS_PATTERN = ["layer", "layers", "h", "blocks", "layer|layers"]
PATTERN_KEYS = ["query", "layer.0.attention.self.query", "self_attn.q_proj", "encoder.layer.1.*", "q|v", "dense"]
NAMES = [
    "classifier", "bert.pooler.dense", "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.1.attention.self.query",
    "bert.encoder.layer.10.output.dense", "model.layers.3.self_attn.q_proj", "transformer.h.2.attn.c_attn", "blocks.0.mlp.fc1",
    "score", "classifier.dense", "my_classifier", "encoder.layer.1.attention.self.value", "a" * 14,
]
# Python refuses these itself.
ERRORS = [r"(", r")", r"a**", r"*a", r"[a", r"a{3,2}", r"[z-a]", r"\q", r"(?P<n>a)(?P<n>b)", r"\x4", "\\"]


# Seeded random patterns from the supported syntax, tried on short texts over the same letters (short: Python backtracks).
RANDOM_PATTERNS = 600
RANDOM_TEXTS = ["", "a", "b", "ab", "ba", "aab", "a.b", "abab", "aaaa", "a1_", "b a", "aabba", "a\n"]


def random_pattern(rng, depth=0):
    """A pattern of the syntax finetune matches: atoms, classes, groups, alternation, quantifiers, anchors."""
    def atom():
        kind = rng.randrange(10 if depth < 3 else 6)
        if kind < 3:
            return rng.choice(["a", "b", ".", "\\.", "\\d", "\\w", "\\s", "\\W", "1", "_"])
        if kind == 3:
            return rng.choice(["[ab]", "[^a]", "[a-b.]", "[\\d_]", "[^\\w]", "[.-b]"])
        if kind == 4:
            return rng.choice(["^", "$", "\\b", "\\B", "\\A", "\\Z"])
        if kind == 5:
            return "a"
        opener = rng.choice(["(", "(?:", "(?P<g%d>" % rng.randrange(1000)])
        return opener + random_pattern(rng, depth + 1) + ")"

    def piece():
        text = atom()
        if rng.random() < 0.45 and text not in ("^", "$", "\\b", "\\B", "\\A", "\\Z"):
            # A group may match the empty text, and Python ends a loop after an empty pass, keeping that pass's
            # groups, where finetune's matcher does not (the match's extent and groups can differ; whether it
            # matches cannot): groups get only the repeats that cannot loop.
            loops = ["*", "+", "{1,3}", "{,2}", "{2,}"] if text[0] != "(" else []
            text += rng.choice(loops + ["?", "{2}", "{0}"]) + ("?" if rng.random() < 0.3 else "")
        return text

    branches = ["".join(piece() for _ in range(rng.randrange(1, 4))) for _ in range(1 if rng.random() < 0.7 else rng.randrange(2, 4))]
    return "|".join(branches)


def python_groups(match):
    return None if match is None else [match.group(0), *match.groups()]


def main():
    fullmatch = [[p, t, re.fullmatch(p, t) is not None] for p in PATTERNS for t in TEXTS]
    fullmatch += [[p, t, re.fullmatch(p, t) is not None] for p in CATASTROPHIC for t in TEXTS if len(t) <= SHORT]
    match = []
    for m in MODULES_TO_SAVE:
        pattern = rf"(^|.*\.){m}($|\..*)"
        match += [[pattern, name, python_groups(re.match(pattern, name))] for name in NAMES]
    for p in LAYERS_PATTERN:
        pattern = rf"(?:^|.*?\.){p}\.(?P<idx>\d+)\."
        match += [[pattern, name, python_groups(re.match(pattern, name))] for name in NAMES]
    for key in PATTERN_KEYS:
        pattern = rf"(.*\.)?({key})$"
        match += [[pattern, name, python_groups(re.match(pattern, name))] for name in NAMES]
    pattern = r".*?\.[^.]*\.(?P<idx>\d+)\."
    match += [[pattern, name, python_groups(re.match(pattern, name))] for name in NAMES]
    rng = random.Random(14)
    randoms, drawn = [], 0
    while drawn < RANDOM_PATTERNS:
        pattern = random_pattern(rng)
        try:
            compiled = re.compile(pattern)
        except re.error:
            continue  # a group name drawn twice
        drawn += 1
        randoms += [[pattern, t, python_groups(compiled.match(t)), compiled.fullmatch(t) is not None] for t in RANDOM_TEXTS]
    errors = []
    for p in ERRORS:
        try:
            re.compile(p)
            raise SystemExit(f"Python accepts {p!r}; it does not belong in ERRORS")
        except re.error as e:
            errors.append([p, e.msg])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "patterns")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "python-re.json"), "w", encoding="utf-8") as f:
        sections = {"fullmatch": fullmatch, "match": match, "random": randoms, "errors": errors}
        f.write("{\n" + ",\n".join(
            f'"{name}": [\n' + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]" for name, rows in sections.items()
        ) + "\n}\n")
    print(f"{len(fullmatch)} fullmatch, {len(match)} match, {len(randoms)} random, {len(errors)} error cases")


if __name__ == "__main__":
    main()
