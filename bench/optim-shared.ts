/**
 * What the optim suite's two engines (bench/optim.ts, bench/optim_torch.py) and its driver
 * (bench/optim-compare.ts, `compare.js --suite optim`) share.
 *
 * Protocol, on both engines started with --serve (one JSON reply line per command line):
 *   info                          → {"engine", "runtime", "torchVersion", "threads"}
 *   setup <json OptimSetup>       → {"shapes", "params", "paramTensors", "setupMs", "rssKb"}
 *                                   finetune: the parameters of createModel('bert-base-uncased',
 *                                   BertForSequenceClassification, 2 labels); PyTorch: float32 tensors of
 *                                   the shapes finetune reported. Both: random grads (randn · 1e-3), set once.
 *   optimizer <json OptimConfig>  → {"warmupMs": [...]}   a fresh optimizer (the previous one's state freed),
 *                                   then its warm-up steps (the first creates the state)
 *   steps <n>                     → {"stepMs": [...], "minorFaults", "cpuSeconds"}   ms of each optimizer.step();
 *                                   the minor page faults and CPU seconds (user + system, all threads) of the n steps
 *   quit
 */

/** One configuration as an engine builds it. `fused`: finetune's option; PyTorch's fused= flag (null: its default). */
export interface OptimConfig {
  kind: 'adamw' | 'sgd';
  fused: boolean | null;
  warmupSteps: number;
}

export interface OptimSetup {
  seed: number;
  /** PyTorch only: the parameter shapes to allocate (finetune's model's). */
  shapes?: number[][];
}

export interface OptimSetupReply {
  shapes: number[][];
  params: number;
  paramTensors: number;
  setupMs: number;
  rssKb: number;
}

/** Hyperparameters of both sides (besides fused): AdamW with PyTorch's defaults; SGD with momentum. */
export const HYPERPARAMETERS = {
  adamw: 'lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2 (PyTorch defaults)',
  sgd: 'lr 1e-3, momentum 0.9',
} as const;

export interface OptimRow {
  label: string;
  kind: OptimConfig['kind'];
  finetune: { fused: boolean; text: string };
  pytorch: { fused: boolean | null; text: string };
  /**
   * finetune ms / PyTorch ms at most this (null: informational). The target is against
   * PyTorch's default optimizer; the fused=True and `fused: false` rows are for comparison.
   */
  target: number | null;
}

const TARGET = 1.2;

export const OPTIM_ROWS: OptimRow[] = [
  {
    label: 'AdamW, PyTorch default',
    kind: 'adamw',
    finetune: { fused: true, text: 'new optim.AdamW(params) (fused)' },
    pytorch: { fused: null, text: 'torch.optim.AdamW(params) (CPU default: for-loop)' },
    target: TARGET,
  },
  {
    label: 'AdamW, PyTorch fused',
    kind: 'adamw',
    finetune: { fused: true, text: 'new optim.AdamW(params) (fused)' },
    pytorch: { fused: true, text: 'torch.optim.AdamW(params, fused=True)' },
    target: null,
  },
  {
    label: 'AdamW fused: false, PyTorch default',
    kind: 'adamw',
    finetune: { fused: false, text: 'new optim.AdamW(params, { fused: false }) (_foreach_, bit-exact)' },
    pytorch: { fused: null, text: 'torch.optim.AdamW(params)' },
    target: null,
  },
  {
    label: 'SGD momentum, PyTorch default',
    kind: 'sgd',
    finetune: { fused: true, text: 'new optim.SGD(params, { lr: 1e-3, momentum: 0.9 }) (fused)' },
    pytorch: { fused: null, text: 'torch.optim.SGD(params, lr=1e-3, momentum=0.9) (CPU default: for-loop)' },
    target: TARGET,
  },
  {
    label: 'SGD momentum, PyTorch fused',
    kind: 'sgd',
    finetune: { fused: true, text: 'new optim.SGD(params, { lr: 1e-3, momentum: 0.9 }) (fused)' },
    pytorch: { fused: true, text: 'torch.optim.SGD(params, lr=1e-3, momentum=0.9, fused=True)' },
    target: null,
  },
  {
    label: 'SGD momentum fused: false, PyTorch default',
    kind: 'sgd',
    finetune: {
      fused: false,
      text: 'new optim.SGD(params, { lr: 1e-3, momentum: 0.9, fused: false }) (_foreach_, bit-exact)',
    },
    pytorch: { fused: null, text: 'torch.optim.SGD(params, lr=1e-3, momentum=0.9)' },
    target: null,
  },
];

/** Per row: untimed warm-up steps, then interleaved rounds of `stepsPerBlock` timed steps per engine. */
export const OPTIM_SCHEDULE = {
  full: { warmupSteps: 2, rounds: 8, stepsPerBlock: 1 },
  quick: { warmupSteps: 1, rounds: 2, stepsPerBlock: 1 },
};
