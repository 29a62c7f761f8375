"""PyTorch side of bench/checkpointing.ts: one measurement of transformers' BertForSequenceClassification
training step (random init), fully trained or with peft's LoRA, with or without gradient_checkpointing_enable();
prints JSON."""
import argparse
import json
import resource
import statistics
import sys
import time
import types

# The local torchvision wheels cannot load next to the CPU torch; transformers imports torchvision
# (as in bench/models_torch.py), so its C++ registrations are skipped before the import.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

from bert_shapes import BERT_SHAPES  # noqa: E402

SHAPES = {name: BERT_SHAPES[name] for name in ("bert-mini", "bert-base-uncased")}

parser = argparse.ArgumentParser()
for flag in ("--threads", "--steps", "--batch", "--seq"):
    parser.add_argument(flag, type=int, required=True)
parser.add_argument("--model", choices=SHAPES, required=True)
parser.add_argument("--method", choices=("full", "lora"), required=True)
parser.add_argument("--checkpointing", choices=("on", "off"), required=True)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(num_labels=2, **SHAPES[args.model]))
model.train()
# As PEFT's guides: checkpointing on the base model (non-reentrant, transformers' default), then the adapter.
if args.checkpointing == "on":
    model.gradient_checkpointing_enable()
if args.method == "lora":
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=32, target_modules=["query", "value"]))
ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq))
mask = torch.ones(args.batch, args.seq, dtype=torch.long)
labels = torch.randint(0, 2, (args.batch,))
times = []
for step in range(args.steps + 1):
    start = time.perf_counter()
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    model.zero_grad(set_to_none=True)
    if step > 0:
        times.append((time.perf_counter() - start) * 1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"medianStepMs": statistics.median(times), "peakRssMiB": peak}))
