/**
 * AlexNet's config: torchvision's builder arguments (numClasses, dropout) and the widths of narrower
 * networks in the same layout, their check, finetune's config.json both ways (torchvision has none),
 * the presets and the size estimate. The reader and writer pieces are the shared base's (pretrained-config.ts).
 *
 * config.json: `{"model_type":"alexnet","architectures":["AlexNet"],"arch":"alexnet","num_classes":1000,"dropout":0.5}`.
 * Narrower networks in the same layout (the same modules, keys and layer groups, fewer channels)
 * add `in_channels`, `conv_channels` and `hidden_size`; the `alexnet-small` preset is one, for
 * 1-channel images such as Fashion-MNIST resized to 64×64 (the layout needs at least 63×63 px).
 */
import { ConfigJsonReader, field, fieldsToJson, type ConfigFields } from './pretrained-config.js';
import { MAX_LABELS, type HfConfig, type ModelSizePart } from './registry.js';

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
export const ALEXNET_WIDTHS = Object.freeze({
  inChannels: 3,
  convChannels: Object.freeze([64, 192, 384, 256, 256]),
  hiddenSize: 4096,
});

/** arch, numClasses and dropout always; the widths only when they differ from torchvision's (ALEXNET_WIDTHS). */
export type ResolvedAlexNetConfig = Required<Pick<AlexNetConfig, 'arch' | 'numClasses' | 'dropout'>> &
  Pick<AlexNetConfig, 'inChannels' | 'convChannels' | 'hiddenSize'>;

const positiveInteger = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;

export function resolveAlexNetConfig(config: AlexNetConfig): ResolvedAlexNetConfig {
  const resolved: ResolvedAlexNetConfig = {
    arch: 'alexnet',
    numClasses: config.numClasses ?? 1000,
    dropout: config.dropout ?? 0.5,
  };
  if (config.arch !== undefined && config.arch !== 'alexnet')
    throw new Error(`AlexNet: arch must be 'alexnet', got '${String(config.arch)}'`);
  if (!Number.isInteger(resolved.numClasses) || resolved.numClasses < 1)
    throw new Error(`AlexNet: numClasses must be a positive integer, got ${resolved.numClasses}`);
  if (resolved.numClasses > MAX_LABELS)
    throw new Error(
      `AlexNet: numClasses must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${resolved.numClasses}`,
    );
  if (!(resolved.dropout >= 0 && resolved.dropout <= 1))
    throw new Error(`AlexNet: dropout must be in [0, 1], got ${resolved.dropout}`);
  const { inChannels, convChannels, hiddenSize } = config;
  if (inChannels !== undefined) {
    if (!positiveInteger(inChannels))
      throw new Error(`AlexNet: inChannels must be a positive integer, got ${String(inChannels)}`);
    if (inChannels !== ALEXNET_WIDTHS.inChannels) resolved.inChannels = inChannels;
  }
  if (convChannels !== undefined) {
    if (!Array.isArray(convChannels) || convChannels.length !== 5 || !convChannels.every(positiveInteger)) {
      throw new Error(
        `AlexNet: convChannels must be 5 positive integers (features.0, .3, .6, .8, .10), got ${JSON.stringify(convChannels)}`,
      );
    }
    if (convChannels.some((c, i) => c !== ALEXNET_WIDTHS.convChannels[i])) resolved.convChannels = [...convChannels];
  }
  if (hiddenSize !== undefined) {
    if (!positiveInteger(hiddenSize))
      throw new Error(`AlexNet: hiddenSize must be a positive integer, got ${String(hiddenSize)}`);
    if (hiddenSize !== ALEXNET_WIDTHS.hiddenSize) resolved.hiddenSize = hiddenSize;
  }
  return resolved;
}

// ---- config.json (finetune's own format) -------------------------------------------

/** AlexNet's config.json fields, in the order configToHf writes them (the widths only when they are not torchvision's). */
const FIELDS: ConfigFields<AlexNetConfig> = {
  arch: field.oneOf(['alexnet'], "'alexnet'"),
  numClasses: field.positiveInteger(MAX_LABELS),
  dropout: field.fraction(),
  inChannels: field.positiveInteger(),
  convChannels: field.positiveIntegers(5, 'a list of 5 positive integers'),
  hiddenSize: field.positiveInteger(),
};

/** Reads finetune's alexnet config.json; unknown keys are ignored, missing ones defaulted. */
export function alexnetConfigFromJson(json: HfConfig): ResolvedAlexNetConfig {
  const reader = new ConfigJsonReader(json, 'alexnet config.json');
  reader.checkModelType('alexnet');
  return resolveAlexNetConfig(reader.fields(FIELDS));
}

/** AlexNet's parameters by part, from the config alone (see ModelFamily.sizeParts): the five convolutions, fc6 and fc7, the head. */
export function alexnetSizeParts(config: AlexNetConfig): ModelSizePart[] {
  const c = resolveAlexNetConfig(config);
  const inChannels = c.inChannels ?? ALEXNET_WIDTHS.inChannels;
  const channels = c.convChannels ?? ALEXNET_WIDTHS.convChannels;
  const hidden = c.hiddenSize ?? ALEXNET_WIDTHS.hiddenSize;
  const kernels = [11, 5, 3, 3, 3];
  const convolutions = channels.reduce(
    (total, out, i) => total + ((i === 0 ? inChannels : channels[i - 1]) * kernels[i] ** 2 + 1) * out,
    0,
  );
  return [
    { part: 'convolutions', parameters: convolutions, fields: { in_channels: inChannels, conv_channels: channels } },
    {
      part: 'fc6 and fc7',
      parameters: (channels[4] * 36 + 1) * hidden + (hidden + 1) * hidden,
      fields: { conv_channels: channels, hidden_size: hidden },
    },
    {
      part: 'head',
      parameters: (hidden + 1) * c.numClasses,
      fields: { hidden_size: hidden, num_classes: c.numClasses },
    },
  ];
}

/** Writes finetune's alexnet config.json (the widths only when they are not torchvision's). */
export function alexnetConfigToJson(config: AlexNetConfig, architecture = 'AlexNet'): HfConfig {
  const c = resolveAlexNetConfig(config);
  return {
    model_type: 'alexnet',
    architectures: [architecture],
    ...fieldsToJson(c, Object.keys(FIELDS) as (keyof AlexNetConfig & string)[]),
  };
}

/** Named configurations. */
export const ALEXNET_PRESETS: Readonly<Record<'alexnet' | 'alexnet-small', Readonly<AlexNetConfig>>> = {
  alexnet: { arch: 'alexnet', numClasses: 1000, dropout: 0.5 },
  /**
   * torchvision's layout with 1 input channel, a quarter of the convolution widths and 256-wide
   * hidden layers (813,498 parameters with 10 classes): the demo's CNN, for grayscale images resized
   * to 64×64 (the last feature map is then 1×1, which the 6×6 average pool repeats).
   */
  'alexnet-small': {
    arch: 'alexnet',
    numClasses: 10,
    dropout: 0.5,
    inChannels: 1,
    convChannels: [16, 48, 96, 64, 64],
    hiddenSize: 256,
  },
};
