/**
 * A causal LM's generation defaults, as transformers' GenerationConfig: the tokens that end and pad a
 * continuation and how each next token is chosen. A checkpoint's generation_config.json holds them
 * (Qwen2.5-0.5B-Instruct's: sampling at temperature 0.7, top-k 20, top-p 0.8, repetition penalty 1.1,
 * and two end tokens); without one, transformers takes config.json's token ids, and so does
 * generationConfigFromModelConfig.
 *
 *   const defaults = parseGenerationConfig(JSON.parse(text), 'generation_config.json');
 *   generate(model, ids, { ...generationOptions(defaults), maxNewTokens: 40 });
 */
import type { GenerateOptions } from './generation.js';

export interface GenerationConfig {
  bosTokenId?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
  /** The file's other keys (transformers_version, max_length, …): kept, and written back as read. */
  other?: Record<string, unknown>;
}

type Field = Exclude<keyof GenerationConfig, 'other'>;

const isTokenId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Each key generate() uses: its field, and what a valid value is (in words for the error). */
const FIELDS: Record<string, { field: Field; valid: (v: unknown) => boolean; expected: string }> = {
  bos_token_id: { field: 'bosTokenId', valid: isTokenId, expected: 'a token id (an integer ≥ 0)' },
  eos_token_id: {
    field: 'eosTokenId',
    valid: (v) => isTokenId(v) || (Array.isArray(v) && v.length > 0 && v.every(isTokenId)),
    expected: 'a token id or a non-empty list of them',
  },
  pad_token_id: { field: 'padTokenId', valid: isTokenId, expected: 'a token id (an integer ≥ 0)' },
  do_sample: { field: 'doSample', valid: (v) => typeof v === 'boolean', expected: 'true or false' },
  temperature: { field: 'temperature', valid: (v) => typeof v === 'number' && v > 0, expected: 'a number > 0' },
  top_k: { field: 'topK', valid: (v) => Number.isInteger(v) && (v as number) >= 0, expected: 'an integer ≥ 0' },
  top_p: {
    field: 'topP',
    valid: (v) => typeof v === 'number' && v > 0 && v <= 1,
    expected: 'a number in (0, 1]',
  },
  repetition_penalty: {
    field: 'repetitionPenalty',
    valid: (v) => typeof v === 'number' && v > 0,
    expected: 'a number > 0',
  },
  max_new_tokens: {
    field: 'maxNewTokens',
    valid: (v) => Number.isInteger(v) && (v as number) >= 1,
    expected: 'an integer ≥ 1',
  },
};

/** generation_config.json's object as a GenerationConfig; a bad value is an error naming `where` and the key. null means unset, as transformers writes it. */
export function parseGenerationConfig(json: unknown, where: string): GenerationConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${where}: expected a JSON object of generation settings`);
  const config: GenerationConfig = {};
  const other: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const spec = Object.hasOwn(FIELDS, key) ? FIELDS[key] : undefined;
    if (!spec) other[key] = value;
    else if (value === null) continue;
    else if (!spec.valid(value))
      throw new Error(`${where}: "${key}" must be ${spec.expected}, got ${JSON.stringify(value)}`);
    else (config as Record<Field, unknown>)[spec.field] = value;
  }
  if (Object.keys(other).length) config.other = other;
  return config;
}

/** The object generation_config.json holds: the other keys as read, then the set fields under transformers' names. */
export function generationConfigJson(config: GenerationConfig): Record<string, unknown> {
  const json: Record<string, unknown> = { ...config.other };
  for (const [key, { field }] of Object.entries(FIELDS)) if (config[field] !== undefined) json[key] = config[field];
  return json;
}

/** transformers' GenerationConfig.from_model_config: the token ids config.json sets, nothing else. */
export function generationConfigFromModelConfig(config: {
  bosTokenId?: number | null;
  eosTokenId?: number | number[] | null;
  padTokenId?: number | null;
}): GenerationConfig {
  const ids: GenerationConfig = {};
  if (config.bosTokenId != null) ids.bosTokenId = config.bosTokenId;
  if (config.eosTokenId != null) ids.eosTokenId = config.eosTokenId;
  if (config.padTokenId != null) ids.padTokenId = config.padTokenId;
  return ids;
}

/** generate()'s options that `config` sets: what a call starts from before its own options. */
export function generationOptions(config: GenerationConfig): GenerateOptions {
  const { eosTokenId, padTokenId, doSample, temperature, topK, topP, repetitionPenalty, maxNewTokens } = config;
  const options = { eosTokenId, padTokenId, doSample, temperature, topK, topP, repetitionPenalty, maxNewTokens };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as GenerateOptions;
}

/** `options` over `config`'s defaults; an option given as undefined leaves the default in place. */
export function withGenerationDefaults(config: GenerationConfig, options: GenerateOptions): GenerateOptions {
  const given = Object.entries(options).filter(([, v]) => v !== undefined);
  return { ...generationOptions(config), ...Object.fromEntries(given) } as GenerateOptions;
}
