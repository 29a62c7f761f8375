"""PyTorch side of bench/gpu-step.ts: transformers' BertForSequenceClassification training step
(forward + backward + AdamW, random init, fp32) on a device; prints the median step time as JSON."""
import argparse
import json
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
for flag in ("--steps", "--batch", "--seq"):
    parser.add_argument(flag, type=int, required=True)
parser.add_argument("--model", choices=SHAPES, required=True)
parser.add_argument("--device", required=True)
args = parser.parse_args()

device = torch.device(args.device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
torch.manual_seed(0)
# transformers' default attention is scaled_dot_product_attention, as finetune's BertSelfAttention.
model = BertForSequenceClassification(BertConfig(num_labels=2, **SHAPES[args.model]))
model.to(device).train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq), device=device)
mask = torch.ones(args.batch, args.seq, dtype=torch.long, device=device)
labels = torch.randint(0, 2, (args.batch,), device=device)
times = []
for step in range(args.steps + 1):
    start = time.perf_counter()
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync()
    if step > 0:
        times.append((time.perf_counter() - start) * 1000)
print(json.dumps({"medianStepMs": statistics.median(times)}))
