/**
 * Adapter files as PEFT writes and reads them: `adapter_config.json` (snake_case fields,
 * peft_type, task_type) and `adapter_model.safetensors` (PEFT's keys, adapter name taken out).
 * The 'default' adapter lives in the folder itself, any other in a subfolder named after it.
 * Registered into the peft layer, so `peftModel.savePretrained(dir)` and
 * `PeftModel.fromPretrained(base, dir)` work as in Python.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Module } from '../nn/index.js';
import {
  checkAdapterName,
  PeftModel,
  peftConfigFromJson,
  registerAdapterFiles,
  type AdapterLoadResult,
  type LoadPeftOptions,
  type PeftConfig,
  type SavePeftOptions,
} from '../peft/index.js';
import { resolveModelFile, type ResolveModelFileOptions } from '../hub/index.js';
import { makeOutputFolder, writeAtomicAsync } from './files.js';
import { describeJsonValue, parseJsonStrict } from './json.js';
import { assertNotPickle, loadSafetensors, saveSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
const PICKLE_ADAPTER_NAMES = ['adapter_model.bin', 'adapter_model.pt', 'adapter_model.pth'];

export type LoadAdapterOptions = LoadPeftOptions & Omit<ResolveModelFileOptions, 'optional'>;

/** Writes every selected adapter of `model` under `dir` (PEFT's save_pretrained). */
export async function savePeftModel(model: PeftModel, dir: string, options: SavePeftOptions = {}): Promise<void> {
  const names = options.selectedAdapters ?? [...model.peftConfig.keys()];
  for (const name of names) {
    // Names are checked when adapters are added; checked again here because each names a folder to write.
    checkAdapterName(name);
    const config = model.peftConfig.get(name);
    if (!config)
      throw new Error(
        `savePretrained: adapter '${name}' not found (adapters: ${[...model.peftConfig.keys()].join(', ')})`,
      );
    // An adapter's own folder inside `dir`: a symlink planted there is replaced by a folder, never written through.
    const target = name === 'default' ? dir : await makeOutputFolder(dir, join(dir, name));
    await mkdir(target, { recursive: true });
    const state = model.adapterStateDict(name);
    await saveSafetensors(join(target, ADAPTER_WEIGHTS_NAME), state, { format: 'pt' });
    // Saved adapters are for inference unless loaded with isTrainable, as PEFT writes them.
    const json = { ...config.toJson(), inference_mode: true };
    await writeAtomicAsync(join(target, ADAPTER_CONFIG_NAME), (handle) =>
      handle.writeFile(JSON.stringify(json, null, 2) + '\n'),
    );
  }
}

async function readAdapterConfig(
  source: string,
  options: LoadAdapterOptions,
): Promise<{ config: PeftConfig; path: string }> {
  const path = await resolveModelFile(source, ADAPTER_CONFIG_NAME, options);
  let json: unknown;
  try {
    // The strict parser bounds nesting (a 20,000-deep value overflowed the stack of the field checks) and refuses duplicate keys.
    json = parseJsonStrict(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${path}: expected a JSON object, got ${describeJsonValue(json)}`);
  const config = peftConfigFromJson(json as Record<string, unknown>, path);
  config.inferenceMode = !(options.isTrainable ?? false);
  return { config, path };
}

/** Runs `step`, naming `path` in its error: what failed was read from that file. */
function naming<T>(path: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.startsWith(path) ? message : `${path}: ${message}`, { cause: error });
  }
}

async function readAdapterWeights(source: string, options: LoadAdapterOptions) {
  const path = await resolveModelFile(source, ADAPTER_WEIGHTS_NAME, { ...options, optional: true });
  if (path) return { path, tensors: (await loadSafetensors(path)).tensors };
  for (const name of PICKLE_ADAPTER_NAMES) {
    const pickled = await resolveModelFile(source, name, { ...options, optional: true });
    if (pickled) assertNotPickle(pickled);
  }
  throw new Error(`${source} has no ${ADAPTER_WEIGHTS_NAME}`);
}

async function loadWeightsInto(
  model: PeftModel,
  source: string,
  adapterName: string,
  options: LoadAdapterOptions,
): Promise<AdapterLoadResult> {
  const { path, tensors } = await readAdapterWeights(source, options);
  try {
    const result = naming(path, () => model.loadAdapterStateDict(tensors, adapterName));
    const warn = options.warn ?? ((message: string) => console.warn(message));
    if (result.unexpectedKeys.length)
      warn(`Found unexpected keys in ${path} that fit no module of the model: [${result.unexpectedKeys.join(', ')}]`);
    if (result.missingKeys.length)
      warn(
        `Adapter '${adapterName}' tensors missing from ${path}, left as initialised: [${result.missingKeys.join(', ')}]`,
      );
    return result;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** `base` with the adapter saved in `source` (a folder or a Hub repo id), as PEFT's PeftModel.from_pretrained. */
export async function loadPeftModel(
  base: Module,
  source: string,
  options: LoadAdapterOptions = {},
): Promise<PeftModel> {
  const adapterName = options.adapterName ?? 'default';
  checkAdapterName(adapterName, base);
  const { config, path } = await readAdapterConfig(source, options);
  const model = naming(path, () => new PeftModel(base, config, adapterName));
  await loadWeightsInto(model, source, adapterName, options);
  // For inference unless isTrainable, as PEFT's load_adapter: the new layers' dropout starts in training mode.
  if (!options.isTrainable) model.eval();
  return model;
}

/** Adds the adapter saved in `source` to `model` under `adapterName` (PEFT's load_adapter). */
export async function loadAdapter(
  model: PeftModel,
  source: string,
  adapterName: string,
  options: LoadAdapterOptions = {},
): Promise<AdapterLoadResult> {
  checkAdapterName(adapterName, model.model);
  const { config, path } = await readAdapterConfig(source, options);
  naming(path, () => model.addAdapter(adapterName, config));
  const result = await loadWeightsInto(model, source, adapterName, options);
  if (!options.isTrainable) model.eval();
  return result;
}

registerAdapterFiles({
  save: savePeftModel,
  load: loadPeftModel,
  loadInto: loadAdapter,
});
