"""The transformers side of bench/e2e-train.ts: what a user writes to fine-tune a checkpoint on a text
classification set with transformers' Trainer (+ peft's LoRA), with each phase timed. Prints one JSON line:
t0 (time.time() as the script starts: the driver subtracts its spawn time for the interpreter's start-up),
the seconds of each phase and the final evaluation accuracy.

  python3 bench/e2e_train_hf.py --model-dir DIR --train-file train.jsonl --eval-file dev.jsonl --method lora \
    --output-dir OUT --epochs 3 --batch 32 --eval-batch 64 --max-length 64 --lr 5e-4 --threads 1 --seed 42
"""
import time

T0 = time.time()
START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

# The local torchvision wheels cannot load next to the CPU torch; transformers imports torchvision
# (as in bench/models_torch.py), so its C++ registrations are skipped before the import.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

parser = argparse.ArgumentParser()
for flag in ("--model-dir", "--train-file", "--eval-file", "--output-dir"):
    parser.add_argument(flag, required=True)
parser.add_argument("--method", choices=("full", "lora"), required=True)
for flag in ("--epochs", "--batch", "--eval-batch", "--max-length", "--threads", "--seed", "--logging-steps"):
    parser.add_argument(flag, type=int, required=True)
parser.add_argument("--lr", type=float, required=True)
args = parser.parse_args()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

if args.method == "lora":
    from peft import LoraConfig, get_peft_model

torch.set_num_threads(args.threads)
imported = time.perf_counter()


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


class Encoded(torch.utils.data.Dataset):
    def __init__(self, encoding, labels):
        self.encoding, self.labels = encoding, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.encoding.items()}, "labels": self.labels[i]}


tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
datasets = {}
for split, path in (("train", args.train_file), ("eval", args.eval_file)):
    texts, labels = read_rows(path)
    datasets[split] = Encoded(tokenizer(texts, truncation=True, max_length=args.max_length), labels)
tokenized = time.perf_counter()

set_seed(args.seed)
model = AutoModelForSequenceClassification.from_pretrained(args.model_dir, num_labels=2)
if args.method == "lora":
    # finetune train --method lora's defaults: r 8, α 32, dropout 0.1 on query and value; SEQ_CLS trains the head too.
    model = get_peft_model(
        model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["query", "value"])
    )


def accuracy(prediction):
    return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}


trainer = Trainer(
    model=model,
    args=TrainingArguments(
        output_dir=args.output_dir,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=args.eval_batch,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=args.logging_steps,
        report_to="none",
        disable_tqdm=True,
        seed=args.seed,
        use_cpu=True,
        dataloader_num_workers=0,
    ),
    train_dataset=datasets["train"],
    eval_dataset=datasets["eval"],
    data_collator=DataCollatorWithPadding(tokenizer),
    compute_metrics=accuracy,
)
train_start = time.perf_counter()
result = trainer.train()
trained = time.perf_counter()
trainer.save_model(args.output_dir)
tokenizer.save_pretrained(args.output_dir)
saved = time.perf_counter()

evaluations = [e for e in trainer.state.log_history if "eval_runtime" in e]
print(
    json.dumps(
        {
            "t0": T0,
            "importS": imported - START,
            "tokenizeS": tokenized - imported,
            "modelS": train_start - tokenized,
            "trainS": trained - train_start,
            "trainRuntimeS": result.metrics["train_runtime"],
            "evalS": sum(e["eval_runtime"] for e in evaluations),
            "saveS": saved - trained,
            "endS": saved - START,
            "accuracy": evaluations[-1]["eval_accuracy"],
            "evaluations": len(evaluations),
        }
    )
)
