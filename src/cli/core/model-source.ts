/** Where --model comes from (a preset, a folder, a config.json, a Hub id) and building the classification model from it. */
import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { Module } from '../../nn/index.js';
import { findPreset, modelFamilies, type HfConfig } from '../../models/index.js';
import { isPretrainedModel } from '../../models/pretrained-model.js';
import {
  assertNotPickle,
  createModel,
  loadPretrained,
  newlyInitializedModules,
  isLocalCheckpoint,
  ADAPTER_CONFIG_NAME,
} from '../../io/index.js';
import { HubError, resolveModelFile } from '../../hub/index.js';
import { PeftModel } from '../../peft/index.js';
import { suggestion, UsageError } from './flags.js';
import { HUB_ID, isLocalPath, requireModelPath } from './paths.js';
import { isDir, readJsonFile } from './paths.js';

// ---- models --------------------------------------------------------------------------------------

/** Where a model comes from. */
export interface ModelSource {
  /** What was given (--model). */
  arg: string;
  kind: 'preset' | 'config' | 'checkpoint' | 'hub';
  modelType: string;
  /** config.json's contents (a preset's as config.json). */
  config: HfConfig;
  /** The local folder (config / checkpoint). */
  dir?: string;
  /** The config.json read (absent for a preset). */
  configFile?: string;
}

/** The architecture finetune trains for a family: sequence or image classification, or the CNN itself. */
export function classificationArchitecture(modelType: string): string | undefined {
  if (modelType === 'bert') return 'BertForSequenceClassification';
  if (modelType === 'vit') return 'ViTForImageClassification';
  return undefined;
}

/** The architectures that predict the next token: GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, … */
const CAUSAL_LM_ARCHITECTURE = /(ForCausalLM|LMHeadModel)$/;

/** Whether a config.json names a causal-LM architecture first. */
export function isCausalLmConfig(config: HfConfig): boolean {
  const first = Array.isArray(config.architectures) ? config.architectures[0] : undefined;
  return typeof first === 'string' && CAUSAL_LM_ARCHITECTURE.test(first);
}

/** The causal-LM architecture of a model type (GPT2LMHeadModel, LlamaForCausalLM, …), if it has one. */
export function causalLmArchitecture(modelType: string): string | undefined {
  const family = modelFamilies().find((f) => f.modelType === modelType);
  return family && Object.keys(family.architectures).find((name) => CAUSAL_LM_ARCHITECTURE.test(name));
}

function presetNames(): string[] {
  return modelFamilies().flatMap((f) => Object.keys(f.presets));
}

/** Reads what --model names (a preset, a folder, a config.json, a Hub id) without building anything. */
export async function resolveModelSource(arg: string): Promise<ModelSource> {
  const preset = findPreset(arg);
  if (preset) {
    const architecture =
      classificationArchitecture(preset.family.modelType) ?? Object.keys(preset.family.architectures)[0];
    return {
      arg,
      kind: 'preset',
      modelType: preset.family.modelType,
      config: preset.family.configToHf(preset.config, architecture),
    };
  }
  if (isLocalPath(arg)) {
    const path = requireModelPath(arg, 'model');
    if (!isDir(path)) {
      assertNotPickle(path);
      if (extname(path).toLowerCase() === '.safetensors') {
        throw new UsageError(`--model ${arg} is a weights file: give the folder that holds it and its config.json`);
      }
    }
    const dir = isDir(path) ? path : dirname(path);
    const file = isDir(path) ? join(path, 'config.json') : path;
    if (!existsSync(file)) {
      if (existsSync(join(dir, ADAPTER_CONFIG_NAME))) {
        throw new UsageError(
          `--model ${arg} holds an adapter (adapter_config.json), not a model: give the base model with --model and the adapter with --adapter (eval, predict, merge)`,
        );
      }
      throw new UsageError(
        `--model ${arg}: no config.json there (a model folder needs config.json, and model.safetensors for pretrained weights)`,
      );
    }
    const config = readJsonFile(file);
    if (typeof config.model_type !== 'string') throw new Error(`${file}: no "model_type"`);
    if (!modelFamilies().some((f) => f.modelType === config.model_type)) {
      throw new Error(
        `${file}: model_type '${String(config.model_type)}' is not one finetune builds (known: ${modelFamilies()
          .map((f) => f.modelType)
          .join(', ')})`,
      );
    }
    return {
      arg: path,
      kind: isLocalCheckpoint(dir) ? 'checkpoint' : 'config',
      modelType: config.model_type,
      config,
      dir,
      configFile: file,
    };
  }
  if (HUB_ID.test(arg)) {
    const file = await fromHub(arg, 'config.json', 'model');
    const config = readJsonFile(file);
    if (typeof config.model_type !== 'string') throw new Error(`${arg}: config.json has no "model_type"`);
    return { arg, kind: 'hub', modelType: config.model_type, config, dir: dirname(file), configFile: file };
  }
  throw new UsageError(
    `--model: unknown model '${arg}': not a preset, a folder or a Hub id${suggestion(arg, presetNames(), '')} (presets: ${presetNames().join(', ')})`,
  );
}

/** A file of a Hub repo named by a flag; when the Hub cannot give it, the error says the name was taken for a Hub id and why. */
export async function fromHub(repoId: string, filename: string, flag: string): Promise<string> {
  try {
    return await resolveModelFile(repoId, filename);
  } catch (error) {
    if (!(error instanceof HubError)) throw error;
    const namespace = repoId.split('/')[0];
    // The library's offline switch is its `offline` option; the CLI's is the environment variable alone.
    const message = error.message.replace('(the `offline` option or HF_HUB_OFFLINE)', '(HF_HUB_OFFLINE)');
    throw new Error(
      `--${flag} ${repoId}: not a local folder (there is no ${namespace}/ here), so it was taken for a Hub id: ${message}`,
      { cause: error },
    );
  }
}

export interface BuiltModel {
  model: Module;
  /** True when the weights are a fresh random initialisation (a preset, a config without weights). */
  randomInit: boolean;
  /** One line on where the weights came from. */
  note: string;
  /** Modules a pretrained checkpoint did not provide, left at their random initialisation (newlyInitializedModules). */
  newlyInitialized: string[];
}

/** Sets the head's class names in a BERT / ViT config (id2label / label2id, saved in config.json). */
export function setLabelNames(model: Module, names: readonly string[]): void {
  if (isPretrainedModel(model)) model.setLabelNames(names);
}

/** Builds the classification model of `source` with `numLabels` outputs, or its causal LM when numLabels is undefined (random init for presets and bare configs). */
export async function buildModel(
  source: ModelSource,
  numLabels: number | undefined,
  labelNames?: readonly string[],
  imageSize?: number,
): Promise<BuiltModel> {
  // No classes: a causal LM, built as the family's *ForCausalLM / LMHeadModel whatever config.json lists first.
  const architecture =
    numLabels === undefined ? causalLmArchitecture(source.modelType) : classificationArchitecture(source.modelType);
  let built: BuiltModel;
  // ViT's position embeddings fix its image size: a random one is built for the size asked for, a pretrained one must be fed its own.
  const vitSize = source.modelType === 'vit' ? source.config.image_size : undefined;
  const sizeDiffers =
    imageSize !== undefined &&
    vitSize !== undefined &&
    (Array.isArray(vitSize) ? vitSize.some((v) => v !== imageSize) : vitSize !== imageSize);
  if (source.kind === 'preset' || source.kind === 'config') {
    const json: HfConfig = { ...source.config };
    if (sizeDiffers) json.image_size = imageSize;
    delete json.id2label;
    delete json.label2id;
    const model = createModel(json, {
      architecture,
      numLabels,
      configSource: source.configFile ?? `--model ${source.arg}`,
    });
    built = {
      model,
      randomInit: true,
      note:
        source.kind === 'preset'
          ? `random init (a preset has no pretrained weights)`
          : `random init (${source.dir} has config.json but no model.safetensors)`,
      newlyInitialized: [],
    };
  } else {
    if (sizeDiffers)
      throw new UsageError(
        `--image-size ${imageSize}: ${source.arg} is a ViT pretrained at ${String(vitSize)}×${String(vitSize)} pixels; leave --image-size out`,
      );
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(source.arg, {
      architecture,
      numLabels,
      ignoreMismatchedSizes: true,
      warn: (m) => warnings.push(m),
    });
    const fresh = [...info.missingKeys, ...info.mismatchedKeys.map((m) => m.key)];
    built = {
      model,
      randomInit: false,
      note: `pretrained weights from ${source.arg}${fresh.length ? `; newly initialised: ${fresh.length > 4 ? `${fresh.slice(0, 4).join(', ')}, …` : fresh.join(', ')}` : ''}`,
      newlyInitialized: newlyInitializedModules(model, info),
    };
  }
  if (labelNames) setLabelNames(built.model, labelNames);
  return built;
}

/** The number of parameters (and trainable ones) of a model, as PEFT counts a PeftModel. */
export function countParameters(model: Module): { trainable: number; total: number; percent: number } {
  if (model instanceof PeftModel) {
    const [trainable, total] = model.getNbTrainableParameters();
    return { trainable, total, percent: total ? (100 * trainable) / total : 0 };
  }
  let trainable = 0;
  let total = 0;
  for (const p of model.parameters()) {
    total += p.numel();
    if (p.requiresGrad) trainable += p.numel();
  }
  return { trainable, total, percent: total ? (100 * trainable) / total : 0 };
}
