/**
 * AlexNet, after torchvision/models/alexnet.py ("One weird trick…", arXiv:1404.5997): the
 * attribute paths are torchvision's (`features.0.weight`, `classifier.1.weight`, …), so a
 * torchvision checkpoint loads as is. Layers keep PyTorch's default initialisation, as there.
 *
 * config.json is finetune's own format (torchvision has none):
 * `{"model_type":"alexnet","architectures":["AlexNet"],"arch":"alexnet","num_classes":1000,"dropout":0.5}`.
 */
import { tidy, type Tensor } from '../tensor/index.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn/index.js';
import { registerModelFamily, type HfConfig, type LayerGroup, type ModelFamily } from './registry.js';

/** An AlexNet configuration: `{ arch: 'alexnet', numClasses: 10, dropout: 0.5 }`. */
export interface AlexNetConfig {
  arch?: 'alexnet';
  /** Output classes of `classifier.6` (1000, ImageNet). */
  numClasses?: number;
  /** Dropout probability of `classifier.0` and `classifier.3`. */
  dropout?: number;
}

export type ResolvedAlexNetConfig = Required<AlexNetConfig>;

export function resolveAlexNetConfig(config: AlexNetConfig): ResolvedAlexNetConfig {
  const resolved: ResolvedAlexNetConfig = { arch: 'alexnet', numClasses: config.numClasses ?? 1000, dropout: config.dropout ?? 0.5 };
  if (config.arch !== undefined && config.arch !== 'alexnet') throw new Error(`AlexNet: arch must be 'alexnet', got '${String(config.arch)}'`);
  if (!Number.isInteger(resolved.numClasses) || resolved.numClasses < 1) throw new Error(`AlexNet: numClasses must be a positive integer, got ${resolved.numClasses}`);
  if (!(resolved.dropout >= 0 && resolved.dropout <= 1)) throw new Error(`AlexNet: dropout must be in [0, 1], got ${resolved.dropout}`);
  return resolved;
}

export class AlexNet extends Module {
  readonly config: ResolvedAlexNetConfig;
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(config: AlexNetConfig = {}) {
    super();
    this.config = resolveAlexNetConfig(config);
    const { numClasses, dropout } = this.config;
    this.features = new Sequential(
      new Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
      new Conv2d(64, 192, 5, { padding: 2 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
      new Conv2d(192, 384, 3, { padding: 1 }),
      new ReLU(true),
      new Conv2d(384, 256, 3, { padding: 1 }),
      new ReLU(true),
      new Conv2d(256, 256, 3, { padding: 1 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
    );
    this.avgpool = new AdaptiveAvgPool2d([6, 6]);
    this.classifier = new Sequential(
      new Dropout(dropout),
      new Linear(256 * 6 * 6, 4096),
      new ReLU(true),
      new Dropout(dropout),
      new Linear(4096, 4096),
      new ReLU(true),
      new Linear(4096, numClasses),
    );
  }

  /** Pooled, flattened convolutional features: [N, 9216]. */
  forwardFeatures(x: Tensor): Tensor {
    return tidy(() => {
      x = this.features.forward(x);
      x = this.avgpool.forward(x);
      x = x.flatten(1);
      return x;
    });
  }

  /** Logits [N, numClasses] of images [N, 3, H, W] (224×224 in torchvision's weights). */
  forward(x: Tensor): Tensor {
    return tidy(() => this.classifier.forward(this.forwardFeatures(x)));
  }

  /**
   * Replaces the last layer `classifier.6` by a new Linear for `numClasses` (PyTorch's default
   * init), keeping every other weight. The old layer is disposed.
   */
  resetClassifier(numClasses: number): Linear {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`resetClassifier: numClasses must be a positive integer, got ${numClasses}`);
    const old = this.classifier.at(6) as Linear;
    const head = new Linear(old.inFeatures, numClasses);
    this.classifier.set(6, head);
    old.dispose();
    this.config.numClasses = numClasses;
    return head;
  }
}

/** torchvision.models.alexnet. */
export const alexnet = (options: Omit<AlexNetConfig, 'arch'> = {}): AlexNet => new AlexNet(options);

// ---- config.json (finetune's own format) and the model family -----------------------

function fail(key: string, expected: string, value: unknown): never {
  throw new Error(`alexnet config.json: '${key}' must be ${expected}, got ${JSON.stringify(value)}`);
}

/** Reads finetune's alexnet config.json; unknown keys are ignored, missing ones defaulted. */
export function alexnetConfigFromJson(json: HfConfig): ResolvedAlexNetConfig {
  if (json.model_type !== undefined && json.model_type !== 'alexnet') fail('model_type', "'alexnet'", json.model_type);
  if (json.arch !== undefined && json.arch !== 'alexnet') fail('arch', "'alexnet'", json.arch);
  const config: AlexNetConfig = {};
  if (json.num_classes !== undefined) {
    const n = json.num_classes;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) fail('num_classes', 'a positive integer', n);
    config.numClasses = n;
  }
  if (json.dropout !== undefined) {
    const p = json.dropout;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('dropout', 'a number in [0, 1]', p);
    config.dropout = p;
  }
  return resolveAlexNetConfig(config);
}

/** Writes finetune's alexnet config.json. */
export function alexnetConfigToJson(config: AlexNetConfig, architecture = 'AlexNet'): HfConfig {
  const c = resolveAlexNetConfig(config);
  return { model_type: 'alexnet', architectures: [architecture], arch: c.arch, num_classes: c.numClasses, dropout: c.dropout };
}

/**
 * AlexNet's layer groups, after the paper's layer names: `conv1` … `conv5` (each convolution of
 * `features` with the ReLU and max-pool after it), `fc6`, `fc7` (the classifier's hidden layers,
 * each with its dropout and ReLU), and `head` = `classifier.6` alone, the layer resetClassifier
 * replaces. fc6 and fc7 are groups of their own rather than part of the head because they hold
 * 54.5M of AlexNet's 61.1M parameters: a head-only strategy training them would hardly freeze
 * anything, and top-k or gradual unfreezing reach them first anyway.
 */
function alexnetLayerGroups(model: Module): LayerGroup[] {
  if (!(model instanceof AlexNet)) throw new Error(`alexnet layer groups: unknown architecture ${model.constructor.name}`);
  const features = model.features.children();
  const classifier = model.classifier.children();
  return [
    { name: 'conv1', modules: features.slice(0, 3) },
    { name: 'conv2', modules: features.slice(3, 6) },
    { name: 'conv3', modules: features.slice(6, 8) },
    { name: 'conv4', modules: features.slice(8, 10) },
    { name: 'conv5', modules: features.slice(10, 13) },
    { name: 'fc6', modules: classifier.slice(0, 3) },
    { name: 'fc7', modules: classifier.slice(3, 6) },
    { name: 'head', modules: classifier.slice(6) },
  ];
}

export const alexnetFamily: ModelFamily<AlexNetConfig> = {
  modelType: 'alexnet',
  architectures: { AlexNet: (config) => new AlexNet(config) },
  configFromHf: alexnetConfigFromJson,
  configToHf: alexnetConfigToJson,
  withNumLabels: (config, numLabels) => ({ ...config, numClasses: numLabels }),
  presets: { alexnet: { arch: 'alexnet', numClasses: 1000, dropout: 0.5 } },
  layerGroups: alexnetLayerGroups,
};

registerModelFamily(alexnetFamily);
