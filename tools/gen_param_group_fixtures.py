"""Reference for optim's weight-decay rule 'hf': test/fixtures/param-groups/hf_decay.json.

The names Hugging Face Trainer decays (Trainer.get_decay_parameter_names, transformers 5.x) for
the tiny BERT and ViT of test/param-groups.test.ts, plus every parameter name. Run:
    eval "$(bash tools/setup-pyref.sh)" && cd tools && python3 gen_param_group_fixtures.py
"""
import json
import os

from pyref import torch  # noqa: F401
import transformers
from transformers import BertConfig, BertForSequenceClassification, Trainer, ViTConfig, ViTForImageClassification

models = {
    "bert": BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                     intermediate_size=64, max_position_embeddings=32, num_labels=3)),
    "vit": ViTForImageClassification(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                               image_size=32, patch_size=8, num_labels=3)),
}

out = {"transformers": transformers.__version__}
for key, model in models.items():
    out[key] = {
        "names": [name for name, _ in model.named_parameters()],
        # get_decay_parameter_names does not use the Trainer instance.
        "decay": Trainer.get_decay_parameter_names(None, model),
    }

path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "param-groups", "hf_decay.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", path)
