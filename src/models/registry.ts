/**
 * Model families register here, so loaders (fromPretrained, the CLI) can build a model
 * from a Hugging Face config.json (`model_type` + `architectures`) or a preset name.
 */
import type { Module, StateDict } from '../nn/index.js';

/** A config as stored in config.json: snake_case keys, as Hugging Face writes them. */
export type HfConfig = Record<string, unknown>;

export interface ModelFamily<Config = unknown> {
  /** Hugging Face `model_type` ('bert', 'vit'), or the torchvision family name ('alexnet', 'resnet'). */
  modelType: string;
  /** Architecture names as in config.json's `architectures` → constructor. The first is the default. */
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
   * Family-specific key fixes after the generic alignment (prefix, legacy LayerNorm names),
   * e.g. dropping tied keys a checkpoint stores but the model does not own.
   */
  adaptStateDict?(state: StateDict, model: Module): StateDict;
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
    if (architecture in family.architectures) return { family, architecture };
  }
  throw new Error(`${architecture} is not a registered model architecture`);
}

/** The family and config of a preset name, e.g. 'bert-base-uncased' or 'resnet50'. */
export function findPreset(name: string): { family: ModelFamily; config: unknown } | undefined {
  for (const family of families.values()) {
    if (name in family.presets) return { family, config: family.presets[name] };
  }
  return undefined;
}
