/**
 * The strategies suite (bench/compare-strategies.ts, engine bench/strategies.ts): the models, the
 * strategies and which apply to which, and the setup request.
 */

export const STRATEGIES = [
  'full',
  'head',
  'top-k',
  'bitfit',
  'lora',
  'dora',
  'ia3',
  'houlsby',
  'prompt-tuning',
] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export const STRATEGY_LABELS: Record<StrategyName, string> = {
  full: 'full',
  head: 'head',
  'top-k': 'top-k',
  bitfit: 'BitFit',
  lora: 'LoRA',
  dora: 'DoRA',
  ia3: 'IA3',
  houlsby: 'adapters (Houlsby)',
  'prompt-tuning': 'prompt tuning',
};

export interface StrategyModelSpec {
  label: string;
  batch: number;
  seqLen?: number;
  imageSize?: number;
  numLabels: number;
  warmupSteps: number;
  /** Interleaved rounds; each round one step of the strategy's process and one of full's. */
  rounds: number;
  /** Strategies that do not apply, and why (as `finetune inspect` says). */
  notApplicable: Partial<Record<StrategyName, string>>;
}

export const STRATEGY_MODELS = {
  'bert-base': {
    label: 'bert-base (B8, T128)',
    batch: 8,
    seqLen: 128,
    numLabels: 2,
    warmupSteps: 2,
    rounds: 4,
    notApplicable: {},
  },
  resnet50: {
    label: 'resnet50 (B8, 224²)',
    batch: 8,
    imageSize: 224,
    numLabels: 1000,
    warmupSteps: 2,
    rounds: 4,
    notApplicable: {
      ia3: 'PEFT has no IA3 targets for CNNs (it rescales attention keys/values and feed-forward activations)',
      'prompt-tuning': 'text models only',
    },
  },
} as const satisfies Record<string, StrategyModelSpec>;

export type StrategyModelName = keyof typeof STRATEGY_MODELS;

export const STRATEGIES_QUICK = { warmupSteps: 1, rounds: 1 };

export function strategyApplies(model: StrategyModelName, strategy: StrategyName): boolean {
  return !(strategy in STRATEGY_MODELS[model].notApplicable);
}

export interface StrategySetup {
  model: StrategyModelName;
  strategy: StrategyName;
  warmupSteps: number;
  seed: number;
  /** Include AdamW's step (and state) in the training step. */
  optimizer: boolean;
}
