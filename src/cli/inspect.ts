/**
 * `finetune inspect`: the fine-tuning trade-off table computed for a real model. For each
 * strategy — freezing (full, head, top-k, gradual unfreezing, BitFit, LayerNorm) and PEFT
 * methods (bottleneck adapters, LoRA, DoRA, IA3, prompt tuning) — how many parameters train,
 * out of how many, and the percentage. Models are built with random weights (createModel), from
 * a preset name or a folder's config.json; no checkpoint is needed to count.
 *
 * Freezing rows count the base model's parameters (summarizeTrainable). PEFT rows count the
 * wrapped model as PEFT's get_nb_trainable_parameters does: its total includes the adapter
 * parameters and the trainable copy of every module to save (the head).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { createModel } from '../io/index.js';
import { formatInteger } from '../report/format.js';
import type { Module } from '../nn/index.js';
import { findPreset, modelFamilies, type HfConfig } from '../models/index.js';
import {
  applyFreezingStrategy,
  BottleneckConfig,
  getPeftModel,
  GradualUnfreezing,
  DEFAULT_VIRTUAL_TOKENS,
  defaultTopK,
  defaultLoraTargets,
  defaultTargets,
  getMethod,
  IA3Config,
  methodAliases,
  methodNames,
  LoraConfig,
  ModulesToSaveWrapper,
  PromptTuningConfig,
  summarizeTrainable,
  type FreezingStrategy,
  type MethodContext,
  type MethodName,
  type PeftConfig,
  type PeftModel,
  type TaskType,
} from '../peft/index.js';
import { flagHelp, parseCommandLine, UsageError, type FlagTable } from './core/flags.js';
import { isLocalPath, requireModelPath } from './core/paths.js';
import { readModelFacts, type ModelFacts as SharedModelFacts } from './core/model-facts.js';
import { adapterHead } from './core/method.js';
import { importRequired, REQUIRE_FLAG } from './core/require.js';
import { applyThreads, THREADS_FLAG } from './core/threads.js';

export const INSPECT_USAGE = `Usage: finetune inspect --model <preset|dir> [--method <name>[,<name>…]|all] [--num-labels N] [--json]
                        [--k K] [--r R] [--alpha A] [--target m1,m2] [--reduction F] [--train-bn=false] [--threads N]

FLAGS`;

/** The registered methods (peft's registerMethod) are the rows, in registration order; PEFT methods count the wrapped model. */
const isPeftMethod = (method: MethodName) => getMethod(method).peft !== undefined;

interface Options {
  k?: number;
  r: number;
  alpha: number;
  target?: string[];
  reduction: number;
  virtualTokens: number;
  trainBatchNorm: boolean;
}

interface Stage {
  stage: number;
  /** The layer groups that train at this stage, input side first. */
  groups: string[];
  trainable: number;
  percent: number;
}

export interface InspectRow {
  method: MethodName;
  label: string;
  status: 'ok' | 'n/a' | 'error';
  /** 'freezing': counts over the base model; 'peft': PEFT's counts over the wrapped model. */
  kind: 'freezing' | 'peft';
  trainable?: number;
  total?: number;
  percent?: number;
  /** What trains. */
  detail?: string;
  /** Why the method does not apply (n/a) or what failed (error). */
  reason?: string;
  /** Gradual unfreezing: stage 1 (head only) … N (everything). */
  stages?: Stage[];
  /** PEFT rows: PeftModel.trainableParametersLine(), PEFT's print_trainable_parameters() line. */
  peftLine?: string;
  /** PEFT rows: the adapter config (adapter_config.json's form, targets resolved). */
  config?: Record<string, unknown>;
}

/** What is known about the model before the methods run, read off one built copy. */
type ModelFacts = SharedModelFacts & { source: string };

/** Runs `finetune inspect`: 0 when every row was computed, 2 for usage errors, 1 when a row failed (other errors throw). */
export async function runInspect(argv: string[]): Promise<number> {
  try {
    const request = await parseRequest(argv);
    if (request === 'help') {
      console.log(inspectHelp());
      return 0;
    }
    return inspect(request);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`finetune inspect: ${error.message}\n\n${inspectHelp()}`);
      return 2;
    }
    throw error;
  }
}

function inspect(request: Exclude<Awaited<ReturnType<typeof parseRequest>>, 'help'>): number {
  const { build, source, methods, options, json, single } = request;

  const base = build();
  let facts: ModelFacts;
  const rows: InspectRow[] = [];
  try {
    facts = readFacts(base, source);
    if (options.k !== undefined && facts.hasGroups) checkK(options.k, facts.groups);
    // The freezing rows only set requiresGrad, so they share one model.
    for (const method of methods.filter((m) => !isPeftMethod(m)))
      rows.push(guarded(method, 'freezing', () => freezingRow(method, base, facts, options)));
  } catch (error) {
    base.dispose();
    throw error;
  }
  // Each PEFT method changes the model it wraps: a fresh model per row (the first reuses `base`).
  let spare: Module | null = base;
  for (const method of methods.filter(isPeftMethod)) {
    rows.push(
      guarded(method, 'peft', () => {
        const model = spare ?? build();
        spare = null;
        const plan = peftPlan(method, model, facts, options);
        if ('na' in plan) {
          spare = model;
          return { status: 'n/a', reason: plan.na };
        }
        model.requiresGrad_(true);
        let wrapped: PeftModel | null = null;
        try {
          wrapped = getPeftModel(model, plan.config);
          const [trainable, total] = wrapped.getNbTrainableParameters();
          return {
            status: 'ok',
            trainable,
            total,
            percent: (100 * trainable) / total,
            detail: plan.describe(wrapped),
            peftLine: wrapped.trainableParametersLine(),
            config: wrapped.peftConfig.get('default')!.toJson(),
          };
        } finally {
          (wrapped ?? model).dispose();
        }
      }),
    );
  }
  if (spare) (spare as Module).dispose();
  const order = methodNames();
  rows.sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method));

  if (json) {
    const { k, r, alpha, target, reduction, virtualTokens, trainBatchNorm } = options;
    const used = {
      k: methods.includes('top-k') && facts.hasGroups ? (k ?? defaultTopK(facts.groups)) : k,
      r,
      alpha,
      target: target ?? null,
      reduction,
      virtualTokens,
      trainBatchNorm,
    };
    const out = {
      model: facts.source,
      architecture: facts.architecture,
      modelType: facts.modelType,
      numLabels: facts.numLabels,
      total: facts.total,
      groups: facts.groupSizes,
      options: used,
      rows,
    };
    console.log(JSON.stringify(out, null, 2));
  } else {
    printText(facts, rows, single, options);
  }
  return rows.some((r) => r.status === 'error') ? 1 : 0;
}

export function inspectHelp(): string {
  return INSPECT_USAGE.replace('FLAGS', flagHelp(INSPECT_FLAGS));
}

// ---- arguments ----------------------------------------------------------------------------

export const INSPECT_FLAGS: FlagTable = {
  model: {
    kind: 'string',
    arg: 'PRESET|DIR',
    help: `a preset (${['bert-base-uncased', 'vit-base-patch16-224', 'resnet50', 'alexnet'].join(', ')}, …) or a folder with config.json`,
  },
  method: {
    kind: 'string',
    arg: 'NAME[,NAME…]|all',
    help: `one or more of ${methodNames().join(', ')}, or all (default)`,
  },
  'num-labels': {
    kind: 'number',
    arg: 'N',
    help: "labels / classes of the task head (default: the preset's or the config's; bert presets: 2)",
  },
  json: { kind: 'boolean', help: 'machine-readable rows' },
  k: {
    kind: 'number',
    arg: 'K',
    help: 'top-k: layer groups trained below the head (default: about a quarter of them)',
  },
  r: { kind: 'number', arg: 'R', help: 'LoRA / DoRA rank (default 8)' },
  alpha: { kind: 'number', arg: 'A', help: 'LoRA / DoRA alpha (default 32)' },
  target: {
    kind: 'string',
    arg: 'm1,m2',
    help: 'the modules LoRA / DoRA wrap (default: query,value for transformers, every Conv2d for CNNs)',
  },
  reduction: { kind: 'number', arg: 'F', help: "bottleneck adapters' reduction factor (default 16)" },
  'train-bn': {
    kind: 'boolean',
    help: "freezing rows keep BatchNorm weights trainable in frozen groups (default true, fastai's train_bn)",
  },
  ...REQUIRE_FLAG,
  ...THREADS_FLAG,
};

async function parseRequest(argv: string[]) {
  const { flags, help } = parseCommandLine(argv, INSPECT_FLAGS);
  if (help) return 'help';
  applyThreads(flags.threads);
  const model = flags.model as string | undefined;
  if (!model) throw new UsageError('--model is required (a preset name or a folder with config.json)');
  await importRequired(flags);
  const methods = parseMethods((flags.method as string | undefined) ?? 'all');
  const numLabels = flags['num-labels'] as number | undefined;
  if (numLabels !== undefined && !(Number.isInteger(numLabels) && numLabels > 0))
    throw new UsageError(`--num-labels must be a positive integer, got ${numLabels}`);
  const positiveInteger = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      throw new UsageError(`--${name} must be a positive integer, got ${value}`);
    return value;
  };
  const k = flags.k as number | undefined;
  if (k !== undefined && !(Number.isInteger(k) && k >= 0))
    throw new UsageError(`--k must be a non-negative integer, got ${k}`);
  const alpha = flags.alpha as number | undefined;
  if (alpha !== undefined && !(alpha > 0)) throw new UsageError(`--alpha must be positive, got ${alpha}`);
  const reduction = flags.reduction as number | undefined;
  if (reduction !== undefined && !(reduction > 0))
    throw new UsageError(`--reduction must be positive, got ${reduction}`);
  const target =
    flags.target === undefined
      ? undefined
      : String(flags.target)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  if (target !== undefined && target.length === 0) throw new UsageError('--target needs at least one module name');
  const options: Options = {
    k,
    r: positiveInteger('r', flags.r as number | undefined) ?? 8,
    alpha: alpha ?? 32,
    target,
    reduction: reduction ?? 16,
    virtualTokens: DEFAULT_VIRTUAL_TOKENS,
    trainBatchNorm: (flags['train-bn'] as boolean | undefined) ?? true,
  };
  return {
    ...modelSource(model, numLabels),
    methods,
    options,
    json: flags.json === true,
    single: methods.length === 1,
  };
}

/** Method names, 'all', or aliases: an alias stands for every method that lists it ('adapters': houlsby and pfeiffer). */
function parseMethods(spec: string): MethodName[] {
  const names = methodNames();
  if (spec === 'all') return names;
  const aliases = methodAliases();
  const out = new Set<MethodName>();
  for (const name of spec
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    if (names.includes(name)) out.add(name);
    else if (aliases.has(name)) aliases.get(name)!.forEach((m) => out.add(m));
    else
      throw new UsageError(
        `unknown method '${name}' (known: ${names.join(', ')}, all; aliases: ${[...aliases.keys()].join(', ')})`,
      );
  }
  if (out.size === 0) throw new UsageError('--method needs a method name');
  return [...out];
}

/** A preset name, a folder with config.json, or a config.json file → how to build the model. */
function modelSource(model: string, numLabels: number | undefined): { build: () => Module; source: string } {
  const preset = findPreset(model);
  if (preset) {
    // The seed's setting for text: sequence classification (2 labels unless --num-labels).
    const architecture = preset.family.modelType === 'bert' ? 'BertForSequenceClassification' : undefined;
    return { build: () => createModel(model, { architecture, numLabels }), source: model };
  }
  if (!isLocalPath(model)) {
    const presets = modelFamilies().flatMap((f) => Object.keys(f.presets));
    throw new UsageError(
      `unknown model '${model}': not a preset and not a folder with config.json (presets: ${presets.join(', ')})`,
    );
  }
  const path = requireModelPath(model, 'model');
  const file = statSync(path).isDirectory() ? join(path, 'config.json') : path;
  if (!existsSync(file)) throw new Error(`${model} has no config.json`);
  let json: HfConfig;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as HfConfig;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return { build: () => createModel(json, { numLabels, configSource: file }), source: model };
}

function checkK(k: number, groupCount: number): void {
  if (k > groupCount - 1)
    throw new UsageError(
      `--k must be at most ${groupCount - 1} (the model has ${groupCount - 1} layer groups below its head), got ${k}`,
    );
}

// ---- the model -----------------------------------------------------------------------------

function readFacts(model: Module, source: string): ModelFacts {
  return { source, ...readModelFacts(model) };
}

// ---- rows -------------------------------------------------------------------------------

type RowResult = Omit<InspectRow, 'method' | 'label' | 'kind'> & { label?: string };

/** A method's build refusing this model (MethodContext.refuse): the row is n/a. */
class NotApplicable extends Error {}

function guarded(method: MethodName, kind: InspectRow['kind'], compute: () => RowResult): InspectRow {
  let result: RowResult;
  try {
    result = compute();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // DoRA wraps Linear and Conv2d layers only (not Embedding).
    result =
      error instanceof NotApplicable || /DoRA is not supported/.test(message)
        ? { status: 'n/a', reason: message }
        : { status: 'error', reason: message };
  }
  return { method, kind, ...result, label: result.label ?? getMethod(method).label };
}

function freezingRow(method: MethodName, model: Module, facts: ModelFacts, options: Options): RowResult {
  const freezeOptions = { trainBatchNorm: options.trainBatchNorm };
  if (method !== 'full' && !facts.hasGroups)
    return { status: 'n/a', reason: `${facts.architecture} declares no layer groups, so there is no head to keep` };
  const counted = (detail: string): RowResult => {
    const s = summarizeTrainable(model);
    return { status: 'ok', trainable: s.trainable, total: s.total, percent: s.percent, detail };
  };
  // fastai's train_bn: frozen groups keep their BatchNorm weights and biases trainable.
  const bn = facts.hasBatchNorm && options.trainBatchNorm ? ' + every BatchNorm (train_bn)' : '';
  const headNote = `the head (${facts.headPaths.join(', ')})${bn}`;
  switch (method) {
    case 'full':
      applyFreezingStrategy(model, { kind: 'full' });
      return counted('every parameter');
    case 'head':
      applyFreezingStrategy(model, { kind: 'head' }, freezeOptions);
      return counted(headNote);
    case 'top-k': {
      const k = options.k ?? defaultTopK(facts.groups);
      applyFreezingStrategy(model, { kind: 'top-k', k }, freezeOptions);
      const below = facts.groupSizes.slice(facts.groups - 1 - k, -1).map((g) => g.name);
      return {
        ...counted(
          `the head and the ${k} layer group${k === 1 ? '' : 's'} below it${k ? ` (${compactNames(below)})` : ''}${bn}`,
        ),
        label: `top-k (k=${k})`,
      };
    }
    case 'gradual': {
      const n = facts.groups;
      const stages: Stage[] = [];
      const unfreezing = new GradualUnfreezing(model, { every: 'epoch' }, freezeOptions);
      for (let epoch = 0; epoch < n; epoch++) {
        unfreezing.onEpochStart(epoch);
        const s = summarizeTrainable(model);
        stages.push({
          stage: epoch + 1,
          groups: unfreezing.trainableGroups,
          trainable: s.trainable,
          percent: s.percent,
        });
      }
      const last = stages.at(-1)!;
      return {
        status: 'ok',
        trainable: last.trainable,
        total: facts.total,
        percent: last.percent,
        stages,
        detail: `${n} stages: head only → everything, one more layer group per stage`,
      };
    }
    case 'bitfit':
      applyFreezingStrategy(model, { kind: 'bitfit' }, freezeOptions);
      return counted(`every bias, and the head${bn}`);
    case 'ln':
      if (!facts.hasNorm) {
        return {
          status: 'n/a',
          reason:
            facts.hasBatchNorm && options.trainBatchNorm
              ? `${facts.architecture} has no LayerNorm or GroupNorm; its BatchNorm layers already train in every freezing row`
              : `${facts.architecture} has no LayerNorm or GroupNorm`,
        };
      }
      applyFreezingStrategy(model, { kind: 'ln' }, freezeOptions);
      return counted('every LayerNorm / GroupNorm weight and bias, and the head');
    default: {
      // A method registered elsewhere: its own build and plan line.
      const built = getMethod(method).build(methodContext(model, facts, options));
      applyFreezingStrategy(model, built.strategy as FreezingStrategy, freezeOptions);
      return counted(built.describe);
    }
  }
}

interface PeftPlan {
  config: PeftConfig;
  describe(model: PeftModel): string;
}

/** How the head trains alongside a PEFT method: as train's adapters (SEQ_CLS for text classifiers, else the head's modules to save). */
function headOptions(facts: ModelFacts): { taskType?: TaskType; modulesToSave?: string[] } {
  const { describe: _describe, ...head } = adapterHead(facts, []);
  return head;
}

/** What a registered method's build reads, from inspect's flags (--r is train's --lora-r, …); a refusal makes the row n/a. */
function methodContext(model: Module, facts: ModelFacts, options: Options): MethodContext {
  const settings: Record<string, number | boolean | string[] | undefined> = {
    k: options.k,
    'lora-r': options.r,
    'lora-alpha': options.alpha,
    'target-modules': options.target,
    'reduction-factor': options.reduction,
    'num-virtual-tokens': options.virtualTokens,
    'train-bn': options.trainBatchNorm,
  };
  const setting = <T>(flag: string) => (Object.hasOwn(settings, flag) ? (settings[flag] as T | undefined) : undefined);
  return {
    model,
    facts,
    number: (flag) => setting<number>(flag),
    list: (flag) => setting<string[]>(flag),
    boolean: (flag) => setting<boolean>(flag),
    peftCommon: headOptions(facts),
    headNote: '',
    refuse: (message) => {
      throw new NotApplicable(message);
    },
  };
}

function peftPlan(method: MethodName, model: Module, facts: ModelFacts, options: Options): PeftPlan | { na: string } {
  const head = headOptions(facts);
  switch (method) {
    case 'houlsby':
    case 'pfeiffer': {
      const config = new BottleneckConfig({ ...head, variant: method, reductionFactor: options.reduction });
      const where = ['bert', 'vit'].includes(facts.modelType)
        ? method === 'houlsby'
          ? 'after the attention and feed-forward outputs'
          : 'after the feed-forward output'
        : facts.modelType === 'resnet'
          ? 'after each residual block (both variants)'
          : facts.modelType === 'alexnet'
            ? 'after each conv layer (both variants)'
            : 'on the default modules';
      return {
        config,
        describe: (m) => `${adapterCount(m)} adapters ${where}, reduction ${options.reduction}${copies(m)}`,
      };
    }
    case 'lora':
    case 'dora': {
      const defaults = options.target ? undefined : defaultLoraTargets(facts);
      const targets = options.target ?? defaults?.targetModules;
      if (!targets)
        return {
          na: `${facts.architecture} has no query / value projections or Conv2d layers to target (give --target)`,
        };
      const config = new LoraConfig({
        ...head,
        r: options.r,
        loraAlpha: options.alpha,
        targetModules: targets,
        useDora: method === 'dora',
      });
      const everyConv = defaults?.everyConv2d ?? false;
      return {
        config,
        describe: (m) =>
          `${method === 'dora' ? 'LoRA + magnitude' : 'rank'} r=${options.r}, α=${options.alpha} on ${adapterCount(m)} layers (${everyConv ? 'every Conv2d' : targetSummary(m)})${copies(m)}`,
      };
    }
    case 'ia3': {
      const defaults = defaultTargets('IA3', facts.modelType);
      if (defaults?.source === 'peft')
        return {
          config: new IA3Config({ ...head }),
          describe: (m) =>
            `scaling vectors on ${adapterCount(m)} layers (${targetSummary(m)}; PEFT's defaults)${copies(m)}`,
        };
      if (defaults && facts.hasQueryValue) {
        // ViT's layers are named as BERT's; PEFT 0.21 has no IA3 defaults for vit, so finetune's (BERT's) are given explicitly.
        const config = new IA3Config({
          ...head,
          targetModules: [...defaults.targetModules],
          feedforwardModules: [...(defaults.feedforwardModules ?? [])],
        });
        return {
          config,
          describe: (m) =>
            `scaling vectors on ${adapterCount(m)} layers (${targetSummary(m)}; bert's defaults, PEFT has none for ${facts.modelType})${copies(m)}`,
        };
      }
      return {
        na: `PEFT has no default IA3 targets for model_type '${facts.modelType}'; IA3 rescales transformers' attention keys, values and feed-forward activations`,
      };
    }
    case 'prompt-tuning': {
      if (!facts.hasWordEmbeddings)
        return {
          na: `text models only: ${facts.architecture} has no token embedding table to prepend virtual tokens to`,
        };
      const config = new PromptTuningConfig({ ...head, numVirtualTokens: options.virtualTokens });
      return {
        config,
        describe: (m) =>
          `${options.virtualTokens} virtual tokens × ${(m.peftConfig.get('default') as PromptTuningConfig).tokenDim}${copies(m)}`,
      };
    }
    default: {
      // A method registered elsewhere: its own build and plan line.
      const built = getMethod(method).build(methodContext(model, facts, options));
      return { config: built.strategy as PeftConfig, describe: (m) => `${built.describe}${copies(m)}` };
    }
  }
}

/** The wrapped modules of a layer method, by name. */
function tunerLayerNames(model: PeftModel): string[] {
  const tuner = model.base_model as unknown as { tunerLayers?: () => [string, Module][] };
  return tuner.tunerLayers ? tuner.tunerLayers().map(([key]) => key) : [];
}

function adapterCount(model: PeftModel): number {
  return tunerLayerNames(model).length;
}

/** The wrapped modules' names without their layer index prefix ('bert.encoder.layer.3.attention.self.query' → 'query'), distinct. */
function targetSummary(model: PeftModel): string {
  const names = [
    ...new Set(
      tunerLayerNames(model).map((key) => {
        const inLayer = /\.\d+\.(.+)$/.exec(key)?.[1] ?? key;
        return inLayer.replace(/^(attention\.self|attention\.attention)\./, '');
      }),
    ),
  ];
  return names.length > 6 ? `${names.slice(0, 6).join(', ')}, …` : names.join(', ');
}

/** ' + a trainable copy of the head (classifier)', for the modules to save. */
function copies(model: PeftModel): string {
  const saved = model
    .namedModules()
    .filter(([, m]) => m instanceof ModulesToSaveWrapper)
    .map(([key]) => key.replace(/^base_model\.(model\.)?/, ''));
  return saved.length ? ` + head copy (${saved.join(', ')})` : '';
}

/** ['encoder.layer.9', 'encoder.layer.10', 'encoder.layer.11'] → 'encoder.layer.9–11'. */
export function compactNames(names: string[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < names.length) {
    const match = /^(.*?)(\d+)$/.exec(names[i]);
    let j = i;
    if (match) {
      while (j + 1 < names.length) {
        const next = /^(.*?)(\d+)$/.exec(names[j + 1]);
        if (!next || next[1] !== match[1] || Number(next[2]) !== Number(match[2]) + (j + 1 - i)) break;
        j++;
      }
    }
    out.push(j > i + 1 ? `${names[i]}–${/(\d+)$/.exec(names[j])![1]}` : names.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return out.join(', ');
}

// ---- output -----------------------------------------------------------------------------

function pct(p: number): string {
  return `${p.toFixed(2)}%`;
}

function printText(facts: ModelFacts, rows: InspectRow[], single: boolean, options: Options): void {
  const labels = facts.numLabels === null ? '' : `, ${facts.numLabels} label${facts.numLabels === 1 ? '' : 's'}`;
  console.log(`${facts.source}: ${facts.architecture}${labels}, ${formatInteger(facts.total)} parameters`);
  if (facts.hasGroups) console.log(`layer groups (input → head): ${compactNames(facts.groupSizes.map((g) => g.name))}`);
  console.log('');

  const table: string[][] = [['method', 'trainable', 'total', 'trainable%', 'what trains']];
  for (const row of rows) {
    if (row.status !== 'ok') {
      table.push([row.label, `${row.status === 'n/a' ? 'n/a' : 'error'} (${row.reason})`]);
    } else if (row.stages) {
      const first = row.stages[0];
      const last = row.stages.at(-1)!;
      table.push([
        row.label,
        `${formatInteger(first.trainable)}–${formatInteger(last.trainable)}`,
        formatInteger(row.total!),
        `${first.percent.toFixed(2)}–${pct(last.percent)}`,
        row.detail ?? '',
      ]);
    } else {
      table.push([
        row.label + (row.kind === 'peft' ? ' *' : ''),
        formatInteger(row.trainable!),
        formatInteger(row.total!),
        pct(row.percent!),
        row.detail ?? '',
      ]);
    }
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...table.filter((r) => r.length > 2).map((r) => r[c].length)));
  for (const r of table) {
    if (r.length === 2) {
      console.log(`${r[0].padEnd(widths[0])}  ${r[1]}`);
      continue;
    }
    console.log(
      [r[0].padEnd(widths[0]), r[1].padStart(widths[1]), r[2].padStart(widths[2]), r[3].padStart(widths[3]), r[4]]
        .join('  ')
        .trimEnd(),
    );
  }

  const gradual = rows.find((r) => r.stages);
  const notes: string[] = [];
  if (gradual) {
    notes.push(
      `gradual unfreezing: a stage is one step of the schedule (an epoch, or every N optimizer steps); stage 1 trains the head only ` +
        `and each later stage unfreezes the next layer group down, until stage ${gradual.stages!.length} trains everything. Trainable % by stage:\n  ` +
        gradual.stages!.map((s) => `${s.stage}: ${s.percent.toFixed(2)}`).join(' · '),
    );
  }
  if (rows.some((r) => r.kind === 'peft' && r.status === 'ok')) {
    notes.push(
      "* PEFT rows count as PEFT's get_nb_trainable_parameters / print_trainable_parameters: 'total' is the wrapped model's, i.e. the base model " +
        'plus the adapter parameters plus the trainable copy of each module to save (the head); freezing rows count the base model.',
    );
  }
  if (
    facts.hasBatchNorm &&
    options.trainBatchNorm &&
    rows.some((r) => r.kind === 'freezing' && r.method !== 'full' && r.status === 'ok')
  ) {
    notes.push(
      "freezing rows keep BatchNorm weights and biases trainable in frozen groups (fastai's train_bn, the default; --train-bn=false freezes them).",
    );
  }
  if (notes.length) console.log('\n' + notes.join('\n'));

  if (single) {
    const row = rows[0];
    if (row.peftLine) console.log(`\ngetPeftModel(model, config).printTrainableParameters():\n${row.peftLine}`);
  }
}
