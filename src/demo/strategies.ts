/**
 * The fine-tuning methods the demo compares (its rows), each building a TrainingArguments strategy:
 *
 * - from scratch: the same network, randomly initialised, every parameter trained (what one would
 *   do without a pretrained model);
 * - head: a new head on the frozen pretrained body;
 * - top-k: the head and the k layer groups below it;
 * - gradual unfreezing (ULMFiT): the head, then one more layer group every N steps, the whole
 *   network from half the budget on;
 * - adapters: bottleneck adapters (and the head) on the frozen body;
 * - LoRA: low-rank updates (and the head) on the frozen body;
 * - full fine-tuning: every parameter, starting from the pretrained weights.
 *
 * Every row is trained at each of the demo's learning rates and keeps the best on validation
 * (settings.ts); the plan carries the lr the library's rule would give, for comparison:
 * `optim.defaultFineTuneLr` for the method, given the pretrained checkpoint's config.json — which
 * records the pretraining lr, so the methods that update the pretrained weights (full, top-k,
 * gradual) get a tenth of it and the others their method's default; from scratch, the pretraining lr.
 */
import type { HfConfig } from '../models/index.js';
import { defaultFineTuneLr, formatLr } from '../optim/index.js';
import { getMethod } from '../peft/index.js';
import type { TrainingStrategy } from '../train/index.js';
import type { DemoModelSpec } from './models.js';

/**
 * The demo's rows: registered fine-tuning methods by name or alias ('adapters' is houlsby; peft's
 * registerMethod), and 'scratch', the baseline that is no fine-tuning method.
 */
export type DemoMethod = 'scratch' | 'head' | 'top-k' | 'gradual' | 'adapters' | 'lora' | 'full';
export const DEMO_METHODS: readonly DemoMethod[] = ['scratch', 'head', 'top-k', 'gradual', 'adapters', 'lora', 'full'];

/** One row of the demo: the method's strategy for the demo model, its label and the lr rule's choice. */
export interface DemoMethodPlan {
  key: DemoMethod;
  /** The row's name in the table. */
  label: string;
  /** Starts from the pretrained weights (all but from scratch). */
  pretrained: boolean;
  strategy: TrainingStrategy | null;
  /** The lr the library's rule gives this row, and why. */
  ruleLr: number;
  ruleReason: string;
  /** What trains, in words. */
  note: string;
}

/**
 * The plan of one row for a model. `pretrainedConfig` is the pretrained checkpoint's config.json
 * (with pretraining_learning_rate); `layerGroups` the network's number of layer groups; `steps` the
 * fine-tuning budget.
 */
export function planDemoMethod(
  key: DemoMethod,
  spec: DemoModelSpec,
  options: { pretrainedConfig: HfConfig; pretrainingLr: number; layerGroups: number; steps: number },
): DemoMethodPlan {
  if (key === 'scratch') {
    return {
      key,
      label: 'from scratch',
      pretrained: false,
      strategy: { kind: 'full' },
      ruleLr: options.pretrainingLr,
      ruleReason: `lr ${formatLr(options.pretrainingLr)}: the pretraining recipe, as training from random weights`,
      note: 'random initialisation, every parameter trains',
    };
  }
  const chosen = defaultFineTuneLr({ method: getMethod(key).name, config: options.pretrainedConfig });
  const lr = { ruleLr: chosen.lr, ruleReason: chosen.reason };
  const below = options.layerGroups - 1;
  switch (key) {
    case 'head':
      return {
        key,
        label: 'head only',
        pretrained: true,
        strategy: { kind: 'head' },
        ...lr,
        note: 'a new head on the frozen pretrained body',
      };
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
      return {
        key,
        label: 'full fine-tuning',
        pretrained: true,
        strategy: { kind: 'full' },
        ...lr,
        note: 'every parameter, from the pretrained weights',
      };
  }
}
