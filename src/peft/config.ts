/**
 * PeftConfig: what every PEFT method's config shares, and its adapter_config.json form.
 * Fields are camelCase in TypeScript and snake_case on disk, exactly PEFT's names, so a
 * config written here is read by Python PEFT and the other way round.
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

export interface PeftConfigOptions {
  taskType?: TaskType | null;
  baseModelNameOrPath?: string | null;
  revision?: string | null;
  inferenceMode?: boolean;
}

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
const isFiniteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
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

export abstract class PeftConfig {
  abstract readonly peftType: PeftType;
  /** True for methods that prepend learned tokens instead of changing layers (prompt tuning). */
  readonly isPromptLearning: boolean = false;
  taskType: TaskType | null;
  baseModelNameOrPath: string | null;
  revision: string | null;
  inferenceMode: boolean;

  constructor(options: PeftConfigOptions = {}) {
    this.taskType = options.taskType ?? null;
    if (this.taskType !== null && !TASK_TYPES.includes(this.taskType)) {
      throw new PeftConfigFieldError(
        new.target.name,
        'taskType',
        `must be null or one of ${TASK_TYPES.join(', ')}`,
        this.taskType,
      );
    }
    this.baseModelNameOrPath = options.baseModelNameOrPath ?? null;
    this.revision = options.revision ?? null;
    this.inferenceMode = options.inferenceMode ?? false;
    checkFieldKinds<PeftConfig>(this, {
      baseModelNameOrPath: 'optionalString',
      revision: 'optionalString',
      inferenceMode: 'boolean',
    });
  }

  /** adapter_config.json's content: every field in snake_case, plus peft_type. */
  toJson(): Record<string, unknown> {
    const json: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (key === 'isPromptLearning') continue;
      json[snakeCase(key)] = value instanceof Set ? [...value] : value;
    }
    json.peft_type = this.peftType;
    return json;
  }
}

type ConfigReader = (options: Record<string, unknown>) => PeftConfig;

const readers = new Map<string, { reader: ConfigReader; fields: () => PeftConfig }>();

/**
 * Registers a method's config so peftConfigFromJson can read it (registerMethod does, for a method's
 * peft_type). `example` builds a default config whose fields tell which snake_case keys are known.
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
  const known = new Set(Object.keys(entry.fields()).map(snakeCase));
  const options: Record<string, unknown> = {};
  const unsupported: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === 'peft_type' || INFORMATIONAL_KEYS.has(key)) continue;
    if (known.has(key)) options[camelCase(key)] = value;
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
      throw new Error(
        `${where}: '${snakeCase(error.field)}' ${error.requirement}, got ${JSON.stringify(error.value)}`,
        { cause: error },
      );
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

export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
