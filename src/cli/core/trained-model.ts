/** Loading a trained model for eval, predict and merge: a model folder, or a base model plus an adapter folder. */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Module } from '../../nn/index.js';
import { findPreset, type HfConfig } from '../../models/index.js';
import { isPretrainedModel } from '../../models/pretrained-model.js';
import {
  createModel,
  loadPretrained,
  newlyInitializedModules,
  readSafetensorsHeader,
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
} from '../../io/index.js';
import { ModulesToSaveWrapper, PeftModel } from '../../peft/index.js';
import { loadModelWeights } from '../../train/index.js';
import { UsageError, type FlagTable } from './flags.js';
import { expandHome, requirePath } from './paths.js';
import { isDir, readJsonFile } from './paths.js';
import { classificationArchitecture, resolveModelSource, setLabelNames } from './model-source.js';

// ---- loading a trained model (eval, predict, merge) ---------------------------------------------

/** --model of the commands that use a trained model (eval, predict). */
export const TRAINED_MODEL_FLAG: FlagTable = {
  model: {
    kind: 'string',
    arg: 'DIR|HUB_ID',
    group: 'Model',
    help: "the trained model: finetune train's --output-dir (model or adapter), a model folder or a Hub id",
  },
};

export interface TrainedModel {
  model: Module;
  modelType: string;
  /** Class names by id. */
  labels: string[];
  /** run_config.json of the model or adapter folder (what `finetune train` recorded), if any. */
  runConfig: Record<string, unknown>;
  /** Folders to look in for the tokenizer and preprocessor files (adapter folder first). */
  dirs: string[];
  config: HfConfig;
  describe: string;
  hubId?: string;
}

/** The base model folder an adapter names (adapter_config.json's base_model_name_or_path), resolved. */
export function adapterBase(adapterDir: string): string {
  const json = readJsonFile(join(adapterDir, ADAPTER_CONFIG_NAME));
  const named = typeof json.base_model_name_or_path === 'string' ? json.base_model_name_or_path : null;
  const beside = join(adapterDir, 'base_model');
  if (named && (existsSync(named) || findPreset(named) || /^[\w.-]+\/[\w.-]+$/.test(named))) {
    if (!existsSync(named) && isDir(beside)) return beside;
    return named;
  }
  if (named && !isAbsolute(named) && existsSync(join(adapterDir, '..', named))) return join(adapterDir, '..', named);
  if (isDir(beside)) return beside;
  throw new UsageError(
    `${join(adapterDir, ADAPTER_CONFIG_NAME)} names no base model that can be found${named ? ` ('${named}')` : ''}: give the base model with --model`,
  );
}

/**
 * The number of classes of the head an adapter was trained with: what finetune train recorded in
 * run_config.json, else the shape of the head's copy in adapter_model.safetensors (an adapter saved
 * by PEFT in Python), else undefined (the base's head size applies).
 */
async function adapterHeadSize(adapterDir: string, adapterRun: Record<string, unknown>): Promise<number | undefined> {
  const recorded = adapterRun.num_labels;
  if (typeof recorded === 'number') return recorded;
  const weights = join(adapterDir, ADAPTER_WEIGHTS_NAME);
  if (!existsSync(weights)) return undefined;
  const { tensors } = await readSafetensorsHeader(weights);
  // PEFT saves a modules_to_save copy under the module's own key: base_model.model.<head>.weight.
  const head = [...tensors].find(([key, info]) => HEAD_WEIGHT.test(key) && info.shape.length === 2);
  return head ? head[1].shape[0] : undefined;
}

/** The weight of a classification head in an adapter file: BERT's / ViT's classifier, AlexNet's classifier.6, ResNet's fc. */
const HEAD_WEIGHT = /^base_model\.(model\.)?(classifier(\.6)?|fc|score)\.weight$/;

/** Whether the PeftModel trained the module at `path` whole (a modules_to_save copy), so its values came from the adapter. */
function savedWithAdapter(model: PeftModel, path: string): boolean {
  return model
    .namedModules()
    .some(
      ([wrapperPath, module]) =>
        module instanceof ModulesToSaveWrapper &&
        (path === stripPeftPrefix(wrapperPath) || path.startsWith(`${stripPeftPrefix(wrapperPath)}.`)),
    );
}

function stripPeftPrefix(path: string): string {
  return path.replace(/^base_model\.(model\.)?/, '');
}

function runConfigOf(dir: string | undefined): Record<string, unknown> {
  if (!dir || !existsSync(join(dir, 'run_config.json'))) return {};
  return readJsonFile(join(dir, 'run_config.json'));
}

/**
 * Loads a trained model for eval / predict / merge: a model folder (config.json + weights), or a
 * base model plus an adapter folder; `--model <adapter folder>` alone takes the base the adapter names.
 */
export async function loadTrainedModel(
  modelArg: string | undefined,
  adapterArg: string | undefined,
): Promise<TrainedModel> {
  let adapterDir = adapterArg;
  let baseArg = modelArg && expandHome(modelArg);
  if (adapterDir !== undefined) adapterDir = requirePath(adapterDir, 'adapter', 'folder');
  if (adapterDir !== undefined && !existsSync(join(adapterDir, ADAPTER_CONFIG_NAME)))
    throw new UsageError(`--adapter ${adapterDir}: no adapter_config.json there`);
  if (
    baseArg &&
    adapterDir === undefined &&
    isDir(baseArg) &&
    existsSync(join(baseArg, ADAPTER_CONFIG_NAME)) &&
    !existsSync(join(baseArg, 'config.json'))
  ) {
    adapterDir = baseArg;
    baseArg = undefined;
  }
  if (!baseArg) {
    if (!adapterDir)
      throw new UsageError('--model is required (the output folder of finetune train, a model folder or a Hub id)');
    baseArg = adapterBase(adapterDir);
  }
  const source = await resolveModelSource(baseArg);
  const baseRun = runConfigOf(source.dir);
  const adapterRun = runConfigOf(adapterDir);
  const runConfig = { ...baseRun, ...adapterRun };
  const baseLabels =
    typeof source.config.num_labels === 'number'
      ? source.config.num_labels
      : source.config.id2label && typeof source.config.id2label === 'object'
        ? Object.keys(source.config.id2label as object).length
        : typeof source.config.num_classes === 'number'
          ? source.config.num_classes
          : undefined;
  // An adapter's head may have another size than the base's (2 classes trained on a 5-class checkpoint):
  // the base is built with the adapter's, as the trained model was.
  const numLabels =
    (adapterDir ? await adapterHeadSize(adapterDir, adapterRun) : undefined) ??
    baseLabels ??
    // A causal LM's run records no labels: it has no head of classes.
    (Array.isArray(runConfig.labels) && runConfig.labels.length ? runConfig.labels.length : undefined);
  const architecture = classificationArchitecture(source.modelType);
  let model: Module;
  let describe: string;
  let newlyInitialized: string[] = [];
  const loadNotes: string[] = [];
  if (source.kind === 'checkpoint' || source.kind === 'hub') {
    const loaded = await loadPretrained(source.arg, {
      architecture,
      numLabels,
      ignoreMismatchedSizes: numLabels !== baseLabels,
      warn: (m) => loadNotes.push(m.split('\n')[0]),
    });
    model = loaded.model;
    newlyInitialized = newlyInitializedModules(loaded.model, loaded.info);
    describe = `${source.arg}`;
  } else {
    if (!adapterDir) console.error(`note: ${source.arg} has no trained weights: the model is randomly initialised`);
    model = createModel(source.config, {
      architecture,
      numLabels,
      configSource: source.configFile ?? `--model ${source.arg}`,
    });
    describe = `${source.arg} (random init)`;
  }
  if (adapterDir) {
    const peft = await PeftModel.fromPretrained(model, adapterDir, {
      warn: (m: string) => console.error(`note: ${m}`),
    } as never);
    if (existsSync(join(adapterDir, 'non_adapter_state.safetensors'))) await loadModelWeights(peft, adapterDir);
    model = peft;
    describe += ` + adapter ${adapterDir}`;
    // What the adapter trained whole replaces the base's random values; anything else stays random.
    const random = newlyInitialized.filter((path) => !savedWithAdapter(peft, path));
    if (random.length) {
      console.error(
        `warning: ${random.join(', ')}: not in the base checkpoint ${source.arg} nor in the adapter ${adapterDir}, so ${random.length > 1 ? 'they are' : 'it is'} random and each load gives other outputs; ` +
          `train the adapter with ${random.length > 1 ? 'these modules' : 'this module'} in modules_to_save (finetune train does so), or give the base it was trained on with --model`,
      );
    }
  } else {
    for (const note of loadNotes) console.error(`note: ${note}`);
  }
  model.eval();
  const inner = model instanceof PeftModel ? model.model : model;
  const head = isPretrainedModel(inner) ? inner.headLabels() : undefined;
  const n = head?.numLabels ?? numLabels ?? 0;
  const generic = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  const own = generic.map((name, i) => head?.id2label[i] ?? name);
  const recorded = (run: Record<string, unknown>) =>
    Array.isArray(run.labels) && run.labels.length === n ? run.labels.map(String) : undefined;
  // The class names: what train recorded for the adapter, else the model's own (config.json, then its run_config.json) —
  // not when the head was rebuilt for an adapter of another size: the base's names are for its own classes.
  const headRebuilt = numLabels !== baseLabels;
  const named = (names: string[]) => names.some((name, i) => name !== generic[i]);
  let labels = recorded(adapterRun) ?? (headRebuilt ? undefined : named(own) ? own : recorded(baseRun)) ?? generic;
  // So that a merged model's config.json names the classes the adapter was trained on.
  if (labels.some((name, i) => name !== own[i]))
    setLabelNames(model instanceof PeftModel ? model.model : model, labels);
  if (labels.length === 0) labels = Array.from({ length: n }, (_, i) => String(i));
  return {
    model,
    modelType: source.modelType,
    labels,
    runConfig,
    dirs: [adapterDir, source.dir].filter((d): d is string => d !== undefined),
    config: source.config,
    describe,
    hubId: source.kind === 'hub' ? source.arg : undefined,
  };
}

/** Where `finetune eval` reads its data: the file or folder named, else the part the run held out. */
export interface EvalSource {
  path: string | undefined;
  /** The run's --validation-split and seed, when eval splits its training data again. */
  heldOut?: { fraction: number; seed: number };
}

/**
 * `named` (the flag's file or folder), else the part of the run's training data it held out with
 * --validation-split: its training file (train_file) or folder (image_folder), validation_split and seed from
 * run_config.json. A relative path is taken from the folder train ran in (run_config.json's working_dir).
 */
export function evalSource(
  named: string | undefined,
  run: Record<string, unknown>,
  recorded: 'train_file' | 'image_folder',
  flag: string,
): EvalSource {
  const { [recorded]: path, validation_split: fraction, seed, working_dir: trainDir } = run;
  if (named !== undefined || typeof path !== 'string' || typeof fraction !== 'number') return { path: named };
  // Relative to the folder train ran in (working_dir), else to this one.
  const fromTrainDir = typeof trainDir === 'string' ? resolve(trainDir, path) : path;
  const file = existsSync(fromTrainDir) ? fromTrainDir : path;
  if (!existsSync(file))
    throw new UsageError(
      `the run held out --validation-split ${fraction} of its training ${recorded === 'train_file' ? 'file' : 'folder'} ${path}, which is not found ${typeof trainDir === 'string' ? `from the folder train ran in (${trainDir}) nor ` : ''}from ${process.cwd()}: give --${flag}`,
    );
  return { path: file, heldOut: { fraction, seed: typeof seed === 'number' ? seed : 42 } };
}

/** eval's data line for `source`: "from PATH", or "held out of PATH (the run's --validation-split F, seed S[, stratified])". */
export function evalSourceNote(source: EvalSource, stratified: boolean): string {
  if (!source.heldOut) return `from ${source.path}`;
  const { fraction, seed } = source.heldOut;
  return `held out of ${source.path} (the run's --validation-split ${fraction}, seed ${seed}${stratified ? ', stratified' : ''})`;
}
