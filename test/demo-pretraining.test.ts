import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { manualSeed, memory, noGrad, randn, tidy } from '../src/tensor/index.js';
import { fromPretrained, readSafetensorsHeaderSync } from '../src/io/index.js';
import { AlexNet, ViTForImageClassification, type HfConfig } from '../src/models/index.js';
import { imagePreprocessing } from '../src/cli/core/data.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, TaskDataset, type FashionSplit } from '../src/demo/data.js';
import { DEMO_MODELS, buildModel } from '../src/demo/models.js';
import { PretrainingNetwork, RECONSTRUCTION_SIDE } from '../src/demo/reconstruction.js';
import { pretrain, type PretrainingInfo } from '../src/demo/pretrain.js';
import { demoSettings } from '../src/demo/settings.js';

// The demo's two-task pretraining (classes + reconstruction of the image from the head's input) on a
// synthetic split, so no Fashion-MNIST is needed: class c is a bright square in one of 4 corners
// (c < 4) at a random brightness and size, on noise.
function syntheticSplit(count: number, seed: number): FashionSplit {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pixels = new Uint8Array(count * 28 * 28);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    labels[i] = label;
    const size = 6 + Math.floor(random() * 8);
    const brightness = 120 + Math.floor(random() * 135);
    const [top, left] = [label < 2 ? 2 : 26 - size, label % 2 === 0 ? 2 : 26 - size];
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const inside = y >= top && y < top + size && x >= left && x < left + size;
        pixels[i * 784 + y * 28 + x] = inside ? brightness : Math.floor(random() * 40);
      }
    }
  }
  return { pixels, labels, size: 28 };
}

test("PretrainingNetwork: the class logits are the network's own, the decoder reads the head's input (CNN fc7, ViT [CLS])", () => {
  const before = memory().numTensors;
  for (const key of ['cnn', 'vit'] as const) {
    const spec = DEMO_MODELS[key];
    manualSeed(0);
    const network = buildModel(spec, 5) as AlexNet | ViTForImageClassification;
    const pretraining = new PretrainingNetwork(network);
    pretraining.eval();
    const image = randn([3, 1, spec.imageSize, spec.imageSize]);
    const { classLogits, own, reconstruction } = tidy(() =>
      noGrad(() => {
        const out = pretraining.forward(image);
        const direct =
          network instanceof AlexNet ? network.forward(image) : network.forward({ pixelValues: image }).logits;
        return { classLogits: out.logits.class, own: direct, reconstruction: out.logits.reconstruction };
      }),
    );
    assert.deepEqual(classLogits.shape, [3, 5]);
    assert.deepEqual(reconstruction.shape, [3, RECONSTRUCTION_SIDE * RECONSTRUCTION_SIDE]);
    assert.equal(
      tidy(() => classLogits.sub(own).abs().max().item()),
      0,
      key,
    );
    assert.equal(pretraining.decoder.inFeatures, key === 'cnn' ? 256 : 64);
    // The decoder is the only parameter the wrapper adds
    assert.equal(pretraining.numParameters() - network.numParameters(), pretraining.decoder.numParameters());
    for (const t of [image, classLogits, own, reconstruction]) t.dispose();
    pretraining.dispose();
  }
  assert.equal(memory().numTensors, before);
});

test('pretrain: the reconstruction task trains the decoder (weight 1) or not (weight 0); the checkpoint is the bare network', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'finetune-demo-pretraining-'));
  const silent = { write: () => true };
  try {
    const train = new TaskDataset(syntheticSplit(640, 1), [0, 1, 2, 3]);
    const test = new TaskDataset(syntheticSplit(80, 2), [0, 1, 2, 3]);
    const infos: Record<number, PretrainingInfo> = {};
    for (const weight of [1, 0]) {
      const settings = demoSettings({
        quick: true,
        cacheDir: cache,
        outputDir: join(cache, 'out'),
        threads: 1,
        sourceClasses: [0, 1, 2, 3],
        targetClasses: [4, 5],
      });
      settings.pretraining.cnn = {
        steps: 40,
        batchSize: 32,
        learningRate: 1e-3,
        weightDecay: 0.01,
        reconstructionWeight: weight,
      };
      const dir = join(cache, `cnn-${weight}`);
      infos[weight] = await pretrain(DEMO_MODELS.cnn, settings, { train, test }, dir, silent);
      const keys = [...readSafetensorsHeaderSync(join(dir, 'model.safetensors')).tensors.keys()];
      assert.ok(
        keys.includes('classifier.6.weight') && !keys.some((k) => k.startsWith('decoder') || k.startsWith('network.')),
        keys.join(', '),
      );
      const saved = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as PretrainingInfo;
      assert.deepEqual(saved.taskLosses, infos[weight].taskLosses);
      assert.equal(saved.settings.reconstructionWeight, weight);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as HfConfig;
      assert.equal(config.pretraining_learning_rate, 1e-3);
      // finetune train/eval/predict on this folder feed images as the demo trained on them: 64 px, grayscale, Fashion-MNIST's statistics
      assert.deepEqual(imagePreprocessing('alexnet', config, [dir]), {
        size: 64,
        channels: 1,
        mean: [FASHION_MNIST_MEAN],
        std: [FASHION_MNIST_STD],
      });
      const back = await fromPretrained(dir);
      assert.ok(back instanceof AlexNet);
      back.dispose();
      assert.ok(!existsSync(`${dir}.tmp-${process.pid}`));
    }
    const [trained, untrained] = [infos[1].taskLosses, infos[0].taskLosses];
    // The untrained decoder reads fc7's growing activations (MSE ≈ 40 here); the trained one redraws the images (≈ 0.3).
    assert.ok(
      trained.reconstruction < 0.1 * untrained.reconstruction,
      `reconstruction MSE ${trained.reconstruction} (trained) vs ${untrained.reconstruction} (untrained)`,
    );
    // Both learn the classes (4 corners: easy)
    for (const info of [infos[0], infos[1]])
      assert.ok(info.taskLosses.class < 1.0 && info.sourceAccuracy > 0.5, JSON.stringify(info));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
