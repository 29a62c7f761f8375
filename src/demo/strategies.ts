/**
 * The strategies the demo compares, each a TrainingArguments strategy plus its learning rate:
 *
 * - from scratch: the same network, randomly initialised, every parameter trained, at the
 *   pretraining recipe's lr (what one would do without a pretrained model);
 * - head: a new head on the frozen pretrained body;
 * - top-k: the head and the k layer groups below it;
 * - gradual unfreezing (ULMFiT): the head, then one more layer group every N steps, the whole
 *   network from half the budget on;
 * - adapters: bottleneck adapters (and the head) on the frozen body;
 * - LoRA: low-rank updates (and the head) on the frozen body;
 * - full fine-tuning: every parameter, starting from the pretrained weights.
 *
 * The pretrained rows take `optim.defaultFineTuneLr` for their method, given the pretrained
 * checkpoint's config.json — which records the pretraining lr, so the methods that update the
 * pretrained weights (full, top-k, gradual) run at a tenth of it and the others at their method's
 * default — times `lrScale` (see DemoSettings.lrScale).
 */
import type { HfConfig } from '../models/index.js';
import { defaultFineTuneLr, formatLr, type FineTuneMethod } from '../optim/index.js';
import type { TrainingStrategy } from '../train/index.js';
import type { DemoModelSpec } from './models.js';

export type StrategyKey = 'scratch' | 'head' | 'top-k' | 'gradual' | 'adapters' | 'lora' | 'full';
export const STRATEGY_KEYS: readonly StrategyKey[] = ['scratch', 'head', 'top-k', 'gradual', 'adapters', 'lora', 'full'];

export interface StrategyPlan {
  key: StrategyKey;
  /** The row's name in the table. */
  label: string;
  /** Starts from the pretrained weights (all but from scratch). */
  pretrained: boolean;
  strategy: TrainingStrategy | null;
  lr: number;
  /** Where the lr comes from. */
  lrReason: string;
  /** What trains, in words. */
  note: string;
}

const METHOD: Record<Exclude<StrategyKey, 'scratch'>, FineTuneMethod> = {
  head: 'head',
  'top-k': 'top-k',
  gradual: 'gradual',
  adapters: 'houlsby',
  lora: 'lora',
  full: 'full',
};

/**
 * The plan of one strategy for a model. `pretrainedConfig` is the pretrained checkpoint's config.json
 * (with pretraining_learning_rate); `layerGroups` the network's number of layer groups; `steps` the
 * fine-tuning budget; `lrScale` multiplies the method's default lr (1: the library's rule as is).
 */
export function planStrategy(
  key: StrategyKey,
  spec: DemoModelSpec,
  options: { pretrainedConfig: HfConfig; pretrainingLr: number; layerGroups: number; steps: number; lrScale: Partial<Record<StrategyKey, number>> },
): StrategyPlan {
  const scale = options.lrScale[key] ?? 1;
  const scaled = (lr: number, reason: string): { lr: number; lrReason: string } =>
    scale === 1 ? { lr, lrReason: reason } : { lr: Number((lr * scale).toPrecision(6)), lrReason: `${formatLr(Number((lr * scale).toPrecision(6)))} = ${scale} × (${reason})` };
  if (key === 'scratch') {
    return {
      key,
      label: 'from scratch',
      pretrained: false,
      strategy: { kind: 'full' },
      ...scaled(options.pretrainingLr, `lr ${formatLr(options.pretrainingLr)}: the pretraining recipe, as training from random weights`),
      note: 'random initialisation, every parameter trains',
    };
  }
  const chosen = defaultFineTuneLr({ method: METHOD[key], config: options.pretrainedConfig });
  const lr = scaled(chosen.lr, chosen.reason);
  const below = options.layerGroups - 1;
  switch (key) {
    case 'head':
      return { key, label: 'head only', pretrained: true, strategy: { kind: 'head' }, ...lr, note: 'a new head on the frozen pretrained body' };
    case 'top-k':
      return {
        key,
        label: `top-${spec.topK}`,
        pretrained: true,
        strategy: { kind: 'top-k', k: spec.topK },
        ...lr,
        note: `the head and the ${spec.topK} layer group${spec.topK > 1 ? 's' : ''} below it`,
      };
    case 'gradual': {
      const everySteps = Math.max(1, Math.floor(options.steps / (2 * below)));
      return {
        key,
        label: 'gradual unfreezing',
        pretrained: true,
        strategy: { kind: 'gradual-unfreezing', schedule: { everySteps } },
        ...lr,
        note: `the head, then one more layer group every ${everySteps} steps (all ${options.layerGroups} from step ${everySteps * below}); the parameter count is the last stage's`,
      };
    }
    case 'adapters':
      return { key, label: 'adapters', pretrained: true, strategy: spec.adapters(), ...lr, note: spec.adapterNote };
    case 'lora':
      return { key, label: 'LoRA', pretrained: true, strategy: spec.lora(), ...lr, note: spec.loraNote };
    case 'full':
      return { key, label: 'full fine-tuning', pretrained: true, strategy: { kind: 'full' }, ...lr, note: 'every parameter, from the pretrained weights' };
  }
}
