/**
 * AlexNet, after torchvision/models/alexnet.py ("One weird trick…", arXiv:1404.5997): the
 * attribute paths are torchvision's (`features.0.weight`, `classifier.1.weight`, …), so a
 * torchvision checkpoint loads as is. Layers keep PyTorch's default initialisation, as there.
 *
 * config.json is finetune's own format (torchvision has none):
 * `{"model_type":"alexnet","architectures":["AlexNet"],"arch":"alexnet","num_classes":1000,"dropout":0.5}`.
 * Narrower networks in the same layout (the same modules, keys and layer groups, fewer channels)
 * add `in_channels`, `conv_channels` and `hidden_size`; the `alexnet-small` preset is one, for
 * 1-channel images such as Fashion-MNIST resized to 64×64 (the layout needs at least 63×63 px).
 */
import { tidy, type Tensor } from '../tensor/index.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn/index.js';
import { MAX_LABELS, registerModelFamily, type HfConfig, type LayerGroup, type ModelFamily, type ModelSizePart } from './registry.js';
import type { BatchInput } from './batch-input.js';

/** An AlexNet configuration: `{ arch: 'alexnet', numClasses: 10, dropout: 0.5 }`. */
export interface AlexNetConfig {
  arch?: 'alexnet';
  /** Output classes of `classifier.6` (1000, ImageNet). */
  numClasses?: number;
  /** Dropout probability of `classifier.0` and `classifier.3`. */
  dropout?: number;
  /** Input channels of `features.0` (3, RGB). */
  inChannels?: number;
  /** Output channels of the five convolutions `features.0`, `.3`, `.6`, `.8`, `.10` ([64, 192, 384, 256, 256]). */
  convChannels?: number[];
  /** Width of the hidden layers `classifier.1` and `classifier.4` (4096). */
  hiddenSize?: number;
}

/** torchvision's widths, which a config leaves out (and config.json does not write) unless it changes them. */
export const ALEXNET_WIDTHS = Object.freeze({ inChannels: 3, convChannels: Object.freeze([64, 192, 384, 256, 256]), hiddenSize: 4096 });

/** arch, numClasses and dropout always; the widths only when they differ from torchvision's (ALEXNET_WIDTHS). */
export type ResolvedAlexNetConfig = Required<Pick<AlexNetConfig, 'arch' | 'numClasses' | 'dropout'>> & Pick<AlexNetConfig, 'inChannels' | 'convChannels' | 'hiddenSize'>;

const positiveInteger = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;

export function resolveAlexNetConfig(config: AlexNetConfig): ResolvedAlexNetConfig {
  const resolved: ResolvedAlexNetConfig = { arch: 'alexnet', numClasses: config.numClasses ?? 1000, dropout: config.dropout ?? 0.5 };
  if (config.arch !== undefined && config.arch !== 'alexnet') throw new Error(`AlexNet: arch must be 'alexnet', got '${String(config.arch)}'`);
  if (!Number.isInteger(resolved.numClasses) || resolved.numClasses < 1) throw new Error(`AlexNet: numClasses must be a positive integer, got ${resolved.numClasses}`);
  if (resolved.numClasses > MAX_LABELS) throw new Error(`AlexNet: numClasses must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${resolved.numClasses}`);
  if (!(resolved.dropout >= 0 && resolved.dropout <= 1)) throw new Error(`AlexNet: dropout must be in [0, 1], got ${resolved.dropout}`);
  const { inChannels, convChannels, hiddenSize } = config;
  if (inChannels !== undefined) {
    if (!positiveInteger(inChannels)) throw new Error(`AlexNet: inChannels must be a positive integer, got ${String(inChannels)}`);
    if (inChannels !== ALEXNET_WIDTHS.inChannels) resolved.inChannels = inChannels;
  }
  if (convChannels !== undefined) {
    if (!Array.isArray(convChannels) || convChannels.length !== 5 || !convChannels.every(positiveInteger)) {
      throw new Error(`AlexNet: convChannels must be 5 positive integers (features.0, .3, .6, .8, .10), got ${JSON.stringify(convChannels)}`);
    }
    if (convChannels.some((c, i) => c !== ALEXNET_WIDTHS.convChannels[i])) resolved.convChannels = [...convChannels];
  }
  if (hiddenSize !== undefined) {
    if (!positiveInteger(hiddenSize)) throw new Error(`AlexNet: hiddenSize must be a positive integer, got ${String(hiddenSize)}`);
    if (hiddenSize !== ALEXNET_WIDTHS.hiddenSize) resolved.hiddenSize = hiddenSize;
  }
  return resolved;
}

export class AlexNet extends Module {
  /** forward takes the image tensor (see BatchInput). */
  static readonly batchInput: BatchInput = 'tensor';
  readonly config: ResolvedAlexNetConfig;
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(config: AlexNetConfig = {}) {
    super();
    this.config = resolveAlexNetConfig(config);
    const { numClasses, dropout } = this.config;
    const inChannels = this.config.inChannels ?? ALEXNET_WIDTHS.inChannels;
    const [c1, c2, c3, c4, c5] = this.config.convChannels ?? ALEXNET_WIDTHS.convChannels;
    const hidden = this.config.hiddenSize ?? ALEXNET_WIDTHS.hiddenSize;
    this.features = new Sequential(
      new Conv2d(inChannels, c1, 11, { stride: 4, padding: 2 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
      new Conv2d(c1, c2, 5, { padding: 2 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
      new Conv2d(c2, c3, 3, { padding: 1 }),
      new ReLU(true),
      new Conv2d(c3, c4, 3, { padding: 1 }),
      new ReLU(true),
      new Conv2d(c4, c5, 3, { padding: 1 }),
      new ReLU(true),
      new MaxPool2d(3, 2),
    );
    this.avgpool = new AdaptiveAvgPool2d([6, 6]);
    this.classifier = new Sequential(
      new Dropout(dropout),
      new Linear(c5 * 6 * 6, hidden),
      new ReLU(true),
      new Dropout(dropout),
      new Linear(hidden, hidden),
      new ReLU(true),
      new Linear(hidden, numClasses),
    );
  }

  /** Pooled, flattened convolutional features: [N, 9216] (convChannels[4] × 36). */
  forwardFeatures(x: Tensor): Tensor {
    return tidy(() => {
      x = this.features.forward(x);
      x = this.avgpool.forward(x);
      x = x.flatten(1);
      return x;
    });
  }

  /** Logits [N, numClasses] of images [N, inChannels, H, W] (224×224 in torchvision's weights; at least 63×63). */
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
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_LABELS) fail('num_classes', `a positive integer up to ${MAX_LABELS}`, n);
    config.numClasses = n;
  }
  if (json.dropout !== undefined) {
    const p = json.dropout;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('dropout', 'a number in [0, 1]', p);
    config.dropout = p;
  }
  if (json.in_channels !== undefined) {
    if (!positiveInteger(json.in_channels)) fail('in_channels', 'a positive integer', json.in_channels);
    config.inChannels = json.in_channels;
  }
  if (json.conv_channels !== undefined) {
    const c = json.conv_channels;
    if (!Array.isArray(c) || c.length !== 5 || !c.every(positiveInteger)) fail('conv_channels', 'a list of 5 positive integers', c);
    config.convChannels = c as number[];
  }
  if (json.hidden_size !== undefined) {
    if (!positiveInteger(json.hidden_size)) fail('hidden_size', 'a positive integer', json.hidden_size);
    config.hiddenSize = json.hidden_size;
  }
  return resolveAlexNetConfig(config);
}

/** AlexNet's parameters by part, from the config alone (see ModelFamily.sizeParts): the five convolutions, fc6 and fc7, the head. */
export function alexnetSizeParts(config: AlexNetConfig): ModelSizePart[] {
  const c = resolveAlexNetConfig(config);
  const inChannels = c.inChannels ?? ALEXNET_WIDTHS.inChannels;
  const channels = c.convChannels ?? ALEXNET_WIDTHS.convChannels;
  const hidden = c.hiddenSize ?? ALEXNET_WIDTHS.hiddenSize;
  const kernels = [11, 5, 3, 3, 3];
  const convolutions = channels.reduce((total, out, i) => total + ((i === 0 ? inChannels : channels[i - 1]) * kernels[i] ** 2 + 1) * out, 0);
  return [
    { part: 'convolutions', parameters: convolutions, fields: { in_channels: inChannels, conv_channels: channels } },
    { part: 'fc6 and fc7', parameters: (channels[4] * 36 + 1) * hidden + (hidden + 1) * hidden, fields: { conv_channels: channels, hidden_size: hidden } },
    { part: 'head', parameters: (hidden + 1) * c.numClasses, fields: { hidden_size: hidden, num_classes: c.numClasses } },
  ];
}

/** Writes finetune's alexnet config.json (the widths only when they are not torchvision's). */
export function alexnetConfigToJson(config: AlexNetConfig, architecture = 'AlexNet'): HfConfig {
  const c = resolveAlexNetConfig(config);
  const json: HfConfig = { model_type: 'alexnet', architectures: [architecture], arch: c.arch, num_classes: c.numClasses, dropout: c.dropout };
  if (c.inChannels !== undefined) json.in_channels = c.inChannels;
  if (c.convChannels !== undefined) json.conv_channels = [...c.convChannels];
  if (c.hiddenSize !== undefined) json.hidden_size = c.hiddenSize;
  return json;
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
  sizeParts: alexnetSizeParts,
  configToHf: alexnetConfigToJson,
  withNumLabels: (config, numLabels) => ({ ...config, numClasses: numLabels }),
  presets: {
    alexnet: { arch: 'alexnet', numClasses: 1000, dropout: 0.5 },
    /**
     * torchvision's layout with 1 input channel, a quarter of the convolution widths and 256-wide
     * hidden layers (813,498 parameters with 10 classes): the demo's CNN, for grayscale images resized
     * to 64×64 (the last feature map is then 1×1, which the 6×6 average pool repeats).
     */
    'alexnet-small': { arch: 'alexnet', numClasses: 10, dropout: 0.5, inChannels: 1, convChannels: [16, 48, 96, 64, 64], hiddenSize: 256 },
  },
  layerGroups: alexnetLayerGroups,
};

registerModelFamily(alexnetFamily);
