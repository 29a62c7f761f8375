/**
 * ResNet, after torchvision/models/resnet.py: BasicBlock, Bottleneck and ResNet with
 * torchvision's attribute names, so state-dict keys are torchvision's (`conv1.weight`,
 * `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.weight`, …) and a
 * torchvision checkpoint loads as is. Also ResNeXt and Wide ResNet (groups, widthPerGroup).
 * The config, finetune's config.json format and the presets are in resnet-config.ts (re-exported here).
 */
import { tidy, type Tensor } from '../tensor/index.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  init,
  Linear,
  MaxPool2d,
  GradientCheckpointingLayer,
  Module,
  ReLU,
  Sequential,
} from '../nn/index.js';
import { unnamedClasses } from './pretrained-config.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';
import { registerModelFamily, type LayerGroup, type ModelFamily } from './registry.js';
import { stagedSplit } from './frozen-prefix.js';
import {
  RESNET_PRESETS,
  resnetConfigFromJson,
  resnetConfigToJson,
  resnetSizeParts,
  resolveResNetConfig,
  type ResNetConfig,
  type ResolvedResNetConfig,
} from './resnet-config.js';

export * from './resnet-config.js';

/** 3×3 convolution with padding. */
function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, bias: false, dilation });
}

/** 1×1 convolution. */
function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/** Two 3×3 convolutions (ResNet-18/34). */
export class BasicBlock extends GradientCheckpointingLayer {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null;

  constructor(
    inplanes: number,
    planes: number,
    readonly stride = 1,
    downsample: Sequential | null = null,
    groups = 1,
    baseWidth = 64,
    dilation = 1,
  ) {
    super();
    if (groups !== 1 || baseWidth !== 64) throw new Error('BasicBlock only supports groups=1 and widthPerGroup=64');
    if (dilation > 1) throw new Error('Dilation > 1 not supported in BasicBlock');
    // Both this.conv1 and this.downsample downsample the input when stride != 1
    this.conv1 = conv3x3(inplanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes);
    this.relu = new ReLU(true);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes);
    this.downsample = downsample;
  }

  forward(input: Tensor): Tensor {
    return this.checkpointed(
      (x: Tensor) =>
        tidy(() => {
          let identity = x;

          let out = this.conv1.forward(x);
          out = this.bn1.forward(out);
          out = this.relu.forward(out);

          out = this.conv2.forward(out);
          out = this.bn2.forward(out);

          if (this.downsample) identity = this.downsample.forward(x);

          out = out.add_(identity); // torchvision's out += identity
          out = this.relu.forward(out);
          return out;
        }),
      input,
    );
  }
}

// torchvision's Bottleneck repeats BasicBlock's conv → bn → relu stages (scripts/lint.sh)
// jscpd:ignore-start
/**
 * 1×1 → 3×3 → 1×1 convolutions (ResNet-50/101/152), with the stride on the 3×3 convolution
 * (ResNet V1.5, as torchvision).
 */
export class Bottleneck extends GradientCheckpointingLayer {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  relu: ReLU;
  downsample: Sequential | null;

  constructor(
    inplanes: number,
    planes: number,
    readonly stride = 1,
    downsample: Sequential | null = null,
    groups = 1,
    baseWidth = 64,
    dilation = 1,
  ) {
    super();
    const width = Math.floor(planes * (baseWidth / 64)) * groups;
    // Both this.conv2 and this.downsample downsample the input when stride != 1
    this.conv1 = conv1x1(inplanes, width);
    this.bn1 = new BatchNorm2d(width);
    this.conv2 = conv3x3(width, width, stride, groups, dilation);
    this.bn2 = new BatchNorm2d(width);
    this.conv3 = conv1x1(width, planes * Bottleneck.expansion);
    this.bn3 = new BatchNorm2d(planes * Bottleneck.expansion);
    this.relu = new ReLU(true);
    this.downsample = downsample;
  }

  forward(input: Tensor): Tensor {
    return this.checkpointed(
      (x: Tensor) =>
        tidy(() => {
          let identity = x;

          let out = this.conv1.forward(x);
          out = this.bn1.forward(out);
          out = this.relu.forward(out);

          out = this.conv2.forward(out);
          out = this.bn2.forward(out);
          out = this.relu.forward(out);

          out = this.conv3.forward(out);
          out = this.bn3.forward(out);

          if (this.downsample) identity = this.downsample.forward(x);

          out = out.add_(identity); // torchvision's out += identity
          out = this.relu.forward(out);
          return out;
        }),
      input,
    );
  }
}
// jscpd:ignore-end

type Block = typeof BasicBlock | typeof Bottleneck;

/** ResNet: stem, four stages of residual blocks, global average pooling and a linear head `fc`. */
export class ResNet extends PretrainedModel<ResolvedResNetConfig> {
  /** forward takes the image tensor (see BatchInput). */
  static readonly batchInput: BatchInput = 'tensor';
  readonly config: ResolvedResNetConfig;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  maxpool: MaxPool2d;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  // _make_layer's running state, as in torchvision
  #inplanes = 64;
  #dilation = 1;

  constructor(config: ResNetConfig = { arch: 'resnet50' }) {
    super();
    this.config = resolveResNetConfig(config);
    const { numClasses, zeroInitResidual, replaceStrideWithDilation } = this.config;
    const block: Block = this.config.block === 'basic' ? BasicBlock : Bottleneck;

    this.conv1 = new Conv2d(3, this.#inplanes, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(this.#inplanes);
    this.relu = new ReLU(true);
    this.maxpool = new MaxPool2d(3, 2, 1);
    this.layer1 = this.makeLayer(block, 64, this.config.layers[0]);
    this.layer2 = this.makeLayer(block, 128, this.config.layers[1], 2, replaceStrideWithDilation[0]);
    this.layer3 = this.makeLayer(block, 256, this.config.layers[2], 2, replaceStrideWithDilation[1]);
    this.layer4 = this.makeLayer(block, 512, this.config.layers[3], 2, replaceStrideWithDilation[2]);
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.fc = new Linear(512 * block.expansion, numClasses);

    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.kaimingNormal_(m.weight, 0, 'fanOut');
      } else if (m instanceof BatchNorm2d) {
        if (m.weight) init.constant_(m.weight, 1);
        if (m.bias) init.constant_(m.bias, 0);
      }
    }

    // Zero-initialise the last BN in each residual branch, so that the residual branch starts
    // with zeros and each residual block behaves like an identity (arXiv:1706.02677).
    if (zeroInitResidual) {
      for (const m of this.modules()) {
        if (m instanceof Bottleneck && m.bn3.weight) init.constant_(m.bn3.weight, 0);
        else if (m instanceof BasicBlock && m.bn2.weight) init.constant_(m.bn2.weight, 0);
      }
    }
  }

  private makeLayer(block: Block, planes: number, blocks: number, stride = 1, dilate = false): Sequential {
    let downsample: Sequential | null = null;
    const previousDilation = this.#dilation;
    if (dilate) {
      this.#dilation *= stride;
      stride = 1;
    }
    if (stride !== 1 || this.#inplanes !== planes * block.expansion) {
      downsample = new Sequential(
        conv1x1(this.#inplanes, planes * block.expansion, stride),
        new BatchNorm2d(planes * block.expansion),
      );
    }

    const { groups, widthPerGroup } = this.config;
    const layers = [new block(this.#inplanes, planes, stride, downsample, groups, widthPerGroup, previousDilation)];
    this.#inplanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) {
      layers.push(new block(this.#inplanes, planes, 1, null, groups, widthPerGroup, this.#dilation));
    }
    return new Sequential(...layers);
  }

  /** Pooled features before the head: [N, 512·expansion]. */
  forwardFeatures(x: Tensor): Tensor {
    return tidy(() => {
      x = this.conv1.forward(x);
      x = this.bn1.forward(x);
      x = this.relu.forward(x);
      x = this.maxpool.forward(x);

      x = this.layer1.forward(x);
      x = this.layer2.forward(x);
      x = this.layer3.forward(x);
      x = this.layer4.forward(x);

      x = this.avgpool.forward(x);
      x = x.flatten(1);
      return x;
    });
  }

  /** Logits [N, numClasses] of images [N, 3, H, W]. */
  forward(x: Tensor): Tensor {
    return tidy(() => this.fc.forward(this.forwardFeatures(x)));
  }

  /**
   * Replaces the head `fc` by a new Linear for `numClasses` (PyTorch's default init), keeping
   * every backbone weight — transfer learning's `model.fc = nn.Linear(…)`. The old head is disposed.
   */
  resetClassifier(numClasses: number): Linear {
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new Error(`resetClassifier: numClasses must be a positive integer, got ${numClasses}`);
    const old = this.fc;
    this.fc = new Linear(old.inFeatures, numClasses);
    old.dispose();
    this.config.numClasses = numClasses;
    return this.fc;
  }

  override extraRepr(): string {
    return `arch=${this.config.arch}`;
  }
}

// ---- builders, as torchvision.models ----------------------------------------------

type BuilderOptions = Omit<ResNetConfig, 'arch' | 'block' | 'layers'>;

export const resnet18 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnet18' });
export const resnet34 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnet34' });
export const resnet50 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnet50' });
export const resnet101 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnet101' });
export const resnet152 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnet152' });
export const resnext50_32x4d = (options: BuilderOptions = {}): ResNet =>
  new ResNet({ ...options, arch: 'resnext50_32x4d' });
export const wide_resnet50_2 = (options: BuilderOptions = {}): ResNet =>
  new ResNet({ ...options, arch: 'wide_resnet50_2' });

/**
 * ResNet's layer groups, input side first: `stem` (conv1, bn1, relu, maxpool), `layer1` … `layer4`
 * (torchvision's stages, each ending at a resolution change), `head` (avgpool, fc).
 */
function resnetLayerGroups(model: Module): LayerGroup[] {
  if (!(model instanceof ResNet))
    throw new Error(`resnet layer groups: unknown architecture ${model.constructor.name}`);
  return [
    { name: 'stem', modules: [model.conv1, model.bn1, model.relu, model.maxpool] },
    { name: 'layer1', modules: [model.layer1] },
    { name: 'layer2', modules: [model.layer2] },
    { name: 'layer3', modules: [model.layer3] },
    { name: 'layer4', modules: [model.layer4] },
    { name: 'head', modules: [model.avgpool, model.fc] },
  ];
}

/**
 * ResNet split at its layer groups (frozen-prefix.ts): the stem, the four stages, the head. layer4's
 * stage ends with the head's parameterless pooling, so a head-only run caches pooled features.
 */
const resnetFrozenPrefix = stagedSplit(ResNet, (model) => [
  (x) => model.maxpool.forward(model.relu.forward(model.bn1.forward(model.conv1.forward(x)))),
  (x) => model.layer1.forward(x),
  (x) => model.layer2.forward(x),
  (x) => model.layer3.forward(x),
  (x) => model.avgpool.forward(model.layer4.forward(x)).flatten(1),
  (x) => model.fc.forward(x),
]);

export const resnetFamily: ModelFamily<ResNetConfig> = {
  modelType: 'resnet',
  architectures: { ResNet: (config) => new ResNet(config) },
  configFromHf: resnetConfigFromJson,
  sizeParts: resnetSizeParts,
  configToHf: resnetConfigToJson,
  withNumLabels: (config, numLabels) => ({ ...config, numClasses: numLabels }),
  presets: RESNET_PRESETS,
  headLabels: (config) => unnamedClasses(resolveResNetConfig(config).numClasses),
  layerGroups: resnetLayerGroups,
  frozenPrefix: resnetFrozenPrefix,
};

registerModelFamily(resnetFamily);
