// One table of tiny models × PEFT configs (test/helpers/peft-cases.ts, PEFT's TEST_CASES of
// tests/test_custom_models.py), and each check of PEFT's PeftCustomModelTester run over every case
// it applies to: the trainable set and PEFT's printed line, outputs at initialisation, a training
// step that moves only trainable parameters, merge / unmerge / merge_and_unload, disable_adapter,
// save_pretrained → from_pretrained in a fresh process, and a second adapter added, switched to and
// deleted. Method-specific behaviour (targeting rules, layer internals, config files, errors) and
// fidelity against Python PEFT stay in peft-lora, peft-ia3, peft-bottleneck and peft-fidelity.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  getPeftModel,
  manualSeed,
  memory,
  nn,
  noGrad,
  optim,
  peft,
  PeftModel,
  randn,
  setNumThreads,
  tidy,
  type Tensor,
} from 'finetune';
import {
  buildModel,
  CASES,
  expandBraces,
  logitsOf,
  outputsOf,
  type LoadJob,
  type LoadResult,
  type PeftCase,
} from './helpers/peft-cases.js';
import { maxDiff } from './helpers/peft-tiny.js';

// One thread here and in the loading process: the same kernels, so outputs compare bit for bit.
setNumThreads(1);

/** The adapter's own parameters (not the base biases LoRA's `bias` setting trains). */
const ADAPTER_PARAMETER = /\.(lora_\w+|ia3_l|adapter_(down|up)|modules_to_save)\.|^prompt_encoder\./;

/** getPeftModel on a fresh base model of the case, checking what it warns, in eval mode (new dropout layers start in training mode, as PyTorch's). */
function adapt(c: PeftCase, base = buildModel(c.model)): PeftModel {
  return expectWarnings(c.warnings ?? [], () => getPeftModel(base, c.config())).eval();
}

function expectWarnings<T>(expected: string[], fn: () => T): T {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  try {
    return fn();
  } finally {
    console.warn = warn;
    assert.deepEqual(warnings, expected);
  }
}

/**
 * Adds N(0, 0.1²) noise to the trainable adapter parameters (LoRA's B starts at zero, IA3's vectors
 * at one, a bottleneck's up at zero), so the adapter changes outputs; `withBaseBiases` also to the
 * base biases LoRA's `bias` setting trains.
 */
function perturb(model: nn.Module, { withBaseBiases = false } = {}): void {
  manualSeed(7);
  noGrad(() =>
    tidy(() => {
      for (const [name, p] of model.namedParameters())
        if (p.requiresGrad && (withBaseBiases || ADAPTER_PARAMETER.test(name))) p.add_(randn(p.shape).mul(0.1));
    }),
  );
}

const trainableNames = (model: nn.Module) =>
  model
    .namedParameters()
    .filter(([, p]) => p.requiresGrad)
    .map(([name]) => name)
    .sort();

const expectedTrainable = (c: PeftCase, adapterName = 'default') =>
  c.trainable
    .flatMap(expandBraces)
    .map((name) =>
      name
        .split('.')
        .map((part) => (part === 'default' ? adapterName : part))
        .join('.'),
    )
    .sort();

/** A copy of a tensor's values. */
const valuesOf = (t: Tensor) => Float32Array.from(t.data() as Float32Array);

const tunerLayers = (model: PeftModel) => model.model.modules().filter(peft.isTunerLayer);
const hasAdapterModules = (model: nn.Module) =>
  model.modules().some((m) => peft.isTunerLayer(m) || m instanceof peft.ModulesToSaveWrapper);

/** PEFT's merge tolerance for float32 outputs. */
const MERGE_TOLERANCE = 1e-5;
/** A change of outputs well above float32 rounding (outputs are of order 0.1 to 1). */
const CHANGED = 1e-6;

describe("the trainable set is exactly the expected names; counts and the printed line are PEFT's", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const model = adapt(c);
      assert.deepEqual(trainableNames(model), expectedTrainable(c));
      const [trainable, all] = model.getNbTrainableParameters();
      assert.equal(trainable, c.trainableCount);
      assert.equal(
        all,
        model.namedParameters().reduce((sum, [, p]) => sum + p.numel(), 0),
      );
      const lines: string[] = [];
      model.printTrainableParameters((line) => lines.push(line));
      assert.deepEqual(lines, [c.line]);
      model.dispose();
    });
  }
});

describe("outputs at initialisation: the base model's for identity-initialised adapters", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const base = buildModel(c.model);
      const expected = outputsOf(base, c.model);
      const model = adapt(c, base);
      const actual = outputsOf(model, c.model);
      if (c.identityAtInit === 'exact') assert.deepEqual(actual, expected);
      else if (c.identityAtInit === false)
        assert.ok(maxDiff(actual, expected) > CHANGED, 'the adapter changes outputs from the start');
      else assert.ok(maxDiff(actual, expected) <= c.identityAtInit, `max |Δ| ${maxDiff(actual, expected)}`);
      model.dispose();
    });
  }
});

describe('a training step moves every trainable parameter and nothing else', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const model = adapt(c);
      // From a perturbed start, as PEFT's test starts from init_lora_weights=False: with B (or up) at zero, A (or down) gets no gradient.
      perturb(model);
      const before = outputsOf(model, c.model);
      const snapshot = model
        .namedParameters()
        .map(([name, p]) => ({ name, p, trainable: p.requiresGrad, values: valuesOf(p) }));
      const optimizer = new optim.SGD(
        model.parameters().filter((p) => p.requiresGrad),
        { lr: 0.1 },
      );
      model.train();
      // Three steps, as PEFT's test.
      for (let step = 0; step < 3; step++) {
        tidy(() => logitsOf(model, c.model).sub(1).pow(2).mean().backward());
        const withGradient = model
          .namedParameters()
          .filter(([, p]) => p.grad !== null)
          .map(([name]) => name)
          .sort();
        assert.deepEqual(withGradient, expectedTrainable(c), 'gradients reach the trainable parameters only');
        optimizer.step();
        optimizer.zeroGrad();
      }
      model.eval();
      const zeroGradient = new Set((c.zeroGradient ?? []).flatMap(expandBraces));
      for (const { name, p, trainable, values } of snapshot) {
        if (zeroGradient.has(name)) continue;
        const same = Buffer.from(valuesOf(p).buffer).equals(Buffer.from(values.buffer));
        assert.equal(same, !trainable, `${name} ${same ? 'did not change' : 'changed'}`);
      }
      const after = outputsOf(model, c.model);
      assert.ok(after.every(Number.isFinite), 'finite outputs');
      assert.ok(maxDiff(after, before) > CHANGED, 'the outputs changed');
      model.dispose();
    });
  }
});

describe('merge / unmerge / merge_and_unload (refused where the adapter cannot fold into the weights), no tensor left behind', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const tensorsBefore = memory().numTensors;
      const base = buildModel(c.model);
      const baseClass = base.constructor;
      const baseKeys = [...base.stateDict().keys()];
      const baseOutputs = outputsOf(base, c.model);
      const baseWeights = base.namedParameters().map(([name, p]) => ({ name, p, values: valuesOf(p) }));
      const model = adapt(c, base);
      const hasHeadCopies = model.modules().some((m) => m instanceof peft.ModulesToSaveWrapper);
      perturb(model);
      const adapted = outputsOf(model, c.model);
      if (!c.mergeable) {
        const refusal = model.prompt_encoder
          ? /not available for prompt learning/
          : /can't be merged into the base weights: they add a nonlinearity/;
        assert.throws(() => model.mergeAdapter(), refusal);
        assert.throws(() => model.mergeAndUnload(), refusal);
        assert.deepEqual(outputsOf(model, c.model), adapted, 'a refused merge changes nothing');
        if (!model.prompt_encoder) {
          model.unmergeAdapter();
          for (const layer of tunerLayers(model)) assert.deepEqual(layer.mergedAdapters, []);
        }
        if (model.prompt_encoder) {
          assert.throws(() => model.unload(), /not available for prompt learning/);
          model.dispose();
          assert.equal(memory().numTensors, tensorsBefore);
          return;
        }
        const plain = model.unload();
        assert.equal(plain.constructor, baseClass);
        assert.ok(!hasAdapterModules(plain));
        assert.deepEqual([...plain.stateDict().keys()], baseKeys);
        // unload keeps the trained head copies (PEFT's); without them the base model computes what it did.
        if (!hasHeadCopies) assert.deepEqual(outputsOf(plain, c.model), baseOutputs);
        plain.dispose();
        assert.equal(memory().numTensors, tensorsBefore);
        return;
      }
      model.mergeAdapter();
      for (const layer of tunerLayers(model)) assert.deepEqual(layer.mergedAdapters, ['default']);
      assert.ok(maxDiff(outputsOf(model, c.model), adapted) <= MERGE_TOLERANCE, 'merged');
      model.unmergeAdapter();
      for (const layer of tunerLayers(model)) assert.deepEqual(layer.mergedAdapters, []);
      for (const { name, p, values } of baseWeights) {
        const diff = maxDiff(valuesOf(p), values);
        assert.ok(diff <= 1e-6, `${name} not restored: max |Δ| ${diff}`);
      }
      assert.ok(maxDiff(outputsOf(model, c.model), adapted) <= MERGE_TOLERANCE, 'unmerged');
      const merged = model.mergeAndUnload();
      assert.equal(merged, base, 'merge_and_unload gives the base model back');
      assert.equal(merged.constructor, baseClass);
      assert.ok(!hasAdapterModules(merged), 'no adapter modules left');
      assert.deepEqual([...merged.stateDict().keys()], baseKeys);
      assert.ok(maxDiff(outputsOf(merged, c.model), adapted) <= MERGE_TOLERANCE, 'merge_and_unload');
      merged.dispose();
      assert.equal(memory().numTensors, tensorsBefore);
    });
  }
});

describe("disable_adapter gives the base model's outputs exactly, then the adapter's again", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const base = buildModel(c.model);
      const baseOutputs = outputsOf(base, c.model);
      const model = adapt(c, base);
      perturb(model);
      const adapted = outputsOf(model, c.model);
      assert.ok(maxDiff(adapted, baseOutputs) > CHANGED, 'the adapter changes outputs');
      assert.deepEqual(
        model.disableAdapter(() => outputsOf(model, c.model)),
        baseOutputs,
      );
      assert.deepEqual(outputsOf(model, c.model), adapted, 'enabled again');
      if (c.mergeable) {
        // Disabling a merged adapter unmerges it first (PEFT).
        model.mergeAdapter();
        assert.ok(
          maxDiff(
            model.disableAdapter(() => outputsOf(model, c.model)),
            baseOutputs,
          ) <= MERGE_TOLERANCE,
        );
        for (const layer of tunerLayers(model)) assert.deepEqual(layer.mergedAdapters, []);
      }
      model.dispose();
    });
  }
});

describe('a second adapter: added inactive, switched to (it alone trains), switched back, deleted', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const base = buildModel(c.model);
      const baseOutputs = outputsOf(base, c.model);
      const model = adapt(c, base);
      perturb(model);
      const first = outputsOf(model, c.model);
      // No warnings: the layers are LoRA layers already, so fan_in_fan_out is not looked at (PEFT's update_layer path).
      expectWarnings([], () => model.addAdapter('other', c.config()));
      assert.deepEqual(outputsOf(model, c.model), first, 'adding does not activate');
      assert.deepEqual(trainableNames(model), expectedTrainable(c));
      assert.throws(() => model.addAdapter('other', c.config()), /an adapter named 'other' already exists/);

      model.setAdapter('other');
      assert.equal(model.activeAdapter, 'other');
      assert.deepEqual(trainableNames(model), expectedTrainable(c, 'other'));
      const second = outputsOf(model, c.model);
      if (c.identityAtInit === 'exact') assert.deepEqual(second, baseOutputs, "'other' starts as the base model");
      else if (c.identityAtInit === false) assert.ok(maxDiff(second, first) > CHANGED);
      else assert.ok(maxDiff(second, baseOutputs) <= c.identityAtInit);

      model.setAdapter('default');
      assert.deepEqual(outputsOf(model, c.model), first, 'switched back');
      assert.deepEqual(trainableNames(model), expectedTrainable(c));
      assert.throws(() => model.setAdapter('missing'), /adapter 'missing' not found/);

      model.setAdapter('other');
      model.deleteAdapter('other');
      assert.equal(model.activeAdapter, 'default', 'deleting the active adapter activates the one left');
      assert.deepEqual([...model.peftConfig.keys()], ['default']);
      const left = model.namedParameters().filter(([name]) => name.split('.').includes('other'));
      assert.deepEqual(left, [], "no parameter of 'other' is left");
      assert.deepEqual(outputsOf(model, c.model), first);
      assert.deepEqual(trainableNames(model), expectedTrainable(c));
      assert.throws(() => model.deleteAdapter('default'), /cannot delete 'default', the only adapter/);
      model.dispose();
    });
  }
});

describe('save_pretrained → from_pretrained in a fresh process, from another folder: the same outputs and files', () => {
  const saved = new Map<string, { base: number[]; adapted: number[] }>();
  const folder = (c: PeftCase) => `case-${CASES.indexOf(c)}`;
  let root = '';
  let results: Record<string, LoadResult> = {};

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'finetune-peft-cases-'));
    for (const c of CASES) {
      const base = buildModel(c.model);
      const baseOutputs = outputsOf(base, c.model);
      const model = adapt(c, base);
      perturb(model, { withBaseBiases: true });
      saved.set(c.name, { base: baseOutputs, adapted: outputsOf(model, c.model) });
      await model.savePretrained(join(root, 'saved', folder(c)));
      model.dispose();
    }
    // The loading process sees only the copies, from a working folder of its own.
    cpSync(join(root, 'saved'), join(root, 'copied'), { recursive: true });
    rmSync(join(root, 'saved'), { recursive: true });
    const elsewhere = join(root, 'cwd');
    mkdirSync(elsewhere);
    const jobs: LoadJob[] = CASES.map((c) => ({
      name: c.name,
      dir: join(root, 'copied', folder(c)),
      resaveDir: join(root, 'resaved', folder(c)),
    }));
    writeFileSync(join(root, 'jobs.json'), JSON.stringify(jobs));
    const child = spawnSync(
      process.execPath,
      [
        fileURLToPath(new URL('./helpers/peft-cases-child.js', import.meta.url)),
        join(root, 'jobs.json'),
        join(root, 'results.json'),
      ],
      {
        cwd: elsewhere,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(child.status, 0, child.stderr);
    results = JSON.parse(readFileSync(join(root, 'results.json'), 'utf8')) as Record<string, LoadResult>;
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  for (const c of CASES) {
    it(c.name, () => {
      const result = results[c.name];
      const { base, adapted } = saved.get(c.name)!;
      assert.deepEqual(result.base, base, 'the same base model in both processes');
      assert.deepEqual(result.loaded, adapted, 'bit-identical outputs');
      assert.deepEqual(result.warnings, [], 'no missing or unexpected keys');
      assert.equal(result.trainable, 0, 'loaded for inference: nothing trains');
      for (const file of ['adapter_config.json', 'adapter_model.safetensors']) {
        const original = readFileSync(join(root, 'copied', folder(c), file));
        assert.ok(
          readFileSync(join(root, 'resaved', folder(c), file)).equals(original),
          `${file} saved again is the same file`,
        );
      }
    });
  }
});
