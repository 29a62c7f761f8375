"""PyTorch side of bench/precision.ts: one measurement of transformers' BertForSequenceClassification
training step (random init; forward + loss under torch.autocast for bf16 / fp16, backward, AdamW step,
fp16 through torch.amp.GradScaler) in fp32, bf16 or fp16; prints JSON."""
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

parser = argparse.ArgumentParser()
for flag in ("--threads", "--steps", "--batch", "--seq"):
    parser.add_argument(flag, type=int, required=True)
parser.add_argument("--model", choices=BERT_SHAPES, required=True)
parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), required=True)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(num_labels=2, **BERT_SHAPES[args.model]))
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
scaler = torch.amp.GradScaler("cpu", enabled=args.precision == "fp16")
dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq))
mask = torch.ones(args.batch, args.seq, dtype=torch.long)
labels = torch.randint(0, 2, (args.batch,))
times = []
losses = []
for step in range(args.steps + 1):
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    losses.append(float(loss))
    if step > 0:
        times.append((time.perf_counter() - start) * 1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"medianStepMs": statistics.median(times), "peakRssMiB": peak, "lastLoss": losses[-1]}))
