/**
 * fromPretrained / savePretrained: models from and to the files transformers uses
 * (config.json + model.safetensors, or a sharded index), from a local folder or the Hub.
 * Weight loading follows transformers: backbone prefixes are added or removed as needed,
 * tied weights are not reported missing, pickle checkpoints are refused.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { DType, Tensor } from '../tensor/index.js';
import { init, type Module } from '../nn/index.js';
import {
  checkModelSize,
  modelSize,
  familyOfModel,
  findPreset,
  modelFamily,
  type HfConfig,
  type ModelFamily,
} from '../models/registry.js';
import { alignCheckpointKeys } from '../models/checkpoint-keys.js';
import { PretrainedCausalLM } from '../models/causal-lm-head.js';
import {
  generationConfigFromModelConfig,
  generationConfigJson,
  parseGenerationConfig,
} from '../models/generation-config.js';
import { isPretrainedModel } from '../models/pretrained-model.js';
import { resolveModelFile, type ResolveModelFileOptions } from '../hub/index.js';
import { assertNotPickle, loadSafetensors } from './safetensors.js';
import { loadShardedSafetensors, SAFETENSORS_INDEX_NAME, saveShardedSafetensors } from './sharded.js';
import { writeAtomicAsync } from './files.js';
import { describeJsonValue } from './json.js';

export interface CreateModelOptions {
  /** Architecture to build, e.g. 'BertForSequenceClassification' (default: the config's first, else the family's first). */
  architecture?: string;
  /** Number of labels/classes of the task head. */
  numLabels?: number;
  /** What errors call a config object given to createModel, e.g. the config.json it was read from (default 'createModel()'). */
  configSource?: string;
}

export interface FromPretrainedOptions extends CreateModelOptions, Omit<ResolveModelFileOptions, 'optional'> {
  /** Floating-point dtype of the loaded weights (default: the model's, float32). */
  dtype?: DType;
  /** Drop checkpoint tensors whose shape differs from the model's (e.g. a head for another label count) instead of failing. */
  ignoreMismatchedSizes?: boolean;
  /** Where loading warnings go (default console.warn); transformers' wording. */
  warn?: (message: string) => void;
}

export interface LoadingInfo {
  missingKeys: string[];
  unexpectedKeys: string[];
  mismatchedKeys: { key: string; checkpoint: number[]; model: number[] }[];
}

/**
 * The modules (by path) whose parameters loading left at their random initialisation: a new task
 * head, a pooler the checkpoint lacks (an MLM checkpoint), a head resized for another label count.
 * These must train — or at least be saved — or the model cannot be rebuilt from its files: under
 * an adapter they belong in PEFT's `modules_to_save`. Buffers (BatchNorm statistics) are not counted.
 *
 *   const { model, info } = await loadPretrained('my-mlm-bert', { numLabels: 2 });
 *   newlyInitializedModules(model, info); // ['bert.pooler.dense', 'classifier']
 */
export function newlyInitializedModules(model: Module, info: LoadingInfo): string[] {
  const fresh = new Set([...info.missingKeys, ...info.mismatchedKeys.map((m) => m.key)]);
  const paths: string[] = [];
  for (const [path, module] of model.namedModules()) {
    if (module.ownParameters().some(([name]) => fresh.has(path ? `${path}.${name}` : name))) paths.push(path);
  }
  return paths;
}

const PICKLE_WEIGHTS = ['pytorch_model.bin', 'model.pt', 'model.pth', 'pytorch_model.bin.index.json'];

/** What build constructs: the family's config (checked, and small enough to allocate) and the architecture. */
interface ModelPlan {
  family: ModelFamily;
  config: unknown;
  architecture: string;
}

/**
 * Reads and checks everything in a config that decides the model — the family, every field, the
 * architecture, and the parameter bytes against the memory limit (checkModelSize) — before any
 * weight is read or allocated. Errors name `where` (the config.json, the preset).
 */
function planModel(json: unknown, options: CreateModelOptions, where: string): ModelPlan & { where: string } {
  if (!isObject(json)) throw new Error(`${where}: a config must be a JSON object, got ${describeJsonValue(json)}`);
  const modelType = json.model_type;
  if (typeof modelType !== 'string') throw new Error(`${where}: config has no "model_type" string`);
  try {
    const family = modelFamily(modelType);
    let config = family.configFromHf(json);
    if (options.numLabels !== undefined) {
      config = family.withNumLabels
        ? family.withNumLabels(config, options.numLabels)
        : ({ ...(config as object), numLabels: options.numLabels } as typeof config);
    }
    const listed = Array.isArray(json.architectures) ? json.architectures : [];
    const builds = (name: unknown): name is string =>
      typeof name === 'string' && Object.hasOwn(family.architectures, name);
    const architecture = options.architecture ?? listed.find(builds) ?? Object.keys(family.architectures)[0];
    if (!builds(architecture)) {
      throw new Error(
        `unknown architecture ${JSON.stringify(architecture)} for model_type '${family.modelType}' (known: ${Object.keys(family.architectures).join(', ')})`,
      );
    }
    checkModelSize(family, config);
    return { family, config, architecture, where };
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/** The planned model; an allocation that fails (under the size limit, but more than the process may take) names the config's fields. */
function build({ family, config, architecture, where }: ModelPlan & { where: string }): Module {
  try {
    return family.architectures[architecture](config);
  } catch (error) {
    const message = (error as Error).message;
    if (!/can't allocate memory|out of memory/i.test(message)) throw error;
    const size = modelSize(family, config);
    const estimate = size
      ? `it would hold ${size.amount}. ${size.largest}`
      : 'it needs more than this process may allocate.';
    throw new Error(`${where}: building the model ran out of memory: ${estimate} (${message})`, { cause: error });
  }
}

/**
 * A randomly initialised model from a preset name ('bert-base-uncased', 'resnet50', …) or a
 * config.json object, e.g. to count parameters or train from scratch.
 */
export function createModel(presetOrConfig: string | HfConfig, options: CreateModelOptions = {}): Module {
  if (typeof presetOrConfig === 'string') {
    const preset = findPreset(presetOrConfig);
    if (!preset) throw new Error(`unknown preset '${presetOrConfig}'`);
    const json = preset.family.configToHf(
      preset.config,
      options.architecture ?? Object.keys(preset.family.architectures)[0],
    );
    return build(planModel(json, options, `preset '${presetOrConfig}'`));
  }
  return build(planModel(presetOrConfig, options, options.configSource ?? 'createModel()'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a JSON file that must hold an object (config.json, an index). */
async function readJson(path: string): Promise<HfConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isObject(value)) throw new Error(`${path}: expected a JSON object, got ${describeJsonValue(value)}`);
  return value;
}

async function loadCheckpoint(
  source: string,
  options: FromPretrainedOptions,
): Promise<{ tensors: Map<string, Tensor>; file: string }> {
  const fetchOptions = {
    revision: options.revision,
    cacheDir: options.cacheDir,
    endpoint: options.endpoint,
    token: options.token,
    offline: options.offline,
    onProgress: options.onProgress,
  };
  const single = await resolveModelFile(source, 'model.safetensors', { ...fetchOptions, optional: true });
  if (single) return { tensors: (await loadSafetensors(single, { dtype: options.dtype })).tensors, file: single };
  const index = await resolveModelFile(source, SAFETENSORS_INDEX_NAME, { ...fetchOptions, optional: true });
  if (index) {
    const { weight_map: weightMap } = (await readJson(index)) as { weight_map?: Record<string, string> };
    for (const shard of new Set(Object.values(weightMap ?? {}))) await resolveModelFile(source, shard, fetchOptions);
    return { tensors: (await loadShardedSafetensors(index, { dtype: options.dtype })).tensors, file: index };
  }
  for (const name of PICKLE_WEIGHTS) {
    const pickled = await resolveModelFile(source, name, { ...fetchOptions, optional: true });
    if (pickled) assertNotPickle(pickled);
  }
  throw new Error(`${source} has no model.safetensors or ${SAFETENSORS_INDEX_NAME}`);
}

/**
 * The config.json each model loadPretrained built was read from. transformers keeps a checkpoint's
 * extra keys on model.config; finetune's configs are typed and keep only the architecture's, so the
 * file's every key (the pretraining lr the fine-tuning lr rule reads, say) is kept here.
 */
const LOADED_CONFIGS = new WeakMap<Module, Readonly<HfConfig>>();

/** A causal LM's generation defaults (transformers' GenerationConfig), beside config.json. */
export const GENERATION_CONFIG_NAME = 'generation_config.json';

const GENERATION_CONFIG_FILES = new WeakMap<Module, string>();

/** The generation_config.json whose defaults loadPretrained gave `model` (model.generationConfig); undefined where it found none. */
export function generationConfigFileOf(model: Module): string | undefined {
  return GENERATION_CONFIG_FILES.get(model);
}

/** The config.json `model` was loaded from by loadPretrained / fromPretrained, every key as in the file; undefined for a model built otherwise. */
export function loadedConfigOf(model: Module): Readonly<HfConfig> | undefined {
  return LOADED_CONFIGS.get(model);
}

/**
 * Loads a model saved by transformers (or savePretrained) from a local folder or a Hub repo id,
 * with the loading report transformers gives (missing, unexpected and mismatched keys). The
 * config.json read stays available through loadedConfigOf(model). A causal LM's generation_config.json,
 * where the checkpoint has one, becomes model.generationConfig.
 */
export async function loadPretrained(
  source: string,
  options: FromPretrainedOptions = {},
): Promise<{ model: Module; info: LoadingInfo }> {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const configPath = await resolveModelFile(source, 'config.json', options);
  const json = await readJson(configPath);
  const plan = planModel(json, options, configPath);
  const { family } = plan;
  const { tensors, file } = await loadCheckpoint(source, options);
  let model: Module;
  let initialize: (tensors: Iterable<Tensor>) => void;
  try {
    // Only the weights the checkpoint lacks are drawn (below): drawing all of them first cost a
    // 124M-parameter GPT-2 3.3 of its 3.6 s of loading.
    ({ result: model, initialize } = init.deferInitialization(() => build(plan)));
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  try {
    const own = model.stateDict();
    const aligned = family.adaptStateDict
      ? family.adaptStateDict(tensors, model)
      : alignCheckpointKeys(tensors, own.keys(), family.baseModelPrefix ?? family.modelType);
    const mismatchedKeys: LoadingInfo['mismatchedKeys'] = [];
    for (const [key, target] of own) {
      const source = aligned.get(key);
      if (source && source.shape.join() !== target.shape.join()) {
        mismatchedKeys.push({ key, checkpoint: source.shape, model: target.shape });
        aligned.delete(key);
      }
    }
    if (mismatchedKeys.length && !options.ignoreMismatchedSizes) {
      const lines = mismatchedKeys.map((m) => `  ${m.key}: checkpoint [${m.checkpoint}] vs model [${m.model}]`);
      throw new Error(
        `${file}: size mismatch for ${mismatchedKeys.length} key(s) of ${model.constructor.name}:\n${lines.join('\n')}\n` +
          'pass ignoreMismatchedSizes: true to initialise those weights anew (e.g. a head for a different number of labels)',
      );
    }
    const loaded = new Set<Tensor>();
    for (const [key, target] of own) if (aligned.has(key)) loaded.add(target);
    // A tied weight (one tensor under two keys) is loaded if any of its keys was.
    const mismatched = new Set(mismatchedKeys.map((m) => m.key));
    const missingKeys = [...own]
      .filter(([key, target]) => !aligned.has(key) && !loaded.has(target) && !mismatched.has(key))
      .map(([key]) => key);
    const unexpectedKeys = [...aligned.keys()].filter((key) => !own.has(key) && !key.endsWith('position_ids'));
    const fresh = [...missingKeys, ...mismatchedKeys.map((m) => m.key)];
    initialize(fresh.map((key) => own.get(key)!));
    if (options.dtype) model.to(options.dtype);
    // The checkpoint's tensors become the model's: its own never-drawn memory is never touched.
    model.loadStateDict(new Map([...aligned].filter(([key]) => own.has(key))), { strict: false, assign: true });
    const name = model.constructor.name;
    if (unexpectedKeys.length)
      warn(
        `Some weights of the model checkpoint at ${source} were not used when initializing ${name}: [${unexpectedKeys.join(', ')}]`,
      );
    if (fresh.length) {
      warn(
        `Some weights of ${name} were not initialized from the model checkpoint at ${source} and are newly initialized: [${fresh.join(', ')}]\n` +
          'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.',
      );
    }
    LOADED_CONFIGS.set(model, Object.freeze({ ...json }));
    if (model instanceof PretrainedCausalLM) {
      const path = await resolveModelFile(source, GENERATION_CONFIG_NAME, { ...options, optional: true });
      if (path) {
        // A token id the file leaves out is config.json's, as a config.json-derived default would have it.
        const fromFile = parseGenerationConfig(await readJson(path), path);
        model.generationConfig = { ...generationConfigFromModelConfig(model.config), ...fromFile };
        GENERATION_CONFIG_FILES.set(model, path);
      }
    }
    return { model, info: { missingKeys, unexpectedKeys, mismatchedKeys } };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    const assigned = new Set(model.stateDict().values());
    for (const t of tensors.values()) if (!assigned.has(t)) t.dispose();
  }
}

/** loadPretrained's model: `await fromPretrained('path/or/org/name', { numLabels: 2 })`. */
export async function fromPretrained(source: string, options: FromPretrainedOptions = {}): Promise<Module> {
  return (await loadPretrained(source, options)).model;
}

export interface SavePretrainedOptions {
  /** Split weights into shards of at most this size, in bytes or as '500MB' (default '5GB', as transformers). */
  maxShardSize?: number | string;
  /** Keys added to config.json beside the model's own (`{ pretraining_learning_rate: 5e-4 }`: the fine-tuning lr rule reads it). */
  extraConfig?: HfConfig;
}

/**
 * Writes config.json and model.safetensors (or shards + index) that transformers loads, and a causal
 * LM's generation_config.json.
 * Tied weights are stored once; files are written to temporary names and renamed, so an
 * existing checkpoint in `dir` is never left half-written.
 */
export async function savePretrained(model: Module, dir: string, options: SavePretrainedOptions = {}): Promise<void> {
  const { architecture } = familyOfModel(model);
  if (!isPretrainedModel(model))
    throw new Error(`${architecture} has no config to save (its class does not extend PretrainedModel)`);
  const state = new Map<string, Tensor>();
  const seen = new Set<Tensor>();
  for (const [key, tensor] of model.stateDict()) {
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    state.set(key, tensor);
  }
  const json = {
    ...options.extraConfig,
    ...model.toConfigJson(),
    dtype: state.values().next().value?.dtype ?? 'float32',
  };
  await mkdir(dir, { recursive: true });
  await saveShardedSafetensors(dir, state, { maxShardSize: options.maxShardSize ?? '5GB', metadata: { format: 'pt' } });
  await writeAtomicAsync(join(dir, 'config.json'), (handle) => handle.writeFile(JSON.stringify(json, null, 2) + '\n'));
  // As transformers' save_pretrained for a model that can generate.
  if (model instanceof PretrainedCausalLM) {
    const generation = JSON.stringify(generationConfigJson(model.generationConfig), null, 2) + '\n';
    await writeAtomicAsync(join(dir, GENERATION_CONFIG_NAME), (handle) => handle.writeFile(generation));
  }
}

/** The files savePretrained writes for `model` when it fits one shard: config.json, model.safetensors and a causal LM's generation_config.json. */
export function pretrainedFileNames(model: Module): string[] {
  return ['config.json', 'model.safetensors', ...(model instanceof PretrainedCausalLM ? [GENERATION_CONFIG_NAME] : [])];
}

/** Whether `dir` holds a checkpoint fromPretrained can read without the network. */
export function isLocalCheckpoint(dir: string): boolean {
  return (
    existsSync(join(dir, 'config.json')) &&
    (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, SAFETENSORS_INDEX_NAME)))
  );
}
