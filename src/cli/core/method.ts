/**
 * The fine-tuning methods of the training commands (train, compare, lr-find, advise): --method and its
 * flags (--require: modules that register more), and the strategy the registered method (peft's
 * registerMethod) builds for a model.
 */
import type { Module } from '../../nn/index.js';
import {
  getMethod,
  isMethodName,
  methodNames,
  SEQ_CLS_HEAD_NAMES,
  type MethodName,
  type MethodPlan,
  type TaskType,
} from '../../peft/index.js';
import {
  optBoolean as bool,
  optList as list,
  optNumber as num,
  UsageError,
  type FlagTable,
  type Options,
} from './flags.js';
import { settingFlags } from './setting-flags.js';
import { readModelFacts as factsOf, type ModelFacts } from './model-facts.js';
import { REQUIRE_FLAG } from './require.js';

export const METHOD_FLAGS: FlagTable = {
  method: {
    kind: 'string',
    group: 'Method',
    arg: 'NAME',
    help: `what trains: ${methodNames().join(', ')} (default full), or a method --require registers`,
  },
  ...REQUIRE_FLAG,
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

/** The registered method --method names (an alias resolved to its method). */
export function parseMethod(value: string | undefined): MethodName {
  const name = (value ?? 'full').toLowerCase();
  if (!isMethodName(name))
    throw new UsageError(
      `--method: unknown method '${value}' (known: ${methodNames().join(', ')}; a method of your own: --require the module that registers it)`,
    );
  return getMethod(name).name;
}

interface AdapterHead {
  taskType?: TaskType;
  modulesToSave?: string[];
  /** ' + a trainable copy of the head …', for the plan line. */
  describe: string;
}

/**
 * What an adapter trains whole besides its own weights (PEFT's modules_to_save): the head (SEQ_CLS's
 * classifier for BERT, none for a causal LM as PEFT's CAUSAL_LM, else the head modules of the layer
 * groups), and every module the checkpoint
 * left at random values (`newlyInitialized`: a pooler an MLM checkpoint lacks, say). Left frozen and
 * unsaved, such a module would be drawn anew at each load, and the adapter would compute something
 * other than what was trained.
 */
export function adapterHead(facts: ModelFacts, newlyInitialized: readonly string[]): AdapterHead {
  const taskType: TaskType | undefined = facts.causalLm
    ? 'CAUSAL_LM'
    : facts.modelType === 'bert'
      ? 'SEQ_CLS'
      : undefined;
  // CAUSAL_LM has no head to copy: lm_head is the token embedding (tied), adapted through the layers below it.
  const headNames = facts.causalLm
    ? []
    : taskType
      ? SEQ_CLS_HEAD_NAMES
      : facts.hasClassifier
        ? ['classifier']
        : facts.headPaths;
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

/** The TrainingArguments strategy for --method and its options: the registered method's build (peft's registerMethod). */
export function buildStrategy(
  method: MethodName,
  model: Module,
  options: Options,
  baseModelNameOrPath: string | null,
  newlyInitialized: readonly string[] = [],
): MethodPlan {
  const facts = factsOf(model);
  if (facts.causalLm && method === 'head')
    throw new UsageError(
      `--method head trains a classification head on frozen features; ${facts.architecture}'s output layer is its token embedding (tied): use --method lora, ia3, prompt-tuning, bitfit or full`,
    );
  const { describe: headNote, ...headConfig } = adapterHead(facts, newlyInitialized);
  const built = getMethod(method).build({
    model,
    facts,
    number: (flag) => num(options, flag),
    list: (flag) => list(options, flag),
    boolean: (flag) => bool(options, flag),
    peftCommon: { ...headConfig, baseModelNameOrPath },
    headNote,
    refuse: (message) => {
      throw new UsageError(message);
    },
  });
  return { method, ...built };
}
