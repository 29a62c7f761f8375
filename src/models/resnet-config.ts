/**
 * ResNet's config: torchvision's builder arguments (arch, block, layers, groups, widthPerGroup, …),
 * their check, finetune's config.json both ways (torchvision has none), the presets and the size
 * estimate. The reader and writer pieces are the shared base's (pretrained-config.ts).
 *
 * config.json: `model_type` 'resnet' with the torchvision builder name and structure, e.g.
 * `{"model_type":"resnet","architectures":["ResNet"],"arch":"resnet50","block":"bottleneck",
 *   "layers":[3,4,6,3],"num_classes":1000,…}`. Hugging Face's transformers ResNet
 * (microsoft/resnet-50) is a different layout and is not read by this family.
 */
import { ConfigJsonReader, field, fieldsToJson, type ConfigFields } from './pretrained-config.js';
import { MAX_LABELS, MAX_LAYERS, type HfConfig, type ModelSizePart } from './registry.js';

/** torchvision's ResNet builders. */
export type ResNetArch =
  | 'resnet18'
  | 'resnet34'
  | 'resnet50'
  | 'resnet101'
  | 'resnet152'
  | 'resnext50_32x4d'
  | 'resnext101_32x8d'
  | 'resnext101_64x4d'
  | 'wide_resnet50_2'
  | 'wide_resnet101_2';

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
  const base =
    config.arch !== undefined && Object.hasOwn(ARCHS, config.arch) ? ARCHS[config.arch as ResNetArch] : undefined;
  if (config.arch !== undefined && !base && (config.block === undefined || config.layers === undefined)) {
    throw new Error(
      `ResNet: unknown arch '${config.arch}' (known: ${Object.keys(ARCHS).join(', ')}); give block and layers for a custom one`,
    );
  }
  const block = config.block ?? base?.block;
  const layers = config.layers ?? base?.layers;
  if (block === undefined || layers === undefined)
    throw new Error('ResNet: a config needs an arch (e.g. resnet50) or both block and layers');
  const resolved: ResolvedResNetConfig = {
    arch: config.arch ?? 'resnet',
    block,
    layers: [...layers] as unknown as ResolvedResNetConfig['layers'],
    numClasses: config.numClasses ?? 1000,
    zeroInitResidual: config.zeroInitResidual ?? false,
    groups: config.groups ?? base?.groups ?? 1,
    widthPerGroup: config.widthPerGroup ?? base?.widthPerGroup ?? 64,
    replaceStrideWithDilation: [
      ...(config.replaceStrideWithDilation ?? [false, false, false]),
    ] as unknown as ResolvedResNetConfig['replaceStrideWithDilation'],
  };
  if (block !== 'basic' && block !== 'bottleneck')
    throw new Error(`ResNet: block must be 'basic' or 'bottleneck', got '${String(block)}'`);
  if (resolved.layers.length !== 4 || !resolved.layers.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_LAYERS)) {
    throw new Error(`ResNet: layers must be 4 positive integers up to ${MAX_LAYERS}, got [${resolved.layers}]`);
  }
  if (resolved.numClasses > MAX_LABELS)
    throw new Error(
      `ResNet: numClasses must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${resolved.numClasses}`,
    );
  if (resolved.replaceStrideWithDilation.length !== 3) {
    throw new Error(
      `ResNet: replaceStrideWithDilation must have 3 booleans, got [${resolved.replaceStrideWithDilation}]`,
    );
  }
  for (const key of ['numClasses', 'groups', 'widthPerGroup'] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1)
      throw new Error(`ResNet: ${key} must be a positive integer, got ${resolved[key]}`);
  }
  return resolved;
}

// ---- config.json (finetune's own format) -------------------------------------------

/** ResNet's config.json fields, in the order configToHf writes them. */
const FIELDS: ConfigFields<ResNetConfig> = {
  arch: field.typed('string'),
  block: field.oneOf(['basic', 'bottleneck'], "'basic' or 'bottleneck'"),
  layers: field.positiveIntegers(4, `4 positive integers up to ${MAX_LAYERS}`, MAX_LAYERS),
  numClasses: field.positiveInteger(MAX_LABELS),
  groups: field.positiveInteger(),
  widthPerGroup: field.positiveInteger(),
  zeroInitResidual: field.boolean(),
  replaceStrideWithDilation: field.booleans(3),
};

/** Reads finetune's resnet config.json; unknown keys are ignored, missing ones defaulted. */
export function resnetConfigFromJson(json: HfConfig): ResolvedResNetConfig {
  const reader = new ConfigJsonReader(json, 'resnet config.json');
  reader.checkModelType('resnet');
  const architectures = json.architectures;
  if (Array.isArray(architectures) && architectures.some((a) => typeof a === 'string' && a.startsWith('ResNetFor'))) {
    throw new Error(
      `resnet config.json: this is a transformers ResNet (${architectures.join(', ')}), a different layout ` +
        "from torchvision's; finetune's resnet family reads torchvision checkpoints and the config.json that configToHf writes",
    );
  }
  const config = reader.fields(FIELDS);
  if (config.arch === undefined && (config.block === undefined || config.layers === undefined)) {
    throw new Error("resnet config.json: needs 'arch' (e.g. \"resnet50\") or both 'block' and 'layers'");
  }
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
    ...fieldsToJson(c, Object.keys(FIELDS) as (keyof ResNetConfig & string)[]),
  };
}

/** Named configurations: torchvision's builders, with ImageNet's 1000 classes. */
export const RESNET_PRESETS: Readonly<Record<string, Readonly<ResNetConfig>>> = Object.fromEntries(
  (['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnext50_32x4d', 'wide_resnet50_2'] as const).map(
    (arch) => [arch, { arch, numClasses: 1000 }],
  ),
);
