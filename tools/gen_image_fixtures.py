"""Writes test/fixtures/images/: tiny PNG/JPEG files and what PIL and torchvision make of them,
for test/data-image.test.ts.

Run with the torch the addon links plus torchvision and Pillow:
    eval "$(bash tools/setup-pyref.sh)"; cd tools && python3 gen_image_fixtures.py

Files (all a few hundred bytes):
- decode/*.png, decode/*.jpg: one image per PNG colour type (L, LA, P with transparency, RGB, RGB
  with a colour key (tRNS), RGBA, 16-bit L, interlaced RGB) and JPEG flavours (baseline 4:2:0,
  4:4:4, grayscale, progressive, CMYK), from a smooth deterministic pattern.
- decode.json: for each, PIL's `Image.open(f).convert('RGB')` pixels (H×W×3, what
  torchvision's default loader gives ImageFolder), flattened.
- transforms.json: torchvision.transforms.v2.functional on float32 CHW tensors: the input
  (torch.rand, written in full as float32) and the output of resize (int and [h, w] sizes, up and
  down, antialias on and off), center_crop (odd offsets and padding), resized_crop, hflip,
  normalize, and the evaluation pipeline (ToTensor → Resize(int) → CenterCrop → Normalize with
  ImageNet statistics) on decode/rgb.png.
"""
import json
import os

import numpy as np
import PIL
from PIL import Image

from pyref import torch, torchvision  # noqa: F401
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures", "images")
DECODE = os.path.join(OUT, "decode")


def pattern(h, w, c):
    """A smooth deterministic image (JPEG-friendly) with some edges."""
    y, x = np.mgrid[0:h, 0:w]
    channels = []
    for k in range(c):
        v = 128 + 90 * np.sin(0.35 * x + 0.5 * k) * np.cos(0.27 * y - 0.3 * k) + 30 * ((x + y + k) % 7 == 0)
        channels.append(np.clip(np.round(v), 0, 255))
    return np.stack(channels, axis=-1).astype(np.uint8)


def write_images():
    os.makedirs(DECODE, exist_ok=True)
    h, w = 9, 13
    rgb = pattern(h, w, 3)
    gray = pattern(h, w, 1)[..., 0]
    alpha = ((np.arange(h * w).reshape(h, w) * 37) % 256).astype(np.uint8)
    made = {}

    def save(name, image, **kw):
        path = os.path.join(DECODE, name)
        image.save(path, **kw)
        made[name] = path

    save("gray.png", Image.fromarray(gray, "L"))
    save("gray-alpha.png", Image.fromarray(np.stack([gray, alpha], -1), "LA"))
    palette = Image.fromarray(rgb, "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    palette.info["transparency"] = 3
    save("palette.png", palette, transparency=3)
    save("rgb.png", Image.fromarray(rgb, "RGB"))
    key = Image.fromarray(rgb, "RGB")
    save("rgb-colour-key.png", key, transparency=tuple(int(v) for v in rgb[2, 3]))
    save("rgba.png", Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1), "RGBA"))
    gray16 = (gray.astype(np.uint16) * 257 + np.arange(h * w).reshape(h, w).astype(np.uint16) % 200).astype(np.uint16)
    save("gray16.png", Image.fromarray(gray16))  # uint16 → mode I;16
    save("rgb-interlaced.png", Image.fromarray(rgb, "RGB"), interlace=1)
    big = pattern(24, 32, 3)
    save("jpeg-420.jpg", Image.fromarray(big, "RGB"), quality=90, subsampling=2)
    save("jpeg-444.jpg", Image.fromarray(big, "RGB"), quality=95, subsampling=0)
    save("jpeg-gray.jpg", Image.fromarray(pattern(24, 32, 1)[..., 0], "L"), quality=90)
    save("jpeg-progressive.jpg", Image.fromarray(big, "RGB"), quality=90, progressive=True)
    save("jpeg-cmyk.jpg", Image.fromarray(big, "RGB").convert("CMYK"), quality=95)
    decoded = {}
    for name, path in sorted(made.items()):
        with Image.open(path) as im:
            mode = im.mode
            arr = np.asarray(im.convert("RGB"))
        decoded[name] = {"mode": mode, "height": arr.shape[0], "width": arr.shape[1], "rgb": arr.reshape(-1).tolist()}
    return decoded


def f32(t):
    """float32 values, each written in its shortest round-tripping form."""
    return [float(str(np.float32(v))) for v in t.detach().to(torch.float32).reshape(-1).numpy()]


def case(op, args, out):
    return {"op": op, "args": args, "shape": list(out.shape), "values": f32(out)}


def transforms_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 17, 23, generator=g)
    cases = []
    for size in [8, 11, 20]:
        for aa in [True, False]:
            cases.append(case("resize", {"size": size, "antialias": aa}, F.resize(x, [size], antialias=aa)))
    for hw in [[7, 12], [20, 9]]:
        for aa in [True, False]:
            cases.append(case("resize", {"size": hw, "antialias": aa}, F.resize(x, hw, antialias=aa)))
    cases.append(case("resize", {"size": 10, "maxSize": 12, "antialias": True}, F.resize(x, [10], max_size=12, antialias=True)))
    for size in [[8, 8], [10, 13], [16, 22], [20, 26], [5, 24]]:
        cases.append(case("centerCrop", {"size": size}, F.center_crop(x, size)))
    cases.append(case("resizedCrop", {"top": 2, "left": 3, "height": 11, "width": 9, "size": [6, 6], "antialias": True},
                      F.resized_crop(x, 2, 3, 11, 9, [6, 6], antialias=True)))
    cases.append(case("hflip", {}, F.horizontal_flip(x)))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    cases.append(case("normalize", {"mean": mean, "std": std}, F.normalize(x, mean, std)))
    # The evaluation pipeline on a decoded PNG, as torchvision's classification presets.
    with Image.open(os.path.join(DECODE, "rgb.png")) as im:
        pipeline = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Resize(7, antialias=True), v2.CenterCrop(6),
                               v2.Normalize(mean, std)])
        out = pipeline(im.convert("RGB"))
    cases.append(case("pipeline", {"file": "decode/rgb.png", "resize": 7, "crop": 6, "mean": mean, "std": std}, out))
    return {"input": {"shape": list(x.shape), "values": f32(x)}, "cases": cases}


def main():
    decoded = write_images()
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__}
    with open(os.path.join(OUT, "decode.json"), "w") as f:
        json.dump({"meta": meta, "images": decoded}, f)
    with open(os.path.join(OUT, "transforms.json"), "w") as f:
        json.dump({"meta": meta, **transforms_reference()}, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
