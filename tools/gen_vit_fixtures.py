"""Writes test/fixtures/vit/: tiny ViT checkpoints and what PyTorch computes with them.

Run with the reference stack (the torch wheel the addon links, plus transformers and torchvision):
    eval "$(bash tools/setup-pyref.sh)"; cd tools && python3 gen_vit_fixtures.py

  inputs.safetensors                pixel_values [2, 3, 32, 32] and labels [2] (int64), shared by both models
  hf/config.json, hf/model.safetensors
                                    a random transformers ViTForImageClassification (image 32, patch 8,
                                    hidden 32, 2 layers, 4 heads, MLP 64, 3 labels), via save_pretrained
  hf/reference.safetensors          its eval-mode logits, the cross-entropy loss with `labels`, and the
                                    gradient of that loss w.r.t. the patch projection (first layer) weight
  torchvision/model.safetensors     a random torchvision VisionTransformer of the same shape (layer norm eps 1e-6)
  torchvision/reference.safetensors its logits, loss and conv_proj.weight gradient

Both models' weights are redrawn at unit scale (the libraries' inits leave near-zero logits — torchvision's
head and class token are zeros), so the comparisons exercise every layer.
"""
import json
import os

from pyref import torch, torchvision  # noqa: F401  (first: works around CUDA-only torchvision ops)

import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models.vision_transformer import VisionTransformer
from transformers import ViTConfig, ViTForImageClassification

torch.set_num_threads(1)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'vit')
IMAGE, PATCH, HIDDEN, LAYERS, HEADS, MLP, LABELS = 32, 8, 32, 2, 4, 64, 3


@torch.no_grad()
def redraw(model, seed):
    """Unit-scale weights: W ~ N(0, 1/fan_in), biases ~ N(0, 0.1²), norm scales ~ 1 + N(0, 0.1²), tokens ~ N(0, 0.5²)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if p.dim() == 3:  # class token, position embeddings
            p.copy_(0.5 * noise)
        elif p.dim() >= 2:  # linear and convolution weights
            p.copy_(noise / p[0].numel() ** 0.5)
        elif name.endswith('weight'):  # layer norm scales
            p.copy_(1 + 0.1 * noise)
        else:
            p.copy_(0.1 * noise)


def reference(model, logits_of, first_weight, pixel_values, labels):
    """Eval-mode logits, cross-entropy loss with labels, and the loss's gradient w.r.t. the first layer's weight."""
    model.eval()
    model.zero_grad()
    logits = logits_of(pixel_values)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return {
        'logits': logits.detach().contiguous(),
        'loss': loss.detach().reshape(1),
        'first_weight_grad': first_weight.grad.detach().contiguous(),
    }


def main():
    os.makedirs(os.path.join(OUT, 'hf'), exist_ok=True)
    os.makedirs(os.path.join(OUT, 'torchvision'), exist_ok=True)

    g = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(2, 3, IMAGE, IMAGE, generator=g)
    labels = torch.tensor([2, 0], dtype=torch.int64)
    save_file({'pixel_values': pixel_values, 'labels': labels}, os.path.join(OUT, 'inputs.safetensors'))

    # (a) transformers ViTForImageClassification
    torch.manual_seed(1)
    config = ViTConfig(
        image_size=IMAGE, patch_size=PATCH, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=MLP, hidden_act='gelu', num_labels=LABELS, layer_norm_eps=1e-12,
        id2label={0: 'cat', 1: 'dog', 2: 'bird'}, label2id={'cat': 0, 'dog': 1, 'bird': 2},
    )
    hf = ViTForImageClassification(config)
    redraw(hf, 2)
    hf_dir = os.path.join(OUT, 'hf')
    hf.save_pretrained(hf_dir)
    ref = reference(hf, lambda x: hf(pixel_values=x).logits, hf.vit.embeddings.patch_embeddings.projection.weight,
                    pixel_values, labels)
    with torch.no_grad():
        out = hf(pixel_values=pixel_values, labels=labels)
        assert torch.allclose(out.loss, ref['loss'][0]), 'transformers loss differs from F.cross_entropy'
    reloaded = ViTForImageClassification.from_pretrained(hf_dir).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(pixel_values=pixel_values).logits, ref['logits']), 'save_pretrained did not round-trip'
    save_file(ref, os.path.join(hf_dir, 'reference.safetensors'))

    # (b) torchvision VisionTransformer
    torch.manual_seed(3)
    tv = VisionTransformer(image_size=IMAGE, patch_size=PATCH, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
                           mlp_dim=MLP, num_classes=LABELS)
    redraw(tv, 4)
    tv_dir = os.path.join(OUT, 'torchvision')
    save_file({k: v.contiguous() for k, v in tv.state_dict().items()}, os.path.join(tv_dir, 'model.safetensors'))
    ref = reference(tv, tv, tv.conv_proj.weight, pixel_values, labels)
    save_file(ref, os.path.join(tv_dir, 'reference.safetensors'))

    # Parameter count of torchvision's vit_b_16 (random init), which the tests check exactly.
    count = sum(p.numel() for p in torchvision.models.vit_b_16().parameters())
    with open(os.path.join(OUT, 'counts.json'), 'w') as f:
        json.dump({'torchvision_vit_b_16_parameters': count}, f)
        f.write('\n')

    for root, _, files in os.walk(OUT):
        for name in sorted(files):
            path = os.path.join(root, name)
            print(f'{os.path.relpath(path, OUT):40s} {os.path.getsize(path):>8d} bytes')


if __name__ == '__main__':
    main()
