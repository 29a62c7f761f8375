/**
 * The demo's two networks, both built through the model registry from a config.json, so that
 * every fine-tuning strategy (layer groups, bottleneck adapters, LoRA) works on them as on the
 * full-size families:
 *
 * - cnn: AlexNet in torchvision's layout at a quarter of its widths (the `alexnet-small` preset:
 *   1 input channel, convolutions 16-48-96-64-64, hidden layers of 256), on images resized 28 → 64 px
 *   (the layout needs at least 63 × 63);
 * - vit: a ViT with transformers' layout on the 28 × 28 images: patches 4 × 4 (49 patches + [CLS]),
 *   width 64, 4 layers of 4 heads, MLP 128.
 */
import { createHash } from 'node:crypto';

import type { Module } from '../nn/index.js';
import {
  AlexNet,
  ViTForImageClassification,
  alexnetFamily,
  vitConfig,
  vitConfigToHf,
  type HfConfig,
} from '../models/index.js';
import { createModel } from '../io/index.js';
import { LoraConfig, BottleneckConfig, type PeftConfig } from '../peft/index.js';

export type DemoModelKey = 'cnn' | 'vit';
export const DEMO_MODEL_KEYS: readonly DemoModelKey[] = ['cnn', 'vit'];

/** How a model is pretrained on the source classes. */
export interface PretrainingSettings {
  steps: number;
  batchSize: number;
  /** AdamW's peak lr (linear decay after a 5% warmup); recorded in config.json as pretraining_learning_rate. */
  learningRate: number;
  weightDecay: number;
  /** The reconstruction task's weight beside the classification's 1 (reconstruction.ts); 0: the classes alone. */
  reconstructionWeight: number;
}

export interface DemoModelSpec {
  key: DemoModelKey;
  /** A line for the output: what the network is. */
  title: string;
  /** config.json of the network (before the number of labels is set). */
  config: HfConfig;
  /** The side the images are given at (28, or 64 for the CNN). */
  imageSize: number;
  /** k of the top-k row: about a quarter of the layer groups below the head, as `finetune inspect` picks it (CNN: fc6 and fc7; ViT: the last layer). */
  topK: number;
  /** The PEFT configs of the adapter and LoRA rows. */
  adapters(): PeftConfig;
  lora(): PeftConfig;
  /** What the adapter and LoRA rows put where, for the notes. */
  adapterNote: string;
  loraNote: string;
}

/** The CNN's layers below the head: the five convolutions, fc6 and fc7. */
const CNN_LAYERS = [
  'features.0',
  'features.3',
  'features.6',
  'features.8',
  'features.10',
  'classifier.1',
  'classifier.4',
];

/** The CNN: the alexnet-small preset. */
const CNN_CONFIG: HfConfig = alexnetFamily.configToHf(alexnetFamily.presets['alexnet-small'], 'AlexNet');

/** The ViT: transformers' ViTConfig fields in config.json form. */
const VIT_CONFIG: HfConfig = vitConfigToHf(
  vitConfig({
    imageSize: 28,
    patchSize: 4,
    numChannels: 1,
    hiddenSize: 64,
    numHiddenLayers: 4,
    numAttentionHeads: 4,
    intermediateSize: 128,
    encoderStride: 4,
    numLabels: 10,
  }),
  'ViTForImageClassification',
);

export const DEMO_MODELS: Readonly<Record<DemoModelKey, DemoModelSpec>> = {
  cnn: {
    key: 'cnn',
    title: 'AlexNet-style CNN (alexnet-small: torchvision layout, convs 16-48-96-64-64, fc 256; 28 → 64 px)',
    config: CNN_CONFIG,
    imageSize: 64,
    topK: 2,
    // After each of the five convolutions (the family's placement; 1×1-conv bottlenecks) and after fc6 and fc7, at a quarter of the width.
    adapters: () =>
      new BottleneckConfig({ reductionFactor: 4, targetModules: CNN_LAYERS, modulesToSave: ['classifier.6'] }),
    // Every Conv2d and the two hidden Linear layers (fc6, fc7: 80% of the weights), the head trained whole.
    lora: () => new LoraConfig({ r: 8, loraAlpha: 16, targetModules: CNN_LAYERS, modulesToSave: ['classifier.6'] }),
    adapterNote: 'bottleneck adapters (reduction 4) after the 5 convolutions and fc6, fc7 + the head',
    loraNote: 'LoRA r=8, α=16 on the 5 convolutions and fc6, fc7 + the head',
  },
  vit: {
    key: 'vit',
    title: 'ViT (patch 4 on 28 × 28 px, width 64, 4 layers × 4 heads, MLP 128)',
    config: VIT_CONFIG,
    imageSize: 28,
    topK: 1,
    // Houlsby: after the attention output and the MLP output of each layer.
    adapters: () => new BottleneckConfig({ variant: 'houlsby', reductionFactor: 4, modulesToSave: ['classifier'] }),
    lora: () =>
      new LoraConfig({ r: 8, loraAlpha: 16, targetModules: ['query', 'value'], modulesToSave: ['classifier'] }),
    adapterNote: 'Houlsby bottleneck adapters (after attention and MLP, 64 → 16 → 64) in the 4 layers + the classifier',
    loraNote: 'LoRA r=8, α=16 on query and value of the 4 layers + the classifier',
  },
};

/** A randomly initialised network with `numLabels` outputs. */
export function buildModel(spec: DemoModelSpec, numLabels: number): Module {
  return createModel(spec.config, { numLabels });
}

/** Replaces the head by a freshly initialised one for `numLabels` classes, keeping the rest. */
export function resetHead(model: Module, numLabels: number): void {
  if (model instanceof AlexNet) model.resetClassifier(numLabels);
  else if (model instanceof ViTForImageClassification) model.resetClassifier(numLabels);
  else throw new Error(`resetHead: unexpected ${model.constructor.name}`);
}

/** A short hash of what a pretrained model depends on: the config, the pretraining settings, the source classes, the seed. */
export function pretrainingHash(
  spec: DemoModelSpec,
  settings: PretrainingSettings,
  sourceClasses: readonly number[],
  seed: number,
  version = 1,
): string {
  const key = JSON.stringify({ version, config: spec.config, settings, sourceClasses, seed });
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}
