/**
 * PeftConfig: what every PEFT method's config shares, and its adapter_config.json form.
 * Fields are camelCase in TypeScript and snake_case on disk, exactly PEFT's names, so a
 * config written here is read by Python PEFT and the other way round. Each config declares
 * each field once, in a field table (PEFT_CONFIG_FIELDS, then the method's: LORA_FIELDS, …),
 * from which its options type, fields, defaults, kind checks and JSON keys derive.
 */
import { checkPeftPatterns } from './patterns.js';

/**
 * A PEFT method's `peft_type`: LORA, IA3, PROMPT_TUNING, BOTTLENECK (AdapterHub's, not in PEFT) or one
 * registered with registerMethod (methods.ts).
 */
export type PeftType = string;

/** PEFT's task types; SEQ_CLS also trains the classifier head (see modulesToSave). */
export type TaskType = 'SEQ_CLS' | 'TOKEN_CLS' | 'QUESTION_ANS' | 'FEATURE_EXTRACTION' | 'CAUSAL_LM' | 'SEQ_2_SEQ_LM';

const TASK_TYPES: readonly TaskType[] = [
  'SEQ_CLS',
  'TOKEN_CLS',
  'QUESTION_ANS',
  'FEATURE_EXTRACTION',
  'CAUSAL_LM',
  'SEQ_2_SEQ_LM',
];

/** Head module names PEFT trains alongside the adapter for SEQ_CLS (transformers' classifier / score). */
export const SEQ_CLS_HEAD_NAMES = ['classifier', 'score'];

/**
 * A config field whose value has the wrong type or is out of range. peftConfigFromJson reports it
 * by its adapter_config.json key; the value is shown as JSON, so "8" (a string) is not mistaken for 8.
 */
export class PeftConfigFieldError extends Error {
  constructor(
    readonly configName: string,
    readonly field: string,
    readonly requirement: string,
    readonly value: unknown,
  ) {
    super(`${configName}: ${field} ${requirement}, got ${JSON.stringify(value) ?? String(value)}`);
    this.name = 'PeftConfigFieldError';
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every(isString);
const isLayerIndex = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isPositiveInteger = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The field types PEFT's config dataclasses declare, with the words an error uses for each. */
const FIELD_KINDS = {
  positiveInteger: { requirement: 'must be a positive integer', test: isPositiveInteger },
  optionalPositiveInteger: {
    requirement: 'must be a positive integer or null',
    test: (v: unknown) => v === null || isPositiveInteger(v),
  },
  number: { requirement: 'must be a finite number', test: isFiniteNumber },
  positiveNumber: { requirement: 'must be a positive number', test: (v: unknown) => isFiniteNumber(v) && v > 0 },
  dropout: {
    requirement: 'must be a number in [0, 1)',
    test: (v: unknown) => typeof v === 'number' && v >= 0 && v < 1,
  },
  boolean: { requirement: 'must be true or false', test: (v: unknown) => typeof v === 'boolean' },
  optionalString: { requirement: 'must be a string or null', test: (v: unknown) => v === null || isString(v) },
  /** target_modules and its kin: a list of names, one pattern string, or null. */
  modulePatterns: {
    requirement: 'must be a string, a list of strings or null',
    test: (v: unknown) => v === null || isString(v) || isStringList(v),
  },
  moduleNames: {
    requirement: 'must be a list of strings or null',
    test: (v: unknown) => v === null || isStringList(v),
  },
  layerIndices: {
    requirement: 'must be a non-negative integer, a list of them or null',
    test: (v: unknown) => v === null || isLayerIndex(v) || (Array.isArray(v) && v.every(isLayerIndex)),
  },
  patternRanks: {
    requirement: 'must map module patterns to positive integers',
    test: (v: unknown) => isPlainObject(v) && Object.values(v).every(isPositiveInteger),
  },
  patternNumbers: {
    requirement: 'must map module patterns to finite numbers',
    test: (v: unknown) => isPlainObject(v) && Object.values(v).every(isFiniteNumber),
  },
} as const;

export type PeftFieldKind = keyof typeof FIELD_KINDS;

/** Checks `config`'s fields against the kinds PEFT declares for them; throws PeftConfigFieldError for the first that is wrong. */
export function checkFieldKinds<Config extends object>(
  config: Config,
  kinds: Partial<Record<keyof Config & string, PeftFieldKind>>,
): void {
  for (const [field, kind] of Object.entries(kinds) as [keyof Config & string, PeftFieldKind][]) {
    const value = config[field];
    if (!FIELD_KINDS[kind].test(value))
      throw new PeftConfigFieldError(config.constructor.name, field, FIELD_KINDS[kind].requirement, value);
  }
}

declare const OPTION_TYPE: unique symbol;
declare const VALUE_TYPE: unique symbol;

/**
 * One field of a PEFT config, declared once in its config's field table (PEFT's dataclass field): the entry's doc
 * comment is the field's help (what an editor shows for the option and the field), and from the entry come the
 * options type, the field's type and default, its kind check and its adapter_config.json key. `Option` is what the
 * constructor takes, `Value` what the field holds.
 */
export interface PeftField<Option, Value = Exclude<Option, undefined>> {
  /** The option's and the field's types (types only; never set). */
  readonly [OPTION_TYPE]?: Option;
  readonly [VALUE_TYPE]?: Value;
  /** The value when the option is left out or null (objects are copied per config); without one the option is required. */
  default?: Value;
  /** The check FIELD_KINDS makes (errors name the field); none where the config checks the field itself (its choices). */
  kind?: PeftFieldKind;
  /** The adapter_config.json key, when it is not the field's name in snake_case. */
  key?: string;
  /** What the field holds for a given option (IA3 drops repeated module names); by default the option itself. */
  from?(option: Exclude<Option, undefined | null>): Value;
}

/** A field of a config's field table. */
export function peftField<Option, Value = Exclude<Option, undefined>>(
  spec: PeftField<Option, Value>,
): PeftField<Option, Value> {
  return spec;
}

/** A field the constructor needs (PromptTuningConfig's numVirtualTokens): it has no default. */
export function requiredPeftField<Value>(spec: Omit<PeftField<Value, Value>, 'default'>): RequiredPeftField<Value> {
  return { ...spec, required: true };
}

type RequiredPeftField<Value> = PeftField<Value, Value> & { readonly required: true };

/** A config's fields by camelCase name, in adapter_config.json's order. */
export type PeftFieldTable = Readonly<Record<string, PeftField<unknown, unknown>>>;

type OptionOf<Field> = Field extends { readonly [OPTION_TYPE]?: infer Option } ? Option : never;
type ValueOf<Field> = Field extends { readonly [VALUE_TYPE]?: infer Value } ? Value : never;
type RequiredNames<Table> = {
  [Name in keyof Table]: Table[Name] extends { required: true } ? Name : never;
}[keyof Table];

/** A config's constructor options from its field table: each field optional unless it has no default. */
export type PeftOptionsOf<Table> = { [Name in keyof Table]?: OptionOf<Table[Name]> } & {
  [Name in RequiredNames<Table>]-?: OptionOf<Table[Name]>;
};
/** A config's fields from its field table (the class declares them by merging this in). */
export type PeftFieldsOf<Table> = { -readonly [Name in keyof Table]: ValueOf<Table[Name]> };

/** The fields every PEFT config has (PEFT's PeftConfigMixin and PeftConfig). */
export const PEFT_CONFIG_FIELDS = {
  /** PEFT's task type; SEQ_CLS also trains the classifier head (see modulesToSave). Checked by PeftConfig. */
  taskType: peftField<TaskType | null>({ default: null }),
  /** The base model the adapter was trained on: a Hub name or a folder. */
  baseModelNameOrPath: peftField<string | null>({ kind: 'optionalString', default: null }),
  /** The base model's revision on the Hub. */
  revision: peftField<string | null>({ kind: 'optionalString', default: null }),
  /** For inference only: no parameter of the adapter trains (saved adapters say true). */
  inferenceMode: peftField<boolean>({ kind: 'boolean', default: false }),
};

export type PeftConfigOptions = PeftOptionsOf<typeof PEFT_CONFIG_FIELDS>;

// The fields are PEFT_CONFIG_FIELDS' (and each method's table's), assigned by the constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface PeftConfig extends PeftFieldsOf<typeof PEFT_CONFIG_FIELDS> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class PeftConfig {
  abstract readonly peftType: PeftType;
  /** True for methods that prepend learned tokens instead of changing layers (prompt tuning). */
  readonly isPromptLearning: boolean = false;
  /** The method's field table (after PEFT_CONFIG_FIELDS). */
  readonly #fields: PeftFieldTable;

  /**
   * Every field of PEFT_CONFIG_FIELDS and of the method's table `fields`: the option given, else its default;
   * checked by kind, errors naming the config and the field. A method checks its fields' choices and the fields
   * that go together itself, after this.
   */
  constructor(options: PeftConfigOptions = {}, fields: PeftFieldTable = {}) {
    this.#fields = fields;
    const given = options as Record<string, unknown>;
    const config = this as unknown as Record<string, unknown>;
    for (const table of [PEFT_CONFIG_FIELDS as PeftFieldTable, fields]) {
      for (const [name, field] of Object.entries(table)) {
        const value = given[name];
        if (value !== undefined && value !== null) config[name] = field.from ? field.from(value) : value;
        else if ('default' in field) config[name] = structuredClone(field.default);
        else config[name] = value;
      }
    }
    if (this.taskType !== null && !TASK_TYPES.includes(this.taskType)) {
      throw new PeftConfigFieldError(
        new.target.name,
        'taskType',
        `must be null or one of ${TASK_TYPES.join(', ')}`,
        this.taskType,
      );
    }
    const kinds = Object.entries({ ...PEFT_CONFIG_FIELDS, ...fields }).flatMap(([name, field]) =>
      field.kind ? [[name, field.kind]] : [],
    );
    checkFieldKinds(config, Object.fromEntries(kinds) as Record<string, PeftFieldKind>);
  }

  /**
   * adapter_config.json's keys in order, each with the field it holds: PEFT_CONFIG_FIELDS', peft_type, the
   * method's table's, then any field a subclass sets itself outside a table.
   */
  jsonKeys(): [key: string, field: string][] {
    const keys: [string, string][] = [];
    const add = (table: PeftFieldTable) => {
      for (const [name, field] of Object.entries(table)) keys.push([field.key ?? snakeCase(name), name]);
    };
    add(PEFT_CONFIG_FIELDS);
    keys.push(['peft_type', 'peftType']);
    add(this.#fields);
    const declared = new Set(keys.map(([, name]) => name));
    for (const name of Object.keys(this))
      if (!declared.has(name) && name !== 'isPromptLearning') keys.push([snakeCase(name), name]);
    return keys;
  }

  /** adapter_config.json's content: peft_type and every field, under jsonKeys' keys. */
  toJson(): Record<string, unknown> {
    const json: Record<string, unknown> = {};
    for (const [key, name] of this.jsonKeys()) {
      const value = (this as unknown as Record<string, unknown>)[name];
      json[key] = value instanceof Set ? [...value] : value;
    }
    return json;
  }
}

type ConfigReader = (options: Record<string, unknown>) => PeftConfig;

const readers = new Map<string, { reader: ConfigReader; fields: () => PeftConfig }>();

/**
 * Registers a method's config so peftConfigFromJson can read it (registerMethod does, for a method's
 * peft_type). `example` builds a default config whose jsonKeys are the adapter_config.json keys known.
 */
export function registerPeftConfig(peftType: PeftType, reader: ConfigReader, example: () => PeftConfig): void {
  readers.set(peftType, { reader, fields: example });
}

/**
 * Reads adapter_config.json. Keys this version of finetune doesn't know are ignored when
 * they hold PEFT's default (null, false, empty), and refused otherwise: silently dropping
 * a setting would give an adapter that computes something else.
 */
export function peftConfigFromJson(json: Record<string, unknown>, where = 'adapter_config.json'): PeftConfig {
  const peftType = json.peft_type;
  const entry = typeof peftType === 'string' ? readers.get(peftType) : undefined;
  if (!entry) {
    throw new Error(
      `${where}: peft_type ${JSON.stringify(peftType)} is not supported (supported: ${[...readers.keys()].join(', ')})`,
    );
  }
  const fieldOfKey = new Map(entry.fields().jsonKeys());
  const options: Record<string, unknown> = {};
  const unsupported: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === 'peft_type' || INFORMATIONAL_KEYS.has(key)) continue;
    const field = fieldOfKey.get(key);
    if (field !== undefined) options[field] = value;
    else if (!isDefaultLike(value)) unsupported.push(`${key}=${JSON.stringify(value)}`);
  }
  if (unsupported.length) {
    throw new Error(`${where}: ${peftType} option(s) not supported by finetune: ${unsupported.join(', ')}`);
  }
  try {
    const config = entry.reader(options);
    checkPeftPatterns(config);
    return config;
  } catch (error) {
    if (error instanceof PeftConfigFieldError) {
      const key = [...fieldOfKey].find(([, field]) => field === error.field)?.[0] ?? snakeCase(error.field);
      throw new Error(`${where}: '${key}' ${error.requirement}, got ${JSON.stringify(error.value)}`, {
        cause: error,
      });
    }
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/** Fields PEFT writes that change nothing about the computation. */
const INFORMATIONAL_KEYS = new Set([
  'auto_mapping',
  'peft_version',
  'megatron_core',
  'qalora_group_size',
  'runtime_config',
]);

function isDefaultLike(value: unknown): boolean {
  if (value === null || value === false || value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value as object).length === 0;
  return false;
}

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
