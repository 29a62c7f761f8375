/**
 * DistributedDataParallel: 2 real Node processes × batch 4 train a tiny BERT exactly as 1 process ×
 * batch 8 (same seed, same rows): the same losses at every step and the same final weights, for full
 * fine-tuning and LoRA, and with noSync gradient accumulation. Rank 1 starts from another seed, so the
 * runs agree only if the construction broadcast and the Reducer's averaging during backward both work.
 * Also: findUnusedParameters (and torch's error without it), a peer killed before a backward, and the
 * Reducer's buckets against torch's for the same parameters (test/fixtures/ddp-buckets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { distributed, LoraConfig, getPeftModel, manualSeed, models, nn, ones, tidy } from '../src/index.js';
import { STALL_TIMEOUT_MS, STEPS, train, trainBranches, type Setup, type TrainResult } from './helpers/ddp-training.js';
import { TINY_BERT_CONFIG } from './helpers/tiny-configs.js';
import { onTwoRanks as onTwoRanksOf, runTwoRanks as runTwoRanksOf, skipWithoutGloo } from './helpers/two-ranks.js';

const worker = fileURLToPath(new URL('./helpers/ddp-training.js', import.meta.url));
const runTwoRanks = <R>(args: string[]) => runTwoRanksOf<R>(worker, args);
const onTwoRanks = <R>(args: string[]) => onTwoRanksOf<R>(worker, args);

type RankResult = TrainResult & { ms: number };

/** ‖a − b‖ ≤ 1e-5 · ‖b‖ for every tensor, and the same keys. */
function assertSameWeights(actual: Record<string, number[]>, expected: Record<string, number[]>, who: string): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected), who);
  for (const [key, values] of Object.entries(expected)) {
    let diff = 0;
    let norm = 0;
    values.forEach((v, i) => {
      diff += (actual[key][i] - v) ** 2;
      norm += v * v;
    });
    assert.ok(Math.sqrt(diff) <= 1e-5 * Math.sqrt(norm) + 1e-9, `${who}: ${key} differs by ${Math.sqrt(diff)}`);
  }
}

const SETUPS: Setup[] = [
  { model: 'full', optimizer: 'sgd', accumulate: 1 },
  { model: 'lora', optimizer: 'adamw', accumulate: 1 },
  { model: 'full', optimizer: 'sgd', accumulate: 3 },
];

for (const setup of SETUPS) {
  const name =
    `${setup.model === 'full' ? 'full fine-tuning' : 'LoRA'} with ${setup.optimizer}` +
    (setup.accumulate > 1 ? `, ${setup.accumulate - 1} noSync micro-steps then a synced one` : '');
  test(`DDP, 2 processes × batch 4 = 1 process × batch 8: ${name}`, { skip: skipWithoutGloo }, async () => {
    const ranks = await onTwoRanks<RankResult>([setup.model, setup.optimizer, String(setup.accumulate)]);
    const reference = train(setup, 0, 1);
    assert.equal(reference.losses.length, STEPS);
    // The training moved: the losses are not flat.
    assert.ok(Math.abs(reference.losses[0] - reference.losses[STEPS - 1]) > 1e-3, `${reference.losses}`);
    // Each rank's loss is the mean over its 4 rows; their average is the mean over the 8.
    ranks[0].losses.forEach((loss, step) => {
      const average = (loss + ranks[1].losses[step]) / 2;
      const expected = reference.losses[step];
      assert.ok(Math.abs(average - expected) <= 1e-5 * Math.abs(expected), `step ${step}: ${average} vs ${expected}`);
    });
    assertSameWeights(ranks[0].weights, reference.weights, 'rank 0');
    assertSameWeights(ranks[1].weights, ranks[0].weights, 'rank 1');
    const [grad0, grad1] = ranks.map((r) => r.classifierGrad);
    if (setup.accumulate > 1) {
      // Inside noSync each rank holds the gradient of its own rows only; the synchronised backward makes them equal.
      assert.ok(
        Math.abs(grad0.beforeSync - grad1.beforeSync) > 1e-3 * grad0.beforeSync,
        JSON.stringify([grad0, grad1]),
      );
    }
    assert.ok(Math.abs(grad0.afterSync - grad1.afterSync) <= 1e-6 * grad0.afterSync, JSON.stringify([grad0, grad1]));
    assert.ok(
      Math.abs(grad0.afterSync - reference.classifierGrad.afterSync) <= 1e-5 * grad0.afterSync,
      JSON.stringify([grad0, reference]),
    );
    if (setup.model === 'lora') {
      // The wrapper's state dict is the plain PEFT model's: no 'module.' prefix.
      assert.ok(Object.keys(ranks[0].weights).some((k) => k.includes('lora_A.default.weight')));
    }
    console.log(`${name}: 2-rank run ${ranks.map((r) => r.ms.toFixed(0)).join(' / ')} ms for ${STEPS} steps`);
  });
}

test(
  "DDP broadcastBuffers: every forward starts from rank 0's BatchNorm statistics; off, each rank keeps its own",
  { skip: skipWithoutGloo },
  async () => {
    // A train-mode forward of constant input c moves running_mean to 0.1·c and running_var to 0.9 (no spread);
    // rank r's input is r + 1. The eval-mode forward of 1 then gives (1 − mean) / √(0.9 + 1e-5).
    const evalOf = (mean: number) => (1 - mean) / Math.sqrt(0.9 + 1e-5);
    for (const mode of ['broadcast', 'local']) {
      const ranks = await onTwoRanks<{ runningMean: number[]; evalOutput: number[] }>(['buffers', mode, '1']);
      // Buffers are broadcast when a forward starts, so each rank's own update after it stays (as in torch).
      assert.deepEqual(
        ranks.map((r) => r.runningMean[0].toFixed(6)),
        ['0.100000', '0.200000'],
        mode,
      );
      const expected = mode === 'broadcast' ? [evalOf(0.1), evalOf(0.1)] : [evalOf(0.1), evalOf(0.2)];
      ranks.forEach((r, rank) =>
        assert.ok(Math.abs(r.evalOutput[0] - expected[rank]) < 1e-6, `${mode} rank ${rank}: ${r.evalOutput}`),
      );
    }
  },
);

test(
  'DDP findUnusedParameters: a head unused in every other step trains as 1 process × batch 8',
  { skip: skipWithoutGloo },
  async () => {
    const ranks = await onTwoRanks<TrainResult & { ms: number }>(['branches', 'find', '1']);
    const reference = trainBranches('find', 0, 1);
    ranks[0].losses.forEach((loss, step) => {
      const average = (loss + ranks[1].losses[step]) / 2;
      const expected = reference.losses[step];
      assert.ok(Math.abs(average - expected) <= 1e-5 * Math.abs(expected), `step ${step}: ${average} vs ${expected}`);
    });
    assertSameWeights(ranks[0].weights, reference.weights, 'rank 0');
    assertSameWeights(ranks[1].weights, ranks[0].weights, 'rank 1');
  },
);

test(
  "DDP without findUnusedParameters: an unused head gives torch's error naming the rank, no hang",
  { skip: skipWithoutGloo },
  async () => {
    const ranks = await runTwoRanks<TrainResult>(['branches', 'strict', '1']);
    ranks.forEach(({ code, result, out }, rank) => {
      assert.equal(code, 1, out);
      assert.match(
        result?.error ?? out,
        new RegExp(
          `DistributedDataParallel.forward failed on rank ${rank} of 2: Expected to have finished reduction in the prior iteration`,
        ),
      );
      assert.match(
        result?.error ?? out,
        /\(finetune: new DistributedDataParallel\(model, \{ findUnusedParameters: true \}\); the Trainer: ddpFindUnusedParameters: true, finetune train: --ddp-find-unused-parameters\)/,
      );
    });
  },
);

test(
  'DDP: a peer killed before its backward makes the other rank throw from backward, naming it',
  { skip: skipWithoutGloo },
  async () => {
    const [survivor, killed] = await runTwoRanks<TrainResult>(['branches', 'kill', '1']);
    assert.equal(killed.signal, 'SIGKILL', killed.out);
    assert.equal(survivor.code, 1, survivor.out);
    assert.match(
      survivor.result?.error ?? survivor.out,
      /DistributedDataParallel: the gradient allreduce of bucket \d+ failed on rank 0 of 2: /,
    );
    // Well within the group's 20 s timeout: Gloo sees the closed connection.
    assert.ok(survivor.ms < 20_000, `${survivor.ms} ms`);
  },
);

test(
  "DDP: a peer that stops past the group's timeout makes the other rank's backward throw, naming it",
  { skip: skipWithoutGloo },
  async () => {
    const [waiting, stalled] = await runTwoRanks<TrainResult>(['branches', 'stall', '1']);
    assert.equal(waiting.code, 1, waiting.out);
    assert.match(
      waiting.result?.error ?? waiting.out,
      /DistributedDataParallel: the gradient allreduce of bucket \d+ failed on rank 0 of 2: .*([Tt]imed out|[Tt]imeout caused pair closure)/,
    );
    // The stalled rank finds its peer gone when it comes back.
    assert.equal(stalled.code, 1, stalled.out);
    // Startup, two steps and the 2 s timeout: not the 5 s stall, and no hang.
    assert.ok(waiting.ms < stalled.ms && waiting.ms < STALL_TIMEOUT_MS + 2_500, `${waiting.ms} ms`);
  },
);

interface BucketCase {
  bucketCapMb: number | null;
  findUnusedParameters: boolean;
  atConstruction: string[][];
  afterSecondForward: string[][];
}

test(
  "DDP's Reducer buckets the parameters as torch's DDP (at construction, rebuilt at the second forward) and overlaps backward",
  { skip: skipWithoutGloo },
  () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/ddp-buckets/cases.json', import.meta.url), 'utf8'),
    ) as { layers: [number, number][]; cases: BucketCase[] };
    distributed.initProcessGroup({ initMethod: 'tcp://127.0.0.1:0', rank: 0, worldSize: 1, timeout: 10_000 });
    try {
      for (const expected of fixture.cases) {
        const layers = fixture.layers.flatMap(([nIn, nOut], i) => [
          ...(i > 0 ? [new nn.ReLU()] : []),
          new nn.Linear(nIn, nOut),
        ]);
        const ddp = new distributed.DistributedDataParallel(new nn.Sequential(...layers), {
          bucketCapMb: expected.bucketCapMb ?? undefined,
          findUnusedParameters: expected.findUnusedParameters,
        });
        const name = JSON.stringify({ bucketCapMb: expected.bucketCapMb, find: expected.findUnusedParameters });
        assert.deepEqual(ddp.buckets, expected.atConstruction, name);
        for (let i = 0; i < 2; i++)
          tidy(() =>
            ddp
              .forward(ones([4, fixture.layers[0][0]]))
              .sum()
              .backward(),
          );
        assert.deepEqual(ddp.buckets, expected.afterSecondForward, name);
        const { bucketStartNs, gradientReadyNs } = ddp.lastBackwardTimeline;
        assert.equal(bucketStartNs.length, expected.afterSecondForward.length, name);
        if (bucketStartNs.length > 1) {
          // Overlap: the first bucket's allReduce started while backward was still computing gradients.
          assert.ok(bucketStartNs[0] < Math.max(...gradientReadyNs), `${name}: ${bucketStartNs} vs ${gradientReadyNs}`);
        }
      }
    } finally {
      distributed.destroyProcessGroup();
    }
  },
);

test("DDP reduces only the parameters that train; its state dict is the module's", { skip: skipWithoutGloo }, () => {
  distributed.initProcessGroup({ initMethod: 'tcp://127.0.0.1:0', rank: 0, worldSize: 1, timeout: 10_000 });
  try {
    manualSeed(0);
    const bert = new models.BertForSequenceClassification(TINY_BERT_CONFIG);
    const ddp = new distributed.DistributedDataParallel(bert);
    assert.deepEqual(
      ddp.buckets.flat().sort(),
      bert
        .namedParameters()
        .map(([name]) => name)
        .sort(),
    );
    assert.deepEqual([...ddp.stateDict().keys()], [...bert.stateDict().keys()]);
    assert.equal(ddp.module, bert);
    ddp.eval();
    assert.equal(bert.training, false);
    const lora = getPeftModel(bert, new LoraConfig({ taskType: 'SEQ_CLS', r: 4, targetModules: ['query'] }));
    const ddpLora = new distributed.DistributedDataParallel(lora as unknown as nn.Module & { forward(): unknown });
    // The frozen base weights stay out: only LoRA's adapters and the classifier's trainable copy.
    const reduced = ddpLora.buckets.flat();
    assert.ok(reduced.length > 0 && reduced.every((n) => /lora_[AB]|modules_to_save/.test(n)), reduced.join());
    assert.equal(ddpLora.parameters().length, lora.parameters().length);
    assert.throws(() => new distributed.DistributedDataParallel(bert, { bucketCapMb: 0 }), /bucketCapMb must be > 0/);
  } finally {
    distributed.destroyProcessGroup();
  }
});

test('DDP without a process group says to call initProcessGroup', () => {
  assert.throws(
    () => new distributed.DistributedDataParallel(new models.BertForSequenceClassification(TINY_BERT_CONFIG)),
    /DistributedDataParallel: the default process group has not been initialized: call initProcessGroup first/,
  );
});
