/**
 * PeftConfig: what every PEFT method's config shares, and its adapter_config.json form.
 * Fields are camelCase in TypeScript and snake_case on disk, exactly PEFT's names, so a
 * config written here is read by Python PEFT and the other way round.
 */
import { checkPeftPatterns } from './patterns.js';

/** The methods finetune implements, by PEFT's `peft_type` names (BOTTLENECK is AdapterHub's, not in PEFT). */
export type PeftType = 'LORA' | 'IA3' | 'PROMPT_TUNING' | 'BOTTLENECK';

/** PEFT's task types; SEQ_CLS also trains the classifier head (see modulesToSave). */
export type TaskType = 'SEQ_CLS' | 'TOKEN_CLS' | 'QUESTION_ANS' | 'FEATURE_EXTRACTION' | 'CAUSAL_LM' | 'SEQ_2_SEQ_LM';

const TASK_TYPES: readonly TaskType[] = ['SEQ_CLS', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION', 'CAUSAL_LM', 'SEQ_2_SEQ_LM'];

/** Head module names PEFT trains alongside the adapter for SEQ_CLS (transformers' classifier / score). */
export const SEQ_CLS_HEAD_NAMES = ['classifier', 'score'];

export interface PeftConfigOptions {
  taskType?: TaskType | null;
  baseModelNameOrPath?: string | null;
  revision?: string | null;
  inferenceMode?: boolean;
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
      throw new Error(`unknown taskType '${this.taskType}' (known: ${TASK_TYPES.join(', ')})`);
    }
    this.baseModelNameOrPath = options.baseModelNameOrPath ?? null;
    this.revision = options.revision ?? null;
    this.inferenceMode = options.inferenceMode ?? false;
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
 * Registers a method's config so peftConfigFromJson can read it. `example` builds a default
 * config whose fields tell which snake_case keys are known.
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
    throw new Error(`${where}: peft_type ${JSON.stringify(peftType)} is not supported (supported: ${[...readers.keys()].join(', ')})`);
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
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}

/** Fields PEFT writes that change nothing about the computation. */
const INFORMATIONAL_KEYS = new Set(['auto_mapping', 'peft_version', 'megatron_core', 'qalora_group_size', 'runtime_config']);

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
