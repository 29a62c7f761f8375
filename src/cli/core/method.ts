/**
 * The fine-tuning methods of the training commands (train, compare, lr-find, advise): their names
 * (--method), their flags, and the TrainingArguments strategy each builds for a model — including the
 * default LoRA targets and the IA3 fallback for model types PEFT has no defaults for.
 */
import type { Module } from '../../nn/index.js';
import {
  BottleneckConfig,
  IA3_TARGET_MODULES_BY_MODEL_TYPE,
  IA3Config,
  LoraConfig,
  applyFreezingStrategy,
  PromptTuningConfig,
  type FreezingStrategy,
  SEQ_CLS_HEAD_NAMES,
  type TaskType,
} from '../../peft/index.js';
import type { TrainingStrategy } from '../../train/index.js';
import {
  optBoolean as bool,
  optList as list,
  optNumber as num,
  settingFlags,
  UsageError,
  type FlagTable,
  type Options,
} from './flags.js';
import { defaultTopK, readModelFacts as factsOf, type ModelFacts } from './model-facts.js';
export const METHODS = [
  'full',
  'head',
  'top-k',
  'bitfit',
  'ln',
  'gradual',
  'lora',
  'dora',
  'ia3',
  'prompt-tuning',
  'houlsby',
  'pfeiffer',
] as const;
export type Method = (typeof METHODS)[number];
const METHOD_ALIASES: Record<string, Method> = {
  'gradual-unfreezing': 'gradual',
  prompt: 'prompt-tuning',
  adapters: 'houlsby',
  bottleneck: 'houlsby',
  'layer-norm': 'ln',
};
/** Prompt tuning's virtual tokens when --num-virtual-tokens is not given. */
export const DEFAULT_VIRTUAL_TOKENS = 20;

export const METHOD_FLAGS: FlagTable = {
  method: { kind: 'string', group: 'Method', arg: 'NAME', help: `what trains: ${METHODS.join(', ')} (default full)` },
  k: {
    kind: 'integer',
    group: 'Method',
    help: 'top-k: layer groups trained below the head (default: about a quarter of them)',
  },
  'unfreeze-every-steps': {
    kind: 'integer',
    group: 'Method',
    help: 'gradual: unfreeze one more layer group every N optimizer steps (default: every epoch)',
  },
  'lora-r': { kind: 'integer', group: 'Method', help: 'LoRA / DoRA rank (default 8)' },
  'lora-alpha': { kind: 'number', group: 'Method', help: 'LoRA / DoRA alpha (default 32)' },
  'lora-dropout': { kind: 'number', group: 'Method', help: 'dropout on the LoRA path (default 0.1)' },
  'target-modules': {
    kind: 'list',
    arg: 'A,B',
    group: 'Method',
    help: 'modules LoRA / DoRA / IA3 wrap (default: query,value for transformers, every Conv2d for CNNs)',
  },
  'reduction-factor': {
    kind: 'number',
    group: 'Method',
    help: 'houlsby / pfeiffer: bottleneck reduction (default 16)',
  },
  'num-virtual-tokens': { kind: 'integer', group: 'Method', help: 'prompt-tuning: virtual tokens (default 20)' },
  ...settingFlags(['trainBatchNorm']),
};

export function parseMethod(value: string | undefined): Method {
  const name = (value ?? 'full').toLowerCase();
  if ((METHODS as readonly string[]).includes(name)) return name as Method;
  if (Object.hasOwn(METHOD_ALIASES, name)) return METHOD_ALIASES[name];
  throw new UsageError(`--method: unknown method '${value}' (known: ${METHODS.join(', ')})`);
}

interface AdapterHead {
  taskType?: TaskType;
  modulesToSave?: string[];
  /** ' + a trainable copy of the head …', for the plan line. */
  describe: string;
}

/**
 * What an adapter trains whole besides its own weights (PEFT's modules_to_save): the head (SEQ_CLS's
 * classifier for BERT, else the head modules of the layer groups), and every module the checkpoint
 * left at random values (`newlyInitialized`: a pooler an MLM checkpoint lacks, say). Left frozen and
 * unsaved, such a module would be drawn anew at each load, and the adapter would compute something
 * other than what was trained.
 */
export function adapterHead(facts: ModelFacts, newlyInitialized: readonly string[]): AdapterHead {
  const taskType: TaskType | undefined = facts.modelType === 'bert' ? 'SEQ_CLS' : undefined;
  const headNames = taskType ? SEQ_CLS_HEAD_NAMES : facts.hasClassifier ? ['classifier'] : facts.headPaths;
  // PEFT wraps a module whose path ends with a listed name, with everything below it.
  const covered = (path: string) =>
    headNames.some((name) => path === name || path.endsWith(`.${name}`) || path.startsWith(`${name}.`));
  const fresh = newlyInitialized.filter((path) => !covered(path));
  const modulesToSave = [...(taskType ? [] : headNames), ...fresh];
  const wholes = [
    ...(headNames.length ? ['the head'] : []),
    ...(fresh.length ? [`${fresh.join(', ')} (not in the checkpoint)`] : []),
  ];
  const copies = wholes.length ? ` + a trainable copy of ${wholes.join(' and of ')}` : '';
  return { ...(taskType ? { taskType } : {}), ...(modulesToSave.length ? { modulesToSave } : {}), describe: copies };
}

export interface StrategyPlan {
  method: Method;
  strategy: TrainingStrategy;
  /** What trains, in words (for the plan). */
  describe: string;
}

/** The TrainingArguments strategy for --method and its options. */
export function buildStrategy(
  method: Method,
  model: Module,
  options: Options,
  baseModelNameOrPath: string | null,
  newlyInitialized: readonly string[] = [],
): StrategyPlan {
  const facts = factsOf(model);
  const needGroups = () => {
    if (!facts.groups)
      throw new UsageError(`--method ${method} needs layer groups, which ${facts.architecture} does not declare`);
  };
  const { describe: head, ...headConfig } = adapterHead(facts, newlyInitialized);
  const peftCommon = { ...headConfig, baseModelNameOrPath };
  const targets = list(options, 'target-modules');
  switch (method) {
    case 'full':
      return { method, strategy: { kind: 'full' }, describe: 'every parameter trains' };
    case 'head':
      needGroups();
      return { method, strategy: { kind: 'head' }, describe: `only the head trains (${facts.headPaths.join(', ')})` };
    case 'top-k': {
      needGroups();
      const k = num(options, 'k') ?? defaultTopK(facts.groups);
      if (!Number.isInteger(k) || k < 0 || k > facts.groups - 1)
        throw new UsageError(`--k must be an integer in [0, ${facts.groups - 1}] for ${facts.architecture}, got ${k}`);
      return {
        method,
        strategy: { kind: 'top-k', k },
        describe: `the head and the ${k} layer group(s) below it train`,
      };
    }
    case 'bitfit':
      needGroups();
      if (trainsOnlyTheHead(model, { kind: 'bitfit' }, options)) {
        throw new UsageError(
          `--method bitfit trains every bias, and ${facts.architecture} has none outside the head and its BatchNorm layers, which every freezing method trains (--train-bn): it would train what --method head does; use --method head, or --train-bn false to train BatchNorm biases alone`,
        );
      }
      return { method, strategy: { kind: 'bitfit' }, describe: 'every bias and the head train (BitFit)' };
    case 'ln':
      needGroups();
      if (trainsOnlyTheHead(model, { kind: 'ln' }, options))
        throw new UsageError(
          `--method ln trains LayerNorm / GroupNorm weights, and ${facts.architecture} has none (it would train the head alone): use --method head or bitfit`,
        );
      return { method, strategy: { kind: 'ln' }, describe: 'LayerNorm weights and biases and the head train' };
    case 'gradual': {
      needGroups();
      const every = num(options, 'unfreeze-every-steps');
      if (every !== undefined && !(Number.isInteger(every) && every > 0))
        throw new UsageError(`--unfreeze-every-steps must be a positive integer, got ${every}`);
      return {
        method,
        strategy: { kind: 'gradual-unfreezing', schedule: every ? { everySteps: every } : { every: 'epoch' } },
        describe: `gradual unfreezing: the head first, one more of ${facts.groups} layer groups ${every ? `every ${every} steps` : 'every epoch'}`,
      };
    }
    case 'lora':
    case 'dora': {
      let targetModules = targets;
      if (!targetModules) {
        if (facts.hasQueryValue) targetModules = ['query', 'value'];
        else if (facts.convNames.length) targetModules = facts.convNames;
        else
          throw new UsageError(
            `--method ${method}: ${facts.architecture} has no query/value projections or Conv2d layers; give --target-modules`,
          );
      }
      const r = num(options, 'lora-r') ?? 8;
      const loraAlpha = num(options, 'lora-alpha') ?? 32;
      const loraDropout = num(options, 'lora-dropout') ?? 0.1;
      if (!(Number.isInteger(r) && r > 0)) throw new UsageError(`--lora-r must be a positive integer, got ${r}`);
      // 'all-linear' alone is PEFT's keyword (every Linear but the head), not a module name.
      const targetSpec: string[] | string =
        targetModules.length === 1 && targetModules[0] === 'all-linear' ? 'all-linear' : targetModules;
      const strategy = new LoraConfig({
        ...peftCommon,
        r,
        loraAlpha,
        loraDropout,
        targetModules: targetSpec,
        useDora: method === 'dora',
      });
      const shown =
        typeof targetSpec === 'string'
          ? 'every Linear layer but the head (all-linear)'
          : targetModules.length > 4
            ? `${targetModules.length} modules`
            : targetModules.join(', ');
      return {
        method,
        strategy,
        describe: `${method === 'dora' ? 'DoRA' : 'LoRA'} r=${r}, α=${loraAlpha}, dropout ${loraDropout} on ${shown}${head}`,
      };
    }
    case 'ia3': {
      const hasDefaults = Object.hasOwn(IA3_TARGET_MODULES_BY_MODEL_TYPE, facts.modelType);
      let config: IA3Config;
      if (targets)
        config = new IA3Config({
          ...peftCommon,
          targetModules: targets,
          feedforwardModules: targets.filter((t) => /output\.dense|fc|mlp/.test(t)),
        });
      else if (hasDefaults) config = new IA3Config({ ...peftCommon });
      else if (facts.modelType === 'vit')
        config = new IA3Config({
          ...peftCommon,
          targetModules: ['key', 'value', 'output.dense'],
          feedforwardModules: ['output.dense'],
        });
      else
        throw new UsageError(
          `--method ia3: PEFT has no default IA3 targets for ${facts.modelType}; give --target-modules`,
        );
      return {
        method,
        strategy: config,
        describe: `IA3 scaling vectors on keys, values and feed-forward inputs${head}`,
      };
    }
    case 'prompt-tuning': {
      if (!facts.hasWordEmbeddings)
        throw new UsageError(
          `--method prompt-tuning is for text models; ${facts.architecture} has no token embeddings`,
        );
      const numVirtualTokens = num(options, 'num-virtual-tokens') ?? DEFAULT_VIRTUAL_TOKENS;
      return {
        method,
        strategy: new PromptTuningConfig({ ...peftCommon, numVirtualTokens }),
        describe: `prompt tuning: ${numVirtualTokens} virtual tokens${head}`,
      };
    }
    case 'houlsby':
    case 'pfeiffer': {
      const reductionFactor = num(options, 'reduction-factor') ?? 16;
      return {
        method,
        strategy: new BottleneckConfig({ ...peftCommon, variant: method, reductionFactor }),
        describe: ['bert', 'vit'].includes(facts.modelType)
          ? `${method === 'houlsby' ? 'Houlsby' : 'Pfeiffer'} bottleneck adapters, reduction ${reductionFactor}${head}`
          : `bottleneck adapters of 1×1 convolutions, reduction ${reductionFactor} (on a CNN houlsby and pfeiffer place them alike)${head}`,
      };
    }
  }
}

/**
 * Whether a freezing strategy trains exactly what --method head trains on this model (BitFit on a
 * network whose only biases are the head's and BatchNorm's, LN-only on one without LayerNorm): the
 * user asked for something else and would get head-only training without knowing it.
 */
function trainsOnlyTheHead(model: Module, strategy: FreezingStrategy, options: Options): boolean {
  const freezeOptions = { trainBatchNorm: bool(options, 'train-bn') ?? true };
  const parameters = model.parameters();
  const before = parameters.map((p) => p.requiresGrad);
  const trained = () => parameters.map((p) => p.requiresGrad).join();
  applyFreezingStrategy(model, strategy, freezeOptions);
  const chosen = trained();
  applyFreezingStrategy(model, { kind: 'head' }, freezeOptions);
  const head = trained();
  parameters.forEach((p, i) => p.requiresGrad_(before[i]));
  return chosen === head;
}
