/**
 * What every model family's config shares, after transformers' PretrainedConfig: the head's labels
 * (num_labels, id2label, label2id) and problem_type, config.json keys as the camelCase fields in
 * snake_case, a reader that checks each key a family declares and names that key in its errors, and
 * the writer's pieces. A family's config file (bert-config.ts, vit-config.ts, resnet-config.ts,
 * alexnet-config.ts) declares only its own fields, their defaults and its cross-field checks, as
 * transformers' configuration_bert.py does.
 *
 * Unknown keys: a config.json may carry keys a family does not model (transformers' bookkeeping such
 * as `transformers_version`, another tool's settings). Readers ignore them, and writers write only
 * the family's own; the Trainer copies the loaded file's other keys into what it saves.
 */
import type { ProblemType } from './classification-loss.js';
import { MAX_LABELS, type HfConfig, type ModelSizePart } from './registry.js';

/** transformers' problem_type values: how a classification head turns logits and labels into a loss. */
export const PROBLEM_TYPES: readonly ProblemType[] = [
  'regression',
  'single_label_classification',
  'multi_label_classification',
];

/** The head fields of a family whose config names its classes, as PretrainedConfig's label attributes. */
export interface LabelsConfig {
  /** Classifier outputs. */
  numLabels: number;
  /** Class names by index; LABEL_0, LABEL_1, … where the config leaves them out. */
  id2label?: Record<number, string>;
  label2id?: Record<string, number>;
  /** null: inferred per call from numLabels and the labels' dtype, as transformers does. */
  problemType: ProblemType | null;
}

/** A model's classification head as its config describes it. */
export interface HeadLabels {
  /** Outputs of the head (transformers' num_labels, torchvision's num_classes). */
  numLabels: number;
  /** Class names by index: the config's, else LABEL_0 … */
  id2label: Record<number, string>;
  /** How the head's loss is computed; null: inferred from numLabels and the labels' dtype. */
  problemType: ProblemType | null;
}

/** LABEL_0 … LABEL_{numLabels-1}, the names transformers gives unnamed classes. */
export function defaultLabels(numLabels: number): Record<number, string> {
  return Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [i, `LABEL_${i}`]));
}

/** label2id of an id2label. */
export function invertLabels(id2label: Record<number, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(id2label).map(([id, label]) => [label, Number(id)]));
}

/** The head of a family that counts classes without naming them (torchvision's num_classes). */
export function unnamedClasses(numClasses: number): HeadLabels {
  return { numLabels: numClasses, id2label: defaultLabels(numClasses), problemType: null };
}

/** id2label as config.json holds it (string keys) beside label2id. */
export function labelsToJson(id2label: Record<number, string>, label2id: Record<string, number>): HfConfig {
  return {
    id2label: Object.fromEntries(Object.entries(id2label).map(([id, label]) => [String(id), label])),
    label2id: { ...label2id },
  };
}

/**
 * A config's label fields, as transformers' PretrainedConfig sets them: they follow numLabels (LABEL_0 …)
 * unless id2label names them, whose size then sets numLabels. A generated LABEL_i map of another size
 * gives way to numLabels (so `{ ...preset, numLabels: 5 }` works); named labels that disagree with
 * numLabels throw, as does a numLabels above MAX_LABELS. Errors start with `configName`.
 */
export function resolveLabels(
  configName: string,
  overrides: Partial<LabelsConfig>,
  numLabels: number,
): { numLabels: number; id2label: Record<number, string>; label2id: Record<string, number> } {
  let id2label = overrides.id2label ? { ...overrides.id2label } : undefined;
  let label2id = overrides.label2id ? { ...overrides.label2id } : undefined;
  if (id2label) {
    const size = Object.keys(id2label).length;
    if (overrides.numLabels === undefined || overrides.numLabels === size) {
      numLabels = size;
    } else if (JSON.stringify(id2label) === JSON.stringify(defaultLabels(size))) {
      id2label = label2id = undefined;
    } else {
      throw new Error(`${configName}: numLabels (${overrides.numLabels}) does not match id2label's ${size} labels`);
    }
  }
  // Before the label map is built: a config.json's num_labels of 1e9 would fill the JavaScript heap.
  if (!(numLabels <= MAX_LABELS))
    throw new Error(
      `${configName}: numLabels must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${JSON.stringify(numLabels)}`,
    );
  id2label ??= defaultLabels(numLabels);
  return { numLabels, id2label, label2id: label2id ?? invertLabels(id2label) };
}

/** id2label / label2id as config.json holds them, or nothing for the default two LABEL_i (transformers leaves those out). */
export function namedLabelsToJson(id2label: Record<number, string>, label2id: Record<string, number>): HfConfig {
  const defaultLabelMap = defaultLabels(2);
  const named =
    JSON.stringify(id2label) !== JSON.stringify(defaultLabelMap) ||
    JSON.stringify(label2id) !== JSON.stringify(invertLabels(defaultLabelMap));
  return named ? labelsToJson(id2label, label2id) : {};
}

/** A preset as families publish it: the config and its label maps frozen. */
export function frozenPreset<Config extends Partial<LabelsConfig>>(config: Config): Readonly<Config> {
  if (config.id2label) Object.freeze(config.id2label);
  if (config.label2id) Object.freeze(config.label2id);
  return Object.freeze(config);
}

/** The config.json key of a camelCase field: numHiddenLayers → num_hidden_layers, id2label → id2label. */
export function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `fields` of `config` under their config.json keys, in the order given; fields left undefined are not written, arrays are copied. */
export function fieldsToJson<Config>(config: Config, fields: readonly (keyof Config & string)[]): HfConfig {
  const json: HfConfig = {};
  for (const name of fields) {
    const value = config[name];
    if (value !== undefined) json[snakeCase(name)] = Array.isArray(value) ? [...value] : value;
  }
  return json;
}

/** `json` with its keys sorted, as transformers writes config.json (to_json_string with sort_keys). */
export function sortedKeys(json: HfConfig): HfConfig {
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `value` without its undefined entries, so that spreading it over defaults keeps the defaults. */
export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---- reading config.json ------------------------------------------------------------------------

/**
 * A config.json value's check: what is wrong with `value`, as the words after the key in
 * "'hidden_size' must be a positive integer, got 0"; undefined when it is fine.
 */
export type ConfigField = (value: unknown) => string | undefined;

/** A family's config.json fields by camelCase name (the key is its snakeCase). */
export type ConfigFields<Config> = { readonly [Field in keyof Config]?: ConfigField };

const isPositiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1;

/** The checks families build their field tables from. */
export const field = {
  /** A JavaScript type and nothing more: the family's config function checks the range (BERT's way). */
  typed:
    (kind: 'number' | 'string' | 'boolean', options: { nullable?: boolean } = {}): ConfigField =>
    (value) =>
      (value === null ? options.nullable : typeof value === kind)
        ? undefined
        : `must be a ${kind}${options.nullable ? ' or null' : ''}`,
  positiveInteger:
    (max = Infinity): ConfigField =>
    (value) =>
      isPositiveInteger(value) && value <= max
        ? undefined
        : `must be a positive integer${max === Infinity ? '' : ` up to ${max}`}`,
  positiveIntegers:
    (count: number, words: string, max = Infinity): ConfigField =>
    (value) =>
      Array.isArray(value) && value.length === count && value.every((n) => isPositiveInteger(n) && n <= max)
        ? undefined
        : `must be ${words}`,
  /** A side or a [height, width] pair. */
  positiveIntegerOrPair: (): ConfigField => (value) =>
    isPositiveInteger(value) || (Array.isArray(value) && value.length === 2 && value.every(isPositiveInteger))
      ? undefined
      : 'must be a positive integer or a [height, width] pair',
  fraction: (): ConfigField => (value) =>
    typeof value === 'number' && value >= 0 && value <= 1 ? undefined : 'must be a number in [0, 1]',
  positiveNumber: (): ConfigField => (value) =>
    typeof value === 'number' && value > 0 ? undefined : 'must be a positive number',
  boolean: (): ConfigField => (value) => (typeof value === 'boolean' ? undefined : 'must be true or false'),
  booleans:
    (count: number): ConfigField =>
    (value) =>
      Array.isArray(value) && value.length === count && value.every((b) => typeof b === 'boolean')
        ? undefined
        : `must be ${count} booleans`,
  /** One of `values` (own strings only: 'constructor' is none of them). */
  oneOf:
    (values: readonly string[], words = `one of ${values.join(', ')}`): ConfigField =>
    (value) =>
      typeof value === 'string' && values.includes(value) ? undefined : `must be ${words}`,
};

/** `check`, letting null through (a field whose null means "the default behaviour", e.g. ViT's pooler_output_size). */
export function orNull(check: ConfigField): ConfigField {
  return (value) => (value === null ? undefined : check(value));
}

/**
 * Checks the declared fields of a config given in code, as config.json's are checked when read, with
 * errors naming the camelCase field after `prefix` ("ViT: hiddenSize must be a positive integer, got 0").
 * Fields left undefined are not checked (a family's optional ones).
 */
export function checkFields<Config extends object>(config: Config, fields: ConfigFields<Config>, prefix: string): void {
  for (const [name, check] of Object.entries(fields) as [keyof Config & string, ConfigField][]) {
    const value = config[name];
    if (value === undefined) continue;
    const problem = check(value);
    if (problem !== undefined) throw new Error(`${prefix}: ${name} ${problem}, got ${JSON.stringify(value)}`);
  }
}

/**
 * Reads one config.json for a family: `source` names it in errors ('BERT config.json'), so each
 * error names the file kind and the key. With `nullIsAbsent`, a key set to null reads as not given
 * (ViT's reader); otherwise null must be allowed by the field.
 */
export class ConfigJsonReader {
  constructor(
    readonly json: HfConfig,
    readonly source: string,
    readonly options: { nullIsAbsent?: boolean } = {},
  ) {}

  /** Whether config.json gives `key`. */
  has(key: string): boolean {
    const value = this.json[key];
    return value !== undefined && !(this.options.nullIsAbsent && value === null);
  }

  /** "<source>: '<key>' <problem>, got <value>". */
  error(key: string, problem: string): Error {
    return new Error(`${this.source}: '${key}' ${problem}, got ${JSON.stringify(this.json[key])}`);
  }

  /** Throws unless model_type is absent or `modelType`. */
  checkModelType(modelType: string): void {
    if (this.has('model_type') && this.json.model_type !== modelType)
      throw this.error('model_type', `must be '${modelType}'`);
  }

  /** The declared fields config.json gives, checked, under their camelCase names (arrays copied). */
  fields<Config>(fields: ConfigFields<Config>): Partial<Config> {
    const out: Record<string, unknown> = {};
    for (const [name, check] of Object.entries(fields) as [string, ConfigField][]) {
      const key = snakeCase(name);
      if (!this.has(key)) continue;
      const value = this.json[key];
      const problem = check(value);
      if (problem !== undefined) throw this.error(key, problem);
      out[name] = Array.isArray(value) ? [...value] : value;
    }
    return out as Partial<Config>;
  }

  /**
   * The label keys config.json gives, checked: id2label, label2id, num_labels (or the legacy
   * _num_labels) and problem_type. A null label key reads as not given. Reconciling num_labels with
   * id2label's size is the family's: transformers lets id2label win.
   */
  labels(): Partial<LabelsConfig> {
    const given = (key: string) => this.json[key] !== undefined && this.json[key] !== null;
    const out: Partial<LabelsConfig> = {};
    if (given('id2label')) {
      const value = this.json.id2label;
      const entries = typeof value === 'object' && !Array.isArray(value) ? Object.entries(value as object) : null;
      if (!entries || entries.some(([id, label]) => !/^\d+$/.test(id) || typeof label !== 'string')) {
        throw this.error('id2label', 'must be an object of index → name');
      }
      out.id2label = Object.fromEntries(entries.map(([id, label]) => [Number(id), label as string]));
    }
    if (given('label2id')) {
      const value = this.json.label2id;
      if (
        typeof value !== 'object' ||
        Array.isArray(value) ||
        Object.values(value as object).some((id) => !Number.isInteger(id))
      ) {
        throw this.error('label2id', 'must be an object of name → index');
      }
      out.label2id = { ...(value as Record<string, number>) };
    }
    const numLabelsKey = given('num_labels') ? 'num_labels' : '_num_labels';
    if (given(numLabelsKey)) {
      const value = this.json[numLabelsKey];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
        throw this.error(numLabelsKey, 'must be a non-negative integer');
      // Before a label map is built from it: a num_labels of 1e9 would fill the JavaScript heap.
      if (value > MAX_LABELS) throw this.error(numLabelsKey, `must be at most ${MAX_LABELS.toLocaleString('en-US')}`);
      out.numLabels = value;
    }
    if (given('problem_type')) {
      const value = this.json.problem_type;
      if (!PROBLEM_TYPES.includes(value as ProblemType))
        throw this.error('problem_type', `must be null or one of ${PROBLEM_TYPES.join(', ')}`);
      out.problemType = value as ProblemType;
    }
    return out;
  }

  /**
   * An error of the family's config function, which names a camelCase field after `prefix`
   * ("BertConfig: hiddenSize (100) …"), as naming the config.json key ("BERT config.json: 'hidden_size' (100) …").
   */
  naming(error: unknown, prefix: string): Error {
    const message = (error as Error).message;
    const renamed = message.startsWith(`${prefix}: `)
      ? message.slice(prefix.length + 2).replace(/^(\w+)/, (name: string) => `'${snakeCase(name)}'`)
      : message;
    return new Error(`${this.source}: ${renamed}`, { cause: error });
  }
}

/**
 * The parameters of a BERT-style encoder's layers, for the size check before allocation: per layer query, key,
 * value and the attention output (4·(h² + h)), two LayerNorms (4h), the feed-forward pair (2hi + i + h).
 */
export function encoderLayersSizePart(numHiddenLayers: number, h: number, i: number): ModelSizePart {
  return {
    part: 'encoder layers',
    parameters: numHiddenLayers * (4 * h * h + 2 * h * i + 9 * h + i),
    fields: { num_hidden_layers: numHiddenLayers, hidden_size: h, intermediate_size: i },
  };
}
