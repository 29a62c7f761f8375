/**
 * AlexNet, after torchvision/models/alexnet.py ("One weird trick…", arXiv:1404.5997): the
 * attribute paths are torchvision's (`features.0.weight`, `classifier.1.weight`, …), so a
 * torchvision checkpoint loads as is. Layers keep PyTorch's default initialisation, as there.
 *
 * The config, finetune's config.json format and the presets are in alexnet-config.ts (re-exported here).
 */
import { tidy, type Tensor } from '../tensor/index.js';
import {
  AdaptiveAvgPool2d,
  Conv2d,
  Dropout,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  type TensorModule,
} from '../nn/index.js';
import {
  ALEXNET_PRESETS,
  ALEXNET_WIDTHS,
  alexnetConfigFromJson,
  alexnetConfigToJson,
  alexnetSizeParts,
  resolveAlexNetConfig,
  type AlexNetConfig,
  type ResolvedAlexNetConfig,
} from './alexnet-config.js';
import { unnamedClasses } from './pretrained-config.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';
import { registerModelFamily, type LayerGroup, type ModelFamily } from './registry.js';
import { stagedSplit } from './frozen-prefix.js';

export * from './alexnet-config.js';

export class AlexNet extends PretrainedModel<ResolvedAlexNetConfig> {
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
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new Error(`resetClassifier: numClasses must be a positive integer, got ${numClasses}`);
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

/**
 * AlexNet's layer groups, after the paper's layer names: `conv1` … `conv5` (each convolution of
 * `features` with the ReLU and max-pool after it), `fc6`, `fc7` (the classifier's hidden layers,
 * each with its dropout and ReLU), and `head` = `classifier.6` alone, the layer resetClassifier
 * replaces. fc6 and fc7 are groups of their own rather than part of the head because they hold
 * 54.5M of AlexNet's 61.1M parameters: a head-only strategy training them would hardly freeze
 * anything, and top-k or gradual unfreezing reach them first anyway.
 */
function alexnetLayerGroups(model: Module): LayerGroup[] {
  if (!(model instanceof AlexNet))
    throw new Error(`alexnet layer groups: unknown architecture ${model.constructor.name}`);
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

/**
 * AlexNet split at its layer groups (frozen-prefix.ts): conv1 … conv5 (conv5 with the pooling and
 * flattening before the classifier), fc6, fc7, head.
 */
const alexnetFrozenPrefix = stagedSplit(AlexNet, (model) => {
  const groups = alexnetLayerGroups(model);
  const run = (modules: Module[]) => (x: Tensor) =>
    (modules as TensorModule[]).reduce((value, m) => m.forward(value), x);
  return groups.map(({ name, modules }) =>
    name === 'conv5' ? (x: Tensor) => model.avgpool.forward(run(modules)(x)).flatten(1) : run(modules),
  );
});

export const alexnetFamily: ModelFamily<AlexNetConfig> = {
  modelType: 'alexnet',
  architectures: { AlexNet: (config) => new AlexNet(config) },
  configFromHf: alexnetConfigFromJson,
  sizeParts: alexnetSizeParts,
  configToHf: alexnetConfigToJson,
  withNumLabels: (config, numLabels) => ({ ...config, numClasses: numLabels }),
  presets: ALEXNET_PRESETS,
  headLabels: (config) => unnamedClasses(resolveAlexNetConfig(config).numClasses),
  layerGroups: alexnetLayerGroups,
  frozenPrefix: alexnetFrozenPrefix,
};

registerModelFamily(alexnetFamily);
