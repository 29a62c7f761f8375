/**
 * The strategies suite's engine (bench/compare-strategies.ts, `compare.js --suite strategies`): one
 * fine-tuning strategy on one model per process, so the process's peak RSS is that strategy's.
 *
 *   node build/ts/bench/strategies.js --threads N --serve                                  the protocol below
 *   node build/ts/bench/strategies.js --threads N --model bert-base --strategy lora [--steps N]   one alone: JSON
 *
 * Protocol (bench/shared.ts's serveCommands):
 *   info                             → {"runtime", "torchVersion", "threads", "rssKb", "hwmKb"}
 *   setup <json StrategySetup>       → {"trainable", "total", "detail", "firstLoss", "setupMs", "warmupMs", "rssKb", "hwmKb"}
 *   steps <n>                        → {"stepMs", "minorFaults", "systemSeconds"}
 *   memory                           → {"rssKb", "hwmKb"}
 *
 * The training step, as a user writes it with finetune: forward (train mode) → cross entropy →
 * backward → AdamW step over the trainable parameters (finetune's default fused kernel) → every grad
 * set to null, in one tidy(). The first step creates AdamW's state, so the peak includes it.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  createModel,
  functional as F,
  getNumThreads,
  getPeftModel,
  IA3Config,
  LoraConfig,
  manualSeed,
  models,
  nn,
  optim,
  peft,
  PromptTuningConfig,
  randint,
  randn,
  runtimeInfo,
  setNumThreads,
  tidy,
  type Tensor,
} from 'finetune';

import { median, processMemory, serveCommands, timedStepsWithFaults, warmUp } from './shared.js';
import {
  STRATEGY_MODELS,
  strategyApplies,
  type StrategyModelName,
  type StrategyModelSpec,
  type StrategyName,
  type StrategySetup,
} from './strategies-shared.js';
import { parseFlags } from './driver.js';

interface Workload {
  model: nn.Module;
  forward: () => Tensor;
  labels: Tensor;
  optimizer: optim.AdamW | null;
  trainable: number;
  total: number;
  detail: string;
}

/** `finetune inspect`'s top-k default: about a quarter of the layer groups below the head. */
function defaultK(model: nn.Module): number {
  return Math.max(1, Math.round((models.parameterGroupsOf(model).length - 1) / 4));
}

/** Applies `strategy` to the base model; returns the model to train (a PeftModel for PEFT methods) and what trains. */
function applyStrategy(
  base: nn.Module,
  modelName: StrategyModelName,
  strategy: StrategyName,
): { model: nn.Module; detail: string } {
  const text = modelName === 'bert-base';
  // How the head trains with a PEFT method, as `finetune inspect`: SEQ_CLS for BERT, the fc layer saved whole for ResNet.
  const head = text ? { taskType: 'SEQ_CLS' as const } : { modulesToSave: ['fc'] };
  const convNames = () =>
    base
      .namedModules()
      .filter(([, m]) => m instanceof nn.Conv2d)
      .map(([path]) => path);
  switch (strategy) {
    case 'full':
      peft.applyFreezingStrategy(base, { kind: 'full' });
      return { model: base, detail: 'every parameter' };
    case 'head':
      peft.applyFreezingStrategy(base, { kind: 'head' });
      return { model: base, detail: text ? 'the pooler and classifier' : 'fc + every BatchNorm (train_bn)' };
    case 'top-k': {
      const k = defaultK(base);
      peft.applyFreezingStrategy(base, { kind: 'top-k', k });
      return {
        model: base,
        detail: `k=${k}: the head and the ${k} layer group(s) below it${text ? '' : ' + every BatchNorm'}`,
      };
    }
    case 'bitfit':
      peft.applyFreezingStrategy(base, { kind: 'bitfit' });
      return { model: base, detail: `every bias and the head${text ? '' : ' + every BatchNorm'}` };
    case 'lora': {
      const targetModules = text ? ['query', 'value'] : convNames();
      return {
        model: getPeftModel(base, new LoraConfig({ ...head, r: 8, loraAlpha: 32, targetModules })),
        detail: `r=8, α=32 on ${text ? 'query, value' : 'every Conv2d'} + the head`,
      };
    }
    case 'dora': {
      const targetModules = text ? ['query', 'value'] : convNames();
      return {
        model: getPeftModel(base, new LoraConfig({ ...head, r: 8, loraAlpha: 32, targetModules, useDora: true })),
        detail: `LoRA r=8, α=32 on ${text ? 'query, value' : 'every Conv2d'} + magnitudes + the head`,
      };
    }
    case 'ia3':
      return {
        model: getPeftModel(base, new IA3Config({ ...head })),
        detail: "PEFT's BERT defaults: key, value, output.dense (input scaled) + the head",
      };
    case 'houlsby':
      return {
        model: getPeftModel(base, new peft.BottleneckConfig({ ...head, variant: 'houlsby', reductionFactor: 16 })),
        detail: text
          ? 'two adapters per layer (after attention and FFN outputs), reduction 16 + the head'
          : "an adapter after each residual block's last BatchNorm, reduction 16 + fc",
      };
    case 'prompt-tuning':
      return {
        model: getPeftModel(base, new PromptTuningConfig({ ...head, numVirtualTokens: 20 })),
        detail: '20 virtual tokens (the encoder sees 128 + 20) + the head',
      };
  }
}

let workload: Workload | undefined;

function build(request: StrategySetup): Workload {
  const { model: modelName, strategy } = request;
  if (!strategyApplies(modelName, strategy)) throw new Error(`${strategy} does not apply to ${modelName}`);
  const spec: StrategyModelSpec = STRATEGY_MODELS[modelName];
  manualSeed(request.seed);
  const base =
    modelName === 'bert-base'
      ? createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: spec.numLabels })
      : createModel('resnet50', { numLabels: spec.numLabels });
  const { model, detail } = applyStrategy(base, modelName, strategy);
  model.train();
  const labels = randint(0, spec.numLabels, [spec.batch]);
  const callable = model as unknown as { forward(input: unknown): unknown };
  let forward: () => Tensor;
  if (modelName === 'bert-base') {
    const inputIds = randint(0, (base as models.BertForSequenceClassification).config.vocabSize, [
      spec.batch,
      spec.seqLen!,
    ]);
    forward = () => (callable.forward({ inputIds }) as models.BertHeadOutput).logits;
  } else {
    const images = randn([spec.batch, 3, spec.imageSize!, spec.imageSize!]);
    forward = () => callable.forward(images) as Tensor;
  }
  const params = model.parameters();
  const trainableParams = params.filter((p) => p.requiresGrad);
  const count = (ps: Tensor[]) => ps.reduce((n, p) => n + p.numel(), 0);
  const optimizer = request.optimizer ? new optim.AdamW(trainableParams, { lr: 1e-5 }) : null;
  return { model, forward, labels, optimizer, trainable: count(trainableParams), total: count(params), detail };
}

/** One training step; returns the loss (the caller disposes it). */
function trainStep(w: Workload): Tensor {
  return tidy(() => {
    const loss = F.crossEntropy(w.forward(), w.labels);
    loss.backward();
    w.optimizer?.step();
    w.model.zeroGrad();
    return loss;
  });
}

/** One training step, timed by the helpers: its loss as a number. */
function lossOfStep(w: Workload): number {
  const loss = trainStep(w);
  const value = loss.item();
  loss.dispose();
  return value;
}

function setup(request: StrategySetup) {
  if (workload !== undefined) throw new Error('setup: this process already holds a model (one strategy per process)');
  const start = performance.now();
  workload = build(request);
  const setupMs = performance.now() - start;
  const w = workload;
  const { firstLoss, warmupMs } = warmUp(() => lossOfStep(w), request.warmupSteps);
  return {
    trainable: workload.trainable,
    total: workload.total,
    detail: workload.detail,
    firstLoss,
    setupMs,
    warmupMs,
    ...processMemory(),
  };
}

function info() {
  return {
    runtime: `node ${process.version}`,
    torchVersion: runtimeInfo().torchVersion,
    threads: getNumThreads(),
    ...processMemory(),
  };
}

const COMMANDS: Record<string, (rest: string) => unknown> = {
  info: () => info(),
  setup: (rest) => setup(JSON.parse(rest) as StrategySetup),
  steps: (rest) => {
    if (workload === undefined) throw new Error('steps before setup');
    const w = workload;
    return timedStepsWithFaults(() => trainStep(w).dispose(), Number(rest));
  },
  memory: () => processMemory(),
};

const USAGE = 'usage: strategies.js [--threads N] (--serve | --model bert-base|resnet50 --strategy NAME [--steps N])';

function main(): void {
  const defaults = {
    threads: availableParallelism(),
    serve: false,
    model: undefined as string | undefined,
    strategy: undefined as string | undefined,
    steps: 3,
  };
  const { threads, serve, model, strategy, steps } = parseFlags(process.argv.slice(2), USAGE, defaults, {
    '--model': ['model', 'text'],
    '--strategy': ['strategy', 'text'],
  });
  setNumThreads(threads);
  if (serve) return serveCommands(COMMANDS);
  if (model === undefined || strategy === undefined)
    throw new Error('give --serve, or --model bert-base|resnet50 --strategy NAME');
  const reply = setup({
    model: model as StrategyModelName,
    strategy: strategy as StrategyName,
    warmupSteps: 2,
    seed: 0,
    optimizer: true,
  });
  const result = timedStepsWithFaults(() => trainStep(workload!).dispose(), steps);
  process.stdout.write(
    JSON.stringify({ ...info(), setup: reply, ...result, msPerStep: median(result.stepMs), memory: processMemory() }) +
      '\n',
  );
}

main();
