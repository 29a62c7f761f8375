/**
 * Model families register here, so loaders (fromPretrained, the CLI) can build a model
 * from a Hugging Face config.json (`model_type` + `architectures`) or a preset name.
 */
import { totalmem } from 'node:os';

import { formatBytes, formatInteger } from '../format/numbers.js';
import type { Module, StateDict } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';
import type { HeadLabels } from './pretrained-config.js';
import type { FrozenPrefixSplit } from './frozen-prefix.js';

/** A config as stored in config.json: snake_case keys, as Hugging Face writes them. */
export type HfConfig = Record<string, unknown>;

/**
 * Consecutive layers that are frozen, unfrozen and given a learning rate together, like a fastai
 * parameter group. A family lists them from the input side to the head; the last group is the head.
 */
export interface LayerGroup {
  name: string;
  /** The group's modules; their parameters (and their descendants') are the group's. */
  modules: Module[];
}

/** A layer group's parameters, each with its dotted path in the model (as namedParameters names it). */
export interface ParameterGroup {
  name: string;
  parameters: [string, Tensor][];
}

/** One part of a model's parameters, as estimated from its config, with the config.json fields that set its size. */
export interface ModelSizePart {
  /** What it is: 'word embeddings', 'encoder layers', 'classifier'. */
  part: string;
  parameters: number;
  /** config.json key → value, for the fields the part's size is a product of. */
  fields: Record<string, unknown>;
}

export interface ModelFamily<Config = unknown> {
  /** Hugging Face `model_type` ('bert', 'vit'), or the torchvision family name ('alexnet', 'resnet'). */
  modelType: string;
  /**
   * Architecture names as in config.json's `architectures` → constructor. The first is the default.
   * Models that extend PretrainedModel can be saved (savePretrained, checkpoints) and report their head.
   */
  architectures: Record<string, (config: Config) => Module>;
  /** Reads config.json (unknown keys ignored, missing ones defaulted); throws naming a bad key. */
  configFromHf(json: HfConfig): Config;
  /** Writes config.json for `architecture`, readable by transformers where the family exists there. */
  configToHf(config: Config, architecture: string): HfConfig;
  /** Named configurations ('bert-base-uncased', 'bert-tiny', …). */
  presets: Record<string, Config>;
  /**
   * The backbone's attribute name in task models ('bert' in BertForSequenceClassification), so a
   * backbone-only checkpoint loads into a task model and back, as transformers' base_model_prefix.
   * Defaults to modelType.
   */
  baseModelPrefix?: string;
  /**
   * Sets the number of labels/classes in a config (the head is then built at that size).
   * Defaults to setting `numLabels`.
   */
  withNumLabels?(config: Config, numLabels: number): Config;
  /**
   * The head's size, class names and problem type of a config. Defaults to reading the shared label
   * fields (numLabels, id2label, problemType; see LabelsConfig).
   */
  headLabels?(config: Config): HeadLabels;
  /**
   * Family-specific key fixes after the generic alignment (prefix, legacy LayerNorm names),
   * e.g. dropping tied keys a checkpoint stores but the model does not own.
   */
  adaptStateDict?(state: StateDict, model: Module): StateDict;
  /**
   * The parameters of the family's largest architecture for `config`, in parts, from the config's
   * numbers alone: computed before anything is allocated, so a config.json with a huge width or
   * depth is refused (checkModelSize) instead of filling the machine's memory. A family without
   * it is built unchecked.
   */
  sizeParts?(config: Config): ModelSizePart[];
  /**
   * The model's layer groups, input side first and the head last, for freezing strategies,
   * gradual unfreezing and per-group learning rates. Modules without parameters may be left out;
   * every parameter must fall in some group (layerGroupsOf checks).
   */
  layerGroups?(model: Module): LayerGroup[];
  /**
   * How the family's models run their first layer groups alone and the rest from what those left
   * (see FrozenPrefixSplit): training on cached features of a frozen prefix. Absent: not supported.
   */
  frozenPrefix?: FrozenPrefixSplit;
}

/**
 * Bounds on config counts that size JavaScript objects as well as tensors (a label map, one module
 * per layer), so a memory estimate alone would not catch them: 1e9 layers of width 1 hold few
 * parameters but billions of modules. Far above any released model (ResNet-1001 has 111 blocks a stage).
 */
export const MAX_LABELS = 1_000_000;
export const MAX_LAYERS = 1024;

/** Bytes of float32, the dtype models are built in. */
const PARAMETER_BYTES = 4;

/**
 * The most bytes of parameters a model may be built with: FINETUNE_MAX_MODEL_BYTES (a number of
 * bytes) when set, else this machine's memory (os.totalmem()).
 */
export function maxModelBytes(): number {
  const setting = process.env.FINETUNE_MAX_MODEL_BYTES;
  if (setting === undefined || setting === '') return totalmem();
  const bytes = Number(setting);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new Error(
      `FINETUNE_MAX_MODEL_BYTES must be a positive whole number of bytes, got ${JSON.stringify(setting)}`,
    );
  }
  return bytes;
}

/** The estimated float32 parameter bytes of `family`'s model for `config` (its largest architecture); undefined for a family without sizeParts. */
export function estimateModelBytes(family: ModelFamily, config: unknown): number | undefined {
  return modelSize(family, config)?.bytes;
}

/**
 * Throws, before anything is allocated, when `config` describes a model whose float32 parameters
 * exceed maxModelBytes(), naming the estimate, the largest part and the config.json fields that set it.
 */
export function checkModelSize(family: ModelFamily, config: unknown): void {
  const size = modelSize(family, config);
  if (!size) return;
  const limit = maxModelBytes();
  if (size.bytes <= limit) return;
  const limitSource = process.env.FINETUNE_MAX_MODEL_BYTES ? 'FINETUNE_MAX_MODEL_BYTES' : "this machine's memory";
  throw new Error(
    `the ${family.modelType} model this config describes would hold ${size.amount}, more than ${limitSource} (${formatBytes(limit)}); refused before allocating. ` +
      `${size.largest} If the config is right, set FINETUNE_MAX_MODEL_BYTES to a larger number of bytes to build it anyway.`,
  );
}

/**
 * A family's size estimate for `config` (null without sizeParts): its bytes, and in words the
 * parameters with their float32 bytes, and the part that holds most of them with the fields that size it.
 */
export function modelSize(
  family: ModelFamily,
  config: unknown,
): { bytes: number; amount: string; largest: string } | null {
  if (!family.sizeParts) return null;
  const parts = family.sizeParts(config);
  const parameters = parts.reduce((total, part) => total + part.parameters, 0);
  const bytes = parameters * PARAMETER_BYTES;
  const largest = parts.reduce((a, b) => (b.parameters > a.parameters ? b : a));
  const fields = Object.entries(largest.fields)
    .map(([key, value]) => `${key} = ${JSON.stringify(value)}`)
    .join(', ');
  return {
    bytes,
    amount: `about ${formatInteger(parameters)} parameters (${formatBytes(bytes)} in float32)`,
    largest: `Most of it is the ${largest.part}, sized by ${fields}.`,
  };
}

const families = new Map<string, ModelFamily<unknown>>();

export function registerModelFamily<Config>(family: ModelFamily<Config>): void {
  families.set(family.modelType, family as ModelFamily<unknown>);
}

export function modelFamily(modelType: string): ModelFamily {
  const family = families.get(modelType);
  if (!family) throw new Error(`unknown model_type '${modelType}' (known: ${[...families.keys()].join(', ')})`);
  return family;
}

export function modelFamilies(): ModelFamily[] {
  return [...families.values()];
}

/** The family whose architectures include the model's class (e.g. BertForMaskedLM → bert). */
export function familyOfModel(model: Module): { family: ModelFamily; architecture: string } {
  const architecture = model.constructor.name;
  for (const family of families.values()) {
    if (Object.hasOwn(family.architectures, architecture)) return { family, architecture };
  }
  throw new Error(`${architecture} is not a registered model architecture`);
}

/**
 * The family and config of a preset name, e.g. 'bert-base-uncased' or 'resnet50'. Own properties
 * only: 'constructor' or 'toString' name no preset (an `in` test would find Object's methods).
 */
export function findPreset(name: string): { family: ModelFamily; config: unknown } | undefined {
  for (const family of families.values()) {
    if (Object.hasOwn(family.presets, name)) return { family, config: family.presets[name] };
  }
  return undefined;
}

/** The model's frozen-prefix split (ModelFamily.frozenPrefix), or null when its family (or the model) declares none. */
export function frozenPrefixSplitOf(model: Module): FrozenPrefixSplit | null {
  const architecture = model.constructor.name;
  for (const family of families.values())
    if (Object.hasOwn(family.architectures, architecture)) return family.frozenPrefix ?? null;
  return null;
}

/** Whether the model's family declares layer groups, i.e. whether layerGroupsOf(model) can answer. */
export function hasLayerGroups(model: Module): boolean {
  const architecture = model.constructor.name;
  return [...families.values()].some(
    (family) => Object.hasOwn(family.architectures, architecture) && family.layerGroups !== undefined,
  );
}

/**
 * The model's layer groups as its family declares them, checked: every parameter of the model is
 * in exactly one group. A parameter held by the modules of two groups (a tied weight) belongs to
 * the first, the one nearest the input. Parameters in no group throw, listed, rather than being
 * put somewhere: a family that misses some is a bug, and a strategy would silently leave them
 * trainable or frozen. Throws as well for a model whose family declares no groups.
 */
export function layerGroupsOf(model: Module): LayerGroup[] {
  const groups = declaredLayerGroups(model);
  groupIndexOfParameters(model, groups);
  return groups;
}

/**
 * The parameters of each layer group (see layerGroupsOf), in the model's parameter order — the
 * unit freezing strategies act on, and an optimizer's parameter groups for per-group learning rates.
 */
export function parameterGroupsOf(model: Module): ParameterGroup[] {
  const groups = declaredLayerGroups(model);
  const groupIndex = groupIndexOfParameters(model, groups);
  const out: ParameterGroup[] = groups.map(({ name }) => ({ name, parameters: [] }));
  for (const [name, p] of model.namedParameters()) out[groupIndex.get(p)!].parameters.push([name, p]);
  return out;
}

function declaredLayerGroups(model: Module): LayerGroup[] {
  const { family, architecture } = familyOfModel(model);
  if (!family.layerGroups)
    throw new Error(`${architecture} (model_type '${family.modelType}') declares no layer groups`);
  return family.layerGroups(model);
}

/** Each parameter → the index of the first group holding it; throws unless the groups cover exactly the model. */
function groupIndexOfParameters(model: Module, groups: LayerGroup[]): Map<Tensor, number> {
  const architecture = model.constructor.name;
  const ownModules = new Set(model.modules());
  const groupIndex = new Map<Tensor, number>();
  groups.forEach((group, index) => {
    for (const module of group.modules) {
      if (!ownModules.has(module))
        throw new Error(
          `${architecture}: layer group '${group.name}' holds a ${module.constructor.name} that is not part of the model`,
        );
      for (const p of module.parameters()) if (!groupIndex.has(p)) groupIndex.set(p, index);
    }
  });
  const ungrouped = model
    .namedParameters()
    .filter(([, p]) => !groupIndex.has(p))
    .map(([name]) => name);
  if (ungrouped.length) throw new Error(`${architecture}: parameter(s) in no layer group: ${ungrouped.join(', ')}`);
  return groupIndex;
}
