/**
 * Devices: no code path may make a tensor on the CPU and mix it with the model's device. There is no
 * GPU here, so the check runs on libtorch's 'lazy' device (initLazyDevice): its kernels refuse a CPU
 * tensor beside a lazy one as CUDA's refuse a CPU tensor beside a CUDA one, and it computes real values
 * (on the CPU), so every result is also compared with the CPU's. ('meta' refuses mixing too, but
 * libtorch's C++ has no meta kernel for ReLU, convolution or embedding.) Covered: every model of the
 * zoo (BERT, ViT, ResNet, AlexNet and PEFT's MLP / CNN, tiny configs) forward + loss + backward, alone
 * and with every PEFT case of test/helpers/peft-cases.ts (LoRA, rsLoRA, DoRA, IA3, Houlsby / Pfeiffer
 * adapters, prompt tuning); one step of each optimizer; the Trainer on the lazy device (model, batches,
 * evaluation, checkpoints) and a checkpoint resumed on another device; TrainingArguments.device and
 * `finetune train --device`.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import {
  cudaIsAvailable,
  data,
  functional,
  getRngState,
  getPeftModel,
  initLazyDevice,
  LoraConfig,
  manualSeed,
  models,
  nn,
  optim,
  rand,
  randn,
  setNumThreads,
  setRngState,
  tensor,
  Tensor,
  tidy,
  train,
  Trainer,
  TrainingArguments,
  type Device,
} from 'finetune';
import { buildModel, CASES, MODELS, type ModelName } from './helpers/peft-cases.js';
import { runCli, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';
import { differences, slice, snapshot, tempFolders, tinyBert } from './helpers/trainer-setup.js';

const LAZY: Device = 'lazy:0';
const tmp = tempFolders('finetune-device');

before(() => {
  initLazyDevice();
  setNumThreads(1);
});

/** The table's causal LMs: their labels are the input ids, their loss the next-token loss of the input tokens' logits. */
const CAUSAL_LMS: readonly ModelName[] = ['llama'];

/** The inputs of a model of the table, with labels, on `device`. */
function inputsOn(name: ModelName, device: Device): { inputs: unknown; labels: Tensor } {
  const inputs = MODELS[name].inputs();
  const labels = CAUSAL_LMS.includes(name)
    ? (inputs as { inputIds: Tensor }).inputIds
    : tensor([0, 1], { dtype: 'int64' });
  return train.batchOnDevice({ inputs, labels }, device).batch as {
    inputs: unknown;
    labels: Tensor;
  };
}

/** The loss of a causal LM of the table from its output (prompt tuning's virtual tokens left out). */
function causalLmLossOf(name: ModelName, out: unknown, labels: Tensor): Tensor {
  const spec = MODELS[name] as { logits?: (logits: Tensor) => Tensor };
  const logits = (out as { logits: Tensor }).logits;
  return models.causalLmLoss(spec.logits ? spec.logits(logits) : logits, labels);
}

/** Forward, the loss (the model's own with labels where it has one, else cross entropy) and backward; the loss's value and the trainable parameters' gradient devices. */
function forwardBackward(model: nn.Module, name: ModelName, device: Device): { loss: number; gradDevices: string[] } {
  return tidy(() => {
    const { inputs, labels } = inputsOn(name, device);
    const forward = (model as unknown as { forward(input: unknown): unknown }).forward.bind(model);
    const causal = CAUSAL_LMS.includes(name);
    const out =
      inputs instanceof Tensor || causal
        ? forward(inputs)
        : forward({ ...(inputs as Record<string, unknown>), labels });
    const loss = causal
      ? causalLmLossOf(name, out, labels)
      : out instanceof Tensor
        ? functional.crossEntropy(out, labels)
        : ((out as { loss?: Tensor }).loss ?? functional.crossEntropy((out as { logits: Tensor }).logits, labels));
    assert.equal(loss.device, device);
    loss.backward();
    const gradDevices = model
      .namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map(([key, p]) => `${key}: ${p.grad?.device ?? 'no gradient'}`);
    return { loss: Number(loss.item()), gradDevices };
  });
}

/** Every parameter of the model on the lazy device, its gradients too after forwardBackward. */
function assertOnLazy(model: nn.Module, gradDevices?: string[]): void {
  for (const [key, p] of model.namedParameters()) assert.equal(p.device, LAZY, key);
  if (!gradDevices) return;
  assert.ok(gradDevices.length > 0);
  assert.deepEqual(
    gradDevices,
    gradDevices.map((d) => d.replace(/: .*$/, `: ${LAZY}`)),
  );
}

/**
 * The model built on the CPU and moved to the lazy device gives the CPU's loss in eval mode (no
 * dropout: values compare); the model built from a base already on the lazy device (`buildOnLazy`:
 * getPeftModel on a moved model puts its adapters beside the base weights) trains a step in train
 * mode (dropout, BatchNorm statistics) there.
 */
function checkOnLazy(build: () => nn.Module, buildOnLazy: () => nn.Module, name: ModelName): void {
  const cpu = forwardBackward(build().eval(), name, 'cpu');
  const moved = build().eval().to(LAZY);
  assertOnLazy(moved);
  const lazy = forwardBackward(moved, name, LAZY);
  assertOnLazy(moved, lazy.gradDevices);
  assert.ok(
    Math.abs(cpu.loss - lazy.loss) <= 1e-5 * Math.max(1, Math.abs(cpu.loss)),
    `loss ${lazy.loss} vs ${cpu.loss}`,
  );
  const builtThere = buildOnLazy().train();
  assertOnLazy(builtThere);
  const trained = forwardBackward(builtThere, name, LAZY);
  assertOnLazy(builtThere, trained.gradDevices);
  assert.ok(Number.isFinite(trained.loss));
}

describe('the model zoo on the lazy device: forward, loss and backward mix no CPU tensor in', () => {
  for (const name of Object.keys(MODELS) as ModelName[])
    test(name, () =>
      checkOnLazy(
        () => buildModel(name),
        () => buildModel(name).to(LAZY),
        name,
      ),
    );
});

describe('every PEFT case on the lazy device, applied before and after the move', () => {
  for (const c of CASES)
    test(c.name, () => {
      const warn = console.warn;
      console.warn = () => {};
      try {
        checkOnLazy(
          () => getPeftModel(buildModel(c.model), c.config()),
          () => getPeftModel(buildModel(c.model).to(LAZY), c.config()),
          c.model,
        );
      } finally {
        console.warn = warn;
      }
    });
});

describe('one step of each optimizer on lazy parameters gives the CPU step', () => {
  const optimizers: [string, (params: Tensor[]) => optim.Optimizer][] = [
    ['AdamW (fused)', (p) => new optim.AdamW(p, { lr: 0.1, weightDecay: 0.01 })],
    ['AdamW (foreach)', (p) => new optim.AdamW(p, { lr: 0.1, weightDecay: 0.01, fused: false })],
    ['Adam amsgrad, L2', (p) => new optim.Adam(p, { lr: 0.1, weightDecay: 0.01, amsgrad: true })],
    ['Adam maximize (foreach)', (p) => new optim.Adam(p, { lr: 0.1, maximize: true, fused: false })],
    ['SGD', (p) => new optim.SGD(p, { lr: 0.1 })],
    [
      'SGD momentum, nesterov, weight decay',
      (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
    ],
  ];
  for (const [label, make] of optimizers)
    test(label, () => {
      const run = (device: Device): Float32Array[] => {
        manualSeed(3);
        const params = [randn([4, 3]), randn([3])].map((t) => nn.parameter(t.to(device)));
        const optimizer = make(params);
        for (let step = 0; step < 2; step++) {
          tidy(() => params[0].matmul(params[1]).pow(2).sum().backward());
          optimizer.step();
          optimizer.zeroGrad();
        }
        for (const p of params) assert.equal(p.device, device);
        const state = Object.values(optimizer.stateDict().state).flatMap((entry) => Object.values(entry));
        for (const value of state) if (value instanceof Tensor) assert.equal(value.device, device);
        return params.map((p) => Float32Array.from(p.cpu().data() as Float32Array));
      };
      const cpu = run('cpu');
      const lazy = run(LAZY);
      cpu.forEach((values, i) =>
        values.forEach((v, j) => assert.ok(Math.abs(v - lazy[i][j]) <= 1e-5, `${v} vs ${lazy[i][j]}`)),
      );
    });
});

/** A Trainer that runs on the lazy device (TrainingArguments.device takes the user's devices only). */
class LazyTrainer extends Trainer {
  protected override resolveDevice(): train.ResolvedDevice {
    return { device: LAZY, reason: 'the device test' };
  }
}

/** 24 sentences of 8 token ids under 100 (one shape for every batch: the lazy device compiles a graph per shape), labelled by the parity of their sum. */
const SENTENCES: data.Dataset<{ inputIds: BigInt64Array; attentionMask: BigInt64Array; labels: number }> = {
  length: 24,
  get(index: number) {
    const ids = Array.from({ length: 8 }, (_, i) => 1 + ((index * 37 + i * 11 + index * i * 7) % 99));
    return {
      inputIds: BigInt64Array.from(ids, BigInt),
      attentionMask: new BigInt64Array(8).fill(1n),
      labels: ids.reduce((a, b) => a + b, 0) % 2,
    };
  },
};

describe('the Trainer on the lazy device', () => {
  /** A run of the tiny BERT (no dropout: the devices' values compare) with SGD, whose steps stay as close as the gradients (Adam's sign-like steps would magnify rounding). */
  async function run(
    Kind: typeof Trainer,
    outputDir: string,
    options: { maxSteps: number; resume?: string; lora?: boolean; device?: train.DeviceSetting },
  ): Promise<{ trainer: Trainer; weights: Map<string, Float32Array>; evalLoss: number }> {
    const trainer = new Kind({
      model: tinyBert(0, { vocabSize: 100, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 }),
      args: new TrainingArguments({
        outputDir,
        device: options.device,
        maxSteps: options.maxSteps,
        perDeviceTrainBatchSize: 4,
        optim: 'sgd',
        sgdMomentum: 0.9,
        learningRate: 0.1,
        // constant: a run of 2 steps is the first half of a run of 4 (its checkpoint resumes into it)
        lrSchedulerType: 'constant',
        saveSteps: 2,
        loggingSteps: 1,
        disableTqdm: true,
        strategy: options.lora
          ? new LoraConfig({ taskType: 'SEQ_CLS', r: 2, loraAlpha: 4, targetModules: ['query', 'value'] })
          : null,
      }),
      trainDataset: SENTENCES,
      evalDataset: slice(SENTENCES, 0, 8),
      log: null,
    });
    await trainer.train({ resumeFromCheckpoint: options.resume });
    const evalLoss = (await trainer.evaluate()).eval_loss;
    return { trainer, weights: snapshot(trainer.model), evalLoss };
  }

  function assertClose(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tolerance: number): void {
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [key, values] of a) {
      const other = b.get(key)!;
      let diff = 0;
      values.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - other[i]))));
      assert.ok(diff <= tolerance, `${key}: differs by ${diff}`);
    }
  }

  const losses = (t: Trainer) => t.state.logHistory.filter((e) => 'loss' in e).map((e) => e.loss as number);

  /** The same run on the CPU and on the lazy device: the same losses, evaluation and weights; every parameter on the device; the plan names it. */
  function assertSameRun(onCpu: Awaited<ReturnType<typeof run>>, onLazy: Awaited<ReturnType<typeof run>>): void {
    for (const [key, p] of onLazy.trainer.model.namedParameters()) assert.equal(p.device, LAZY, key);
    assert.ok(onLazy.trainer.planLines().includes('device lazy:0 (the device test)'));
    assert.ok(onCpu.trainer.planLines().some((line) => line.startsWith('device cpu')));
    assert.ok(Math.abs(onCpu.evalLoss - onLazy.evalLoss) < 1e-5, `${onLazy.evalLoss} vs ${onCpu.evalLoss}`);
    assertClose(onCpu.weights, onLazy.weights, 1e-5);
    assert.equal(losses(onLazy.trainer).length, losses(onCpu.trainer).length);
    losses(onCpu.trainer).forEach((l, i) => assert.ok(Math.abs(l - losses(onLazy.trainer)[i]) < 1e-5));
  }

  // The lazy device keeps a step's graph growing until its tensors are synchronised (torch's
  // mark_step, which finetune does not call), so its runs here are kept to one or two steps.
  test('full fine-tuning: a step and an evaluation as on the CPU', async () => {
    assertSameRun(await run(Trainer, tmp(), { maxSteps: 1 }), await run(LazyTrainer, tmp(), { maxSteps: 1 }));
  });

  test('LoRA: steps and evaluation as on the CPU; its checkpoint resumes on the cpu as the cpu run, and one from device cpu resumes with device auto exactly', async () => {
    const [cpuDir, lazyDir] = [tmp(), tmp()];
    const onCpu = await run(Trainer, cpuDir, { maxSteps: 2, lora: true, device: 'cpu' });
    const onLazy = await run(LazyTrainer, lazyDir, { maxSteps: 2, lora: true });
    assertSameRun(onCpu, onLazy);
    const whole = await run(Trainer, tmp(), { maxSteps: 4, lora: true });
    const fromLazy = await run(Trainer, tmp(), { maxSteps: 4, lora: true, resume: join(lazyDir, 'checkpoint-2') });
    for (const [key, p] of fromLazy.trainer.model.namedParameters()) assert.equal(p.device, 'cpu', key);
    assertClose(whole.weights, fromLazy.weights, 1e-5);
    const fromCpu = await run(Trainer, tmp(), { maxSteps: 4, lora: true, resume: join(cpuDir, 'checkpoint-2') });
    assert.deepEqual(differences(whole.weights, fromCpu.weights), []);
    assert.deepEqual(losses(fromCpu.trainer), losses(whole.trainer));
  });

  test('a model already on the device with the caller’s optimizer is used as it is; one elsewhere is refused', () => {
    const model = tinyBert(0, { vocabSize: 100 }).to(LAZY);
    const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3 });
    const kept = new LazyTrainer({ model, args: { outputDir: tmp() }, optimizers: [optimizer, null], log: null });
    assert.equal(kept.model.parameters()[0], model.parameters()[0]);
    const cpuModel = tinyBert(0, { vocabSize: 100 });
    assert.throws(
      () =>
        new LazyTrainer({
          model: cpuModel,
          args: { outputDir: tmp() },
          optimizers: [new optim.AdamW(cpuModel.parameters(), { lr: 1e-3 }), null],
          log: null,
        }),
      /the model is on cpu and the run on lazy:0, but the optimizer given in optimizers holds the model's parameters where they are: move the model \(model.to\('lazy:0'\)\) before building the optimizer/,
    );
  });
});

test('pinned memory and non-blocking copies: the tensor layer asks libtorch (which needs a GPU to pin)', () => {
  const t = tensor([1, 2, 3]);
  assert.equal(t.isPinned(), false);
  assert.throws(
    () => t.pinMemory(),
    /^Error: aten::pin_memory: Cannot access accelerator device when none is available\.$/,
  );
  const copy = t.to({ device: LAZY, nonBlocking: true });
  assert.equal(copy.device, LAZY);
  assert.deepEqual(copy.cpu().toArray(), [1, 2, 3]);
});

describe('TrainingArguments.device', () => {
  test('defaults to auto, which is the cpu with this libtorch (the CPU build); takes cpu, cuda and cuda:N; refuses others naming the setting', () => {
    assert.equal(new TrainingArguments().device, 'auto');
    const auto = train.resolveDevice('auto', 'device');
    assert.equal(auto.device, 'cpu');
    assert.match(auto.reason!, /^auto: this libtorch \(2\.\d+\.\d+\S*\) is the CPU build$/);
    assert.deepEqual(train.resolveDevice('cpu', 'device'), { device: 'cpu', reason: null });
    for (const device of ['cpu', 'cuda', 'cuda:1'] as const)
      assert.equal(new TrainingArguments({ device }).device, device);
    assert.throws(
      () => new TrainingArguments({ device: 'gpu' as 'cpu' }),
      /^Error: TrainingArguments: device must be auto, cpu, cuda or cuda:N \(N a GPU's index\), got 'gpu'$/,
    );
  });

  test('cuda without a CUDA build is an error saying how to get one', () => {
    for (const device of ['cuda', 'cuda:0'] as const)
      assert.throws(
        () => new Trainer({ model: new nn.Linear(1, 1), args: { device, outputDir: tmp() }, log: null }),
        new RegExp(
          `^Error: TrainingArguments.device ${device} needs a GPU, but this libtorch \\(.*\\) is the CPU build: install the CUDA build with \`finetune setup --cuda 12.8\``,
        ),
      );
  });
});

describe('finetune train --device', () => {
  test('--device cuda on the CPU build exits 2 naming --device and finetune setup --cuda; --device cpu trains and the plan says so', () => {
    const model = writeTinyBertModelFolder(tmp());
    const common = ['train', '--model', model, '--train-file', SST2_TRAIN, '--max-steps', '1', '--save-strategy', 'no'];
    const refused = runCli([...common, '--output-dir', tmp(), '--device', 'cuda']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /--device cuda needs a GPU, but this libtorch \(.*\) is the CPU build: install the CUDA build with `finetune setup --cuda 12\.8`/,
    );
    const bad = runCli([...common, '--output-dir', tmp(), '--device', 'gpu']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--device must be auto, cpu, cuda or cuda:N/);
    const ran = runCli([...common, '--output-dir', tmp(), '--device', 'cpu']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^device cpu$/m);
  });
});

test("generator states by device: the CPU's round-trips; a GPU this build lacks and a device without a generator are named", () => {
  tidy(() => {
    manualSeed(5);
    const state = getRngState('cpu');
    const first = [...(rand([8]).data() as Float32Array)];
    setRngState(state, 'cpu');
    assert.deepEqual([...(rand([8]).data() as Float32Array)], first);
    if (!cudaIsAvailable())
      assert.throws(() => getRngState('cuda:0'), /^Error: no CUDA generator for 'cuda:0': this libtorch sees no GPU$/);
    assert.throws(() => getRngState(LAZY), /^Error: device 'lazy:0' has no random generator of its own$/);
  });
});
