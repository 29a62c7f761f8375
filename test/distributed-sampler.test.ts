// DistributedSampler against torch.utils.data.distributed.DistributedSampler (fixtures from
// tools/gen_distributed_sampler_fixtures.py with the pinned torch wheel), and a DataLoader that takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { data, manualSeed, randn, type Tensor } from 'finetune';

const { DataLoader, DistributedSampler } = data;

interface Case {
  size: number;
  num_replicas: number;
  shuffle: boolean;
  drop_last: boolean;
  seed: number;
  epoch: number;
  num_samples: number;
  total_size: number;
  ranks: number[][];
}

const FIXTURE = new URL('../../../test/fixtures/distributed-sampler/cases.json', import.meta.url);
const { cases } = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { cases: Case[] };

const sized = (length: number): { length: number } => ({ length });

test('DistributedSampler: every rank of every case gives torch 2.13’s exact indices', () => {
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const where = `size ${c.size}, ${c.num_replicas} replicas, shuffle ${c.shuffle}, dropLast ${c.drop_last}, seed ${c.seed}, epoch ${c.epoch}`;
    c.ranks.forEach((expected, rank) => {
      const sampler = new DistributedSampler(sized(c.size), {
        numReplicas: c.num_replicas,
        rank,
        shuffle: c.shuffle,
        seed: c.seed,
        dropLast: c.drop_last,
      });
      sampler.setEpoch(c.epoch);
      assert.equal(sampler.length, c.num_samples, where);
      assert.equal(sampler.totalSize, c.total_size, where);
      assert.deepEqual([...sampler], expected, `${where}, rank ${rank}`);
    });
  }
});

test('DistributedSampler: shares cover the dataset (2 padded); another epoch, another order; the same epoch, the same', () => {
  const shares = [0, 1, 2].map((rank) =>
    new DistributedSampler(sized(10), { numReplicas: 3, rank, seed: 5 }).indices(),
  );
  const all = shares.flat();
  assert.equal(all.length, 12);
  assert.deepEqual(
    [...new Set(all)].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  const sampler = new DistributedSampler(sized(10), { numReplicas: 3, rank: 0, seed: 5 });
  const epoch0 = sampler.indices();
  sampler.setEpoch(1);
  assert.notDeepEqual(sampler.indices(), epoch0);
  sampler.setEpoch(0);
  assert.deepEqual(sampler.indices(), epoch0);
});

test('DistributedSampler: drawing the permutation leaves libtorch’s random stream where it was', () => {
  manualSeed(123);
  const expected = randn([4]).data() as Float32Array;
  manualSeed(123);
  const sampler = new DistributedSampler(sized(50), { numReplicas: 2, rank: 1, seed: 9 });
  sampler.indices();
  assert.deepEqual(randn([4]).data(), expected);
});

test('DistributedSampler: numReplicas and rank default to WORLD_SIZE and RANK; bad values name the option', () => {
  const saved = { WORLD_SIZE: process.env.WORLD_SIZE, RANK: process.env.RANK };
  try {
    process.env.WORLD_SIZE = '4';
    process.env.RANK = '3';
    const sampler = new DistributedSampler(sized(10));
    assert.equal(sampler.numReplicas, 4);
    assert.equal(sampler.rank, 3);
    assert.deepEqual(sampler.indices(), new DistributedSampler(sized(10), { numReplicas: 4, rank: 3 }).indices());
    delete process.env.WORLD_SIZE;
    assert.throws(() => new DistributedSampler(sized(10)), /numReplicas not given and WORLD_SIZE is not set/);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  assert.throws(
    () => new DistributedSampler(sized(10), { numReplicas: 2, rank: 2 }),
    /invalid rank 2, rank should be in the interval \[0, 1\]/,
  );
  assert.throws(
    () => new DistributedSampler(sized(10), { numReplicas: 0, rank: 0 }),
    /numReplicas must be a positive integer/,
  );
  assert.throws(
    () => new DistributedSampler(sized(10), { numReplicas: 2, rank: 0, seed: -1 }),
    /seed must be an integer ≥ 0/,
  );
});

test('DataLoader with a DistributedSampler: batches of this rank’s share, the epoch passed to the sampler', async () => {
  const dataset = { length: 10, get: (i: number): { y: number } => ({ y: i }) };
  const sampler = new DistributedSampler(dataset, { numReplicas: 3, rank: 1, seed: 0 });
  const loader = new DataLoader(dataset, { batchSize: 3, sampler });
  assert.equal(loader.length, 2); // 4 indices per rank
  const ids = (batch: { y: Tensor }): number[] => Array.from(batch.y.data() as BigInt64Array, Number);
  for (const epoch of [0, 1]) {
    const batches: number[][] = [];
    for await (const batch of loader.epoch(epoch)) batches.push(ids(batch));
    const share = cases.find(
      (c) => c.size === 10 && c.num_replicas === 3 && !c.drop_last && c.seed === 0 && c.epoch === epoch,
    )!.ranks[1];
    assert.deepEqual(batches, [share.slice(0, 3), share.slice(3)]);
    assert.equal(sampler.epoch, epoch);
  }
  const dropLast = new DataLoader(dataset, { batchSize: 3, sampler, dropLast: true });
  assert.equal(dropLast.length, 1);
  assert.throws(() => new DataLoader(dataset, { sampler, shuffle: true }), /sampler and shuffle exclude each other/);
});
