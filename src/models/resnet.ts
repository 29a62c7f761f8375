/**
 * ResNet, after torchvision/models/resnet.py: BasicBlock, Bottleneck and ResNet with
 * torchvision's attribute names, so state-dict keys are torchvision's (`conv1.weight`,
 * `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.weight`, …) and a
 * torchvision checkpoint loads as is. Also ResNeXt and Wide ResNet (groups, widthPerGroup).
 *
 * config.json is finetune's own format (torchvision has none): `model_type` 'resnet' with the
 * torchvision builder name and structure, e.g.
 * `{"model_type":"resnet","architectures":["ResNet"],"arch":"resnet50","block":"bottleneck",
 *   "layers":[3,4,6,3],"num_classes":1000,…}`. Hugging Face's transformers ResNet
 * (microsoft/resnet-50) is a different layout and is not read by this family.
 */
import { tidy, type Tensor } from '../tensor/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, init, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn/index.js';
import { MAX_LABELS, MAX_LAYERS, registerModelFamily, type HfConfig, type LayerGroup, type ModelFamily, type ModelSizePart } from './registry.js';
import type { BatchInput } from './batch-input.js';

/** torchvision's ResNet builders. */
export type ResNetArch =
  | 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152'
  | 'resnext50_32x4d' | 'resnext101_32x8d' | 'resnext101_64x4d'
  | 'wide_resnet50_2' | 'wide_resnet101_2';

export type ResNetBlockType = 'basic' | 'bottleneck';

/**
 * A ResNet configuration: `{ arch: 'resnet50', numClasses: 10 }`. `arch` sets block, layers,
 * groups and widthPerGroup as torchvision's builder of that name does; fields given explicitly
 * win (a custom depth needs no arch: `{ block: 'basic', layers: [1, 1, 1, 1] }`).
 */
export interface ResNetConfig {
  arch?: ResNetArch | string;
  block?: ResNetBlockType;
  /** Blocks in layer1 … layer4. */
  layers?: readonly [number, number, number, number];
  /** Output classes of `fc` (1000, ImageNet). */
  numClasses?: number;
  /** Zero-initialise the last BN of each residual branch, so each block starts as the identity. */
  zeroInitResidual?: boolean;
  groups?: number;
  widthPerGroup?: number;
  /** Replace the stride of layer2, layer3, layer4 by dilation (for dense prediction). */
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean];
}

export type ResolvedResNetConfig = Required<ResNetConfig>;

const ARCHS: Record<ResNetArch, Pick<ResolvedResNetConfig, 'block' | 'layers' | 'groups' | 'widthPerGroup'>> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2], groups: 1, widthPerGroup: 64 },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 64 },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3], groups: 1, widthPerGroup: 64 },
  resnext50_32x4d: { block: 'bottleneck', layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 },
  resnext101_32x8d: { block: 'bottleneck', layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8 },
  resnext101_64x4d: { block: 'bottleneck', layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4 },
  wide_resnet50_2: { block: 'bottleneck', layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 128 },
  wide_resnet101_2: { block: 'bottleneck', layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 128 },
};

/** Fills in a config's defaults (from its arch, then torchvision's) and checks it. */
export function resolveResNetConfig(config: ResNetConfig): ResolvedResNetConfig {
  const base = config.arch !== undefined && Object.hasOwn(ARCHS, config.arch) ? ARCHS[config.arch as ResNetArch] : undefined;
  if (config.arch !== undefined && !base && (config.block === undefined || config.layers === undefined)) {
    throw new Error(`ResNet: unknown arch '${config.arch}' (known: ${Object.keys(ARCHS).join(', ')}); give block and layers for a custom one`);
  }
  const block = config.block ?? base?.block;
  const layers = config.layers ?? base?.layers;
  if (block === undefined || layers === undefined) throw new Error('ResNet: a config needs an arch (e.g. resnet50) or both block and layers');
  const resolved: ResolvedResNetConfig = {
    arch: config.arch ?? 'resnet',
    block,
    layers: [...layers] as unknown as ResolvedResNetConfig['layers'],
    numClasses: config.numClasses ?? 1000,
    zeroInitResidual: config.zeroInitResidual ?? false,
    groups: config.groups ?? base?.groups ?? 1,
    widthPerGroup: config.widthPerGroup ?? base?.widthPerGroup ?? 64,
    replaceStrideWithDilation: [...(config.replaceStrideWithDilation ?? [false, false, false])] as unknown as ResolvedResNetConfig['replaceStrideWithDilation'],
  };
  if (block !== 'basic' && block !== 'bottleneck') throw new Error(`ResNet: block must be 'basic' or 'bottleneck', got '${String(block)}'`);
  if (resolved.layers.length !== 4 || !resolved.layers.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_LAYERS)) {
    throw new Error(`ResNet: layers must be 4 positive integers up to ${MAX_LAYERS}, got [${resolved.layers}]`);
  }
  if (resolved.numClasses > MAX_LABELS) throw new Error(`ResNet: numClasses must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${resolved.numClasses}`);
  if (resolved.replaceStrideWithDilation.length !== 3) {
    throw new Error(`ResNet: replaceStrideWithDilation must have 3 booleans, got [${resolved.replaceStrideWithDilation}]`);
  }
  for (const key of ['numClasses', 'groups', 'widthPerGroup'] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1) throw new Error(`ResNet: ${key} must be a positive integer, got ${resolved[key]}`);
  }
  return resolved;
}

/** 3×3 convolution with padding. */
function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, bias: false, dilation });
}

/** 1×1 convolution. */
function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/** Two 3×3 convolutions (ResNet-18/34). */
export class BasicBlock extends Module {
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

  forward(x: Tensor): Tensor {
    return tidy(() => {
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
    });
  }
}

/**
 * 1×1 → 3×3 → 1×1 convolutions (ResNet-50/101/152), with the stride on the 3×3 convolution
 * (ResNet V1.5, as torchvision).
 */
export class Bottleneck extends Module {
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

  forward(x: Tensor): Tensor {
    return tidy(() => {
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
    });
  }
}

type Block = typeof BasicBlock | typeof Bottleneck;

/** ResNet: stem, four stages of residual blocks, global average pooling and a linear head `fc`. */
export class ResNet extends Module {
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
      downsample = new Sequential(conv1x1(this.#inplanes, planes * block.expansion, stride), new BatchNorm2d(planes * block.expansion));
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
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`resetClassifier: numClasses must be a positive integer, got ${numClasses}`);
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
export const resnext50_32x4d = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'resnext50_32x4d' });
export const wide_resnet50_2 = (options: BuilderOptions = {}): ResNet => new ResNet({ ...options, arch: 'wide_resnet50_2' });

// ---- config.json (finetune's own format) and the model family -----------------------

function fail(key: string, expected: string, value: unknown): never {
  throw new Error(`resnet config.json: '${key}' must be ${expected}, got ${JSON.stringify(value)}`);
}

function positiveInt(json: HfConfig, key: string): number | undefined {
  const value = json[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(key, 'a positive integer', value);
  return value;
}

/** Reads finetune's resnet config.json; unknown keys are ignored, missing ones defaulted. */
export function resnetConfigFromJson(json: HfConfig): ResolvedResNetConfig {
  if (json.model_type !== undefined && json.model_type !== 'resnet') fail('model_type', "'resnet'", json.model_type);
  const architectures = json.architectures;
  if (Array.isArray(architectures) && architectures.some((a) => typeof a === 'string' && a.startsWith('ResNetFor'))) {
    throw new Error(`resnet config.json: this is a transformers ResNet (${architectures.join(', ')}), a different layout ` +
      "from torchvision's; finetune's resnet family reads torchvision checkpoints and the config.json that configToHf writes");
  }
  const config: ResNetConfig = {};
  if (json.arch !== undefined) {
    if (typeof json.arch !== 'string') fail('arch', 'a string', json.arch);
    config.arch = json.arch;
  }
  if (json.block !== undefined) {
    if (json.block !== 'basic' && json.block !== 'bottleneck') fail('block', "'basic' or 'bottleneck'", json.block);
    config.block = json.block;
  }
  if (json.layers !== undefined) {
    const l = json.layers;
    if (!Array.isArray(l) || l.length !== 4 || !l.every((n) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_LAYERS)) {
      fail('layers', `4 positive integers up to ${MAX_LAYERS}`, l);
    }
    config.layers = l as unknown as [number, number, number, number];
  }
  config.numClasses = positiveInt(json, 'num_classes');
  if (config.numClasses !== undefined && config.numClasses > MAX_LABELS) fail('num_classes', `a positive integer up to ${MAX_LABELS}`, config.numClasses);
  config.groups = positiveInt(json, 'groups');
  config.widthPerGroup = positiveInt(json, 'width_per_group');
  if (json.zero_init_residual !== undefined) {
    if (typeof json.zero_init_residual !== 'boolean') fail('zero_init_residual', 'a boolean', json.zero_init_residual);
    config.zeroInitResidual = json.zero_init_residual;
  }
  if (json.replace_stride_with_dilation !== undefined) {
    const r = json.replace_stride_with_dilation;
    if (!Array.isArray(r) || r.length !== 3 || !r.every((b) => typeof b === 'boolean')) fail('replace_stride_with_dilation', '3 booleans', r);
    config.replaceStrideWithDilation = r as unknown as [boolean, boolean, boolean];
  }
  if (config.arch === undefined && (config.block === undefined || config.layers === undefined)) {
    throw new Error("resnet config.json: needs 'arch' (e.g. \"resnet50\") or both 'block' and 'layers'");
  }
  for (const key of Object.keys(config) as (keyof ResNetConfig)[]) if (config[key] === undefined) delete config[key];
  return resolveResNetConfig(config);
}

/**
 * ResNet's parameters by part, from the config alone (see ModelFamily.sizeParts), as the
 * constructor's convolutions, BatchNorm affines and fc add up; BatchNorm's running statistics,
 * buffers rather than parameters, are left out.
 */
export function resnetSizeParts(config: ResNetConfig): ModelSizePart[] {
  const c = resolveResNetConfig(config);
  const expansion = c.block === 'basic' ? 1 : 4;
  let inplanes = 64;
  const parts: ModelSizePart[] = [{ part: 'stem', parameters: 3 * 64 * 7 * 7 + 2 * 64, fields: {} }];
  c.layers.forEach((blocks, stage) => {
    const planes = 64 * 2 ** stage;
    const out = planes * expansion;
    const width = Math.floor(planes * (c.widthPerGroup / 64)) * c.groups;
    const block = (input: number): number =>
      c.block === 'basic'
        ? input * planes * 9 + planes * planes * 9 + 4 * planes
        : input * width + width * (width / c.groups) * 9 + width * out + 4 * width + 2 * out;
    const downsample = stage > 0 || inplanes !== out ? inplanes * out + 2 * out : 0;
    parts.push({
      part: `layer${stage + 1}`,
      parameters: block(inplanes) + downsample + (blocks - 1) * block(out),
      fields: { [`layers[${stage}]`]: blocks, groups: c.groups, width_per_group: c.widthPerGroup },
    });
    inplanes = out;
  });
  parts.push({ part: 'fc', parameters: (512 * expansion + 1) * c.numClasses, fields: { num_classes: c.numClasses } });
  return parts;
}

/** Writes finetune's resnet config.json (every field explicit). */
export function resnetConfigToJson(config: ResNetConfig, architecture = 'ResNet'): HfConfig {
  const c = resolveResNetConfig(config);
  return {
    model_type: 'resnet',
    architectures: [architecture],
    arch: c.arch,
    block: c.block,
    layers: [...c.layers],
    num_classes: c.numClasses,
    groups: c.groups,
    width_per_group: c.widthPerGroup,
    zero_init_residual: c.zeroInitResidual,
    replace_stride_with_dilation: [...c.replaceStrideWithDilation],
  };
}

/**
 * ResNet's layer groups, input side first: `stem` (conv1, bn1, relu, maxpool), `layer1` … `layer4`
 * (torchvision's stages, each ending at a resolution change), `head` (avgpool, fc).
 */
function resnetLayerGroups(model: Module): LayerGroup[] {
  if (!(model instanceof ResNet)) throw new Error(`resnet layer groups: unknown architecture ${model.constructor.name}`);
  return [
    { name: 'stem', modules: [model.conv1, model.bn1, model.relu, model.maxpool] },
    { name: 'layer1', modules: [model.layer1] },
    { name: 'layer2', modules: [model.layer2] },
    { name: 'layer3', modules: [model.layer3] },
    { name: 'layer4', modules: [model.layer4] },
    { name: 'head', modules: [model.avgpool, model.fc] },
  ];
}

export const resnetFamily: ModelFamily<ResNetConfig> = {
  modelType: 'resnet',
  architectures: { ResNet: (config) => new ResNet(config) },
  configFromHf: resnetConfigFromJson,
  sizeParts: resnetSizeParts,
  configToHf: resnetConfigToJson,
  withNumLabels: (config, numLabels) => ({ ...config, numClasses: numLabels }),
  presets: Object.fromEntries(
    (['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnext50_32x4d', 'wide_resnet50_2'] as const)
      .map((arch) => [arch, { arch, numClasses: 1000 }]),
  ),
  layerGroups: resnetLayerGroups,
};

registerModelFamily(resnetFamily);
