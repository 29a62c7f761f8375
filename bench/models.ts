/**
 * The finetune side of the models benchmark; bench/models_torch.py is the PyTorch side and
 * bench/compare-models.ts (`compare.js --suite models`) runs both, interleaved, and compares.
 *
 *   node build/ts/bench/models.js --threads N --serve                 the protocol of bench/shared.ts (MODELS)
 *   node build/ts/bench/models.js --threads N --model bert-base [--steps N]   one model alone: a JSON summary
 *
 * One training step, as a user writes it: forward in train mode, cross entropy against random
 * labels, backward, every gradient set to null — all inside one tidy().
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  createModel,
  functional as F,
  getNumThreads,
  getPeftModel,
  LoraConfig,
  manualSeed,
  models,
  nn,
  randint,
  randn,
  runtimeInfo,
  setNumThreads,
  tidy,
  type Tensor,
} from 'finetune';

import {
  DEMO_CNN,
  MODELS,
  median,
  processMemory,
  serveCommands,
  setupRequest,
  timedStepsWithFaults,
  warmUp,
  type ModelName,
  type ModelSetupReply,
  type SetupRequest,
} from './shared.js';
import { parseFlags } from './driver.js';

interface Workload {
  model: nn.Module;
  /** Logits of the batch. */
  forward: () => Tensor;
  labels: Tensor;
}

/** The randomly initialised model, in train mode, and its batch (created, seeded, outside any scope). */
function build(request: SetupRequest): { workload: Workload; inputShape: number[] } {
  const { model: name, batch, numLabels } = request;
  manualSeed(request.seed);
  switch (name) {
    case 'bert-base': {
      const model = createModel('bert-base-uncased', {
        architecture: 'BertForSequenceClassification',
        numLabels,
      }) as models.BertForSequenceClassification;
      const inputIds = randint(0, model.config.vocabSize, [batch, request.seqLen!]);
      const labels = randint(0, numLabels, [batch]);
      return {
        workload: { model, labels, forward: () => model.forward({ inputIds }).logits },
        inputShape: inputIds.shape,
      };
    }
    case 'bert-base-lora': {
      // As PEFT's examples: the model, then get_peft_model; SEQ_CLS also trains a copy of the classifier.
      const bert = createModel('bert-base-uncased', {
        architecture: 'BertForSequenceClassification',
        numLabels,
      }) as models.BertForSequenceClassification;
      const model = getPeftModel(
        bert,
        new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }),
      );
      const inputIds = randint(0, bert.config.vocabSize, [batch, request.seqLen!]);
      const labels = randint(0, numLabels, [batch]);
      const forward = () => (model.forward({ inputIds }) as models.BertHeadOutput).logits;
      return { workload: { model, labels, forward }, inputShape: inputIds.shape };
    }
    case 'demo-vit': {
      const model = createModel(request.modelConfig as Record<string, unknown>) as models.ViTForImageClassification;
      const pixelValues = randn([batch, request.channels ?? 3, request.imageSize!, request.imageSize!]);
      const labels = randint(0, numLabels, [batch]);
      return {
        workload: { model, labels, forward: () => model.forward({ pixelValues }).logits },
        inputShape: pixelValues.shape,
      };
    }
    case 'demo-cnn': {
      const model = sequentialOf(request.modelConfig as typeof DEMO_CNN);
      const images = randn([batch, request.channels ?? 3, request.imageSize!, request.imageSize!]);
      const labels = randint(0, numLabels, [batch]);
      return { workload: { model, labels, forward: () => model.forward(images) }, inputShape: images.shape };
    }
    case 'vit-b16': {
      const model = createModel('vit-base-patch16-224', {
        architecture: 'ViTForImageClassification',
        numLabels,
      }) as models.ViTForImageClassification;
      const pixelValues = randn([batch, 3, request.imageSize!, request.imageSize!]);
      const labels = randint(0, numLabels, [batch]);
      return {
        workload: { model, labels, forward: () => model.forward({ pixelValues }).logits },
        inputShape: pixelValues.shape,
      };
    }
    case 'resnet50':
    case 'alexnet': {
      const model = createModel(name, { numLabels }) as models.ResNet | models.AlexNet;
      const images = randn([batch, 3, request.imageSize!, request.imageSize!]);
      const labels = randint(0, numLabels, [batch]);
      return { workload: { model, labels, forward: () => model.forward(images) }, inputShape: images.shape };
    }
    default:
      throw new Error(`unknown model ${String(name)} (known: ${Object.keys(MODELS).join(', ')})`);
  }
}

/** DEMO_CNN as an nn.Sequential (torchvision AlexNet's layer types: in-place ReLU). */
function sequentialOf(layers: typeof DEMO_CNN): nn.Sequential {
  return new nn.Sequential(
    ...layers.map((layer): nn.TensorModule => {
      switch (layer[0]) {
        case 'conv':
          return new nn.Conv2d(layer[1], layer[2], layer[3], { stride: layer[4], padding: layer[5] });
        case 'relu':
          return new nn.ReLU(true);
        case 'maxpool':
          return new nn.MaxPool2d(layer[1], layer[2]);
        case 'avgpool':
          return new nn.AdaptiveAvgPool2d([layer[1], layer[1]]);
        case 'flatten':
          return new nn.Flatten(1);
        case 'dropout':
          return new nn.Dropout(layer[1]);
        case 'linear':
          return new nn.Linear(layer[1], layer[2]);
      }
    }),
  );
}

let workload: Workload | undefined;

/** One training step; returns the loss (the caller disposes it). */
function trainStep(w: Workload): Tensor {
  return tidy(() => {
    const loss = F.crossEntropy(w.forward(), w.labels);
    loss.backward();
    w.model.zeroGrad(); // every grad = null (PyTorch's set_to_none)
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

function setup(request: SetupRequest): ModelSetupReply {
  if (workload !== undefined) throw new Error('setup: this process already holds a model (one model per process)');
  const start = performance.now();
  const built = build(request);
  workload = built.workload;
  workload.model.train();
  const setupMs = performance.now() - start;
  const params = workload.model.parameters();

  const w = workload;
  const { firstLoss, warmupMs } = warmUp(() => lossOfStep(w), request.warmupSteps);
  return {
    model: request.model,
    batch: request.batch,
    inputShape: built.inputShape,
    numLabels: request.numLabels,
    params: params.reduce((n, p) => n + p.numel(), 0),
    paramTensors: params.length,
    firstLoss,
    setupMs,
    warmupMs,
    ...processMemory(),
  };
}

function info() {
  return {
    engine: 'finetune',
    runtime: `node ${process.version}`,
    torchVersion: runtimeInfo().torchVersion,
    threads: getNumThreads(),
    ...processMemory(),
  };
}

const COMMANDS: Record<string, (rest: string) => unknown> = {
  info: () => info(),
  setup: (rest) => setup(JSON.parse(rest) as SetupRequest),
  steps: (rest) => {
    if (workload === undefined) throw new Error('steps before setup');
    const w = workload;
    return timedStepsWithFaults(() => trainStep(w).dispose(), Number(rest));
  },
  memory: () => processMemory(),
};

/** One model alone: setup (with its warm-up), `steps` timed steps, the memory at the end. */
function standalone(name: ModelName, steps: number): void {
  const spec = MODELS[name];
  if (spec === undefined) throw new Error(`unknown model ${name} (known: ${Object.keys(MODELS).join(', ')})`);
  const request: SetupRequest = setupRequest(name, spec.warmupSteps);
  const before = info();
  const setupReply = setup(request);
  const { stepMs, minorFaults, systemSeconds } = timedStepsWithFaults(() => trainStep(workload!).dispose(), steps);
  const ms = median(stepMs);
  const result = {
    ...before,
    setup: setupReply,
    stepMs,
    minorFaults,
    systemSeconds,
    msPerStep: ms,
    samplesPerSecond: (spec.batch * 1000) / ms,
    memory: processMemory(),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

const USAGE = 'usage: models.js [--threads N] (--serve | --model NAME [--steps N])';

function main(): void {
  const defaults = { threads: availableParallelism(), serve: false, model: undefined as string | undefined, steps: 3 };
  const { threads, serve, model, steps } = parseFlags(process.argv.slice(2), USAGE, defaults, {
    '--model': ['model', 'text'],
  });
  setNumThreads(threads);
  if (serve) serveCommands(COMMANDS);
  else if (model !== undefined) standalone(model as ModelName, steps);
  else throw new Error('give --serve or --model NAME');
}

main();
