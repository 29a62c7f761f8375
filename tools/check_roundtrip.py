"""The Python half of the round trip: transformers loads what finetune's savePretrained wrote
(build/roundtrip/<name>/, made by tools/export-roundtrip.ts) and must reproduce finetune's logits.
    eval "$(bash tools/setup-pyref.sh)" && node build/ts/tools/export-roundtrip.js && python3 tools/check_roundtrip.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from pyref import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForImageClassification, AutoModelForMaskedLM, AutoModelForSequenceClassification  # noqa: E402

root = os.path.join(os.path.dirname(__file__), "..", "build", "roundtrip")
loaders = {
    "bert-seqcls": (AutoModelForSequenceClassification, lambda m, io: m(input_ids=io["input_ids"], attention_mask=io["attention_mask"])),
    "bert-mlm": (AutoModelForMaskedLM, lambda m, io: m(input_ids=io["input_ids"], attention_mask=io["attention_mask"])),
    "vit": (AutoModelForImageClassification, lambda m, io: m(pixel_values=io["pixel_values"])),
}
failed = False
for name, (auto, call) in loaders.items():
    folder = os.path.join(root, name)
    model, info = auto.from_pretrained(folder, output_loading_info=True)
    model.eval()
    io = load_file(os.path.join(folder, "finetune-io.safetensors"))
    with torch.no_grad():
        logits = call(model, io).logits
    diff = (logits - io["logits"]).abs().max().item()
    problems = {k: v for k, v in info.items() if v and k != "error_msgs"}
    ok = diff < 1e-4 and not problems
    failed |= not ok
    print(f"{'OK' if ok else 'FAIL'} {name}: {type(model).__name__}, max |logits diff| {diff:.2e}, loading problems: {problems or 'none'}")
sys.exit(1 if failed else 0)
