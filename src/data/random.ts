/**
 * Deterministic pseudo-random numbers for data pipelines (shuffling, splits, augmentation),
 * independent of libtorch's generator so that data order never depends on how many random
 * tensors a model drew. mulberry32: 32-bit state, full period 2³², fast and good enough for
 * sampling (not for cryptography). Seeds are mixed with a murmur3-style finaliser so that
 * nearby seeds (seed, seed + 1, …; or seed and epoch) give unrelated streams.
 */

/** A stream of uniform numbers in [0, 1). */
export interface Rng {
  /** The next uniform number in [0, 1). */
  (): number;
}

/** murmur3's 32-bit finaliser: a bijection on uint32 that scrambles every bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines seeds and counters (e.g. seed and epoch) into one well-mixed uint32 seed. */
export function mixSeeds(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (!Number.isFinite(part)) throw new TypeError(`seed part ${part} is not a finite number`);
    // Two 32-bit halves so that seeds beyond 2³² still matter.
    const low = part >>> 0;
    const high = Math.floor(part / 4294967296) >>> 0;
    h = fmix32((h ^ low) + Math.imul(high, 0x27d4eb2f) + 0x165667b1);
  }
  return h;
}

/** A mulberry32 generator seeded from `seed` (any finite number; mixed first). */
export function mulberry32(seed: number): Rng {
  return mulberry32FromState(mixSeeds(seed));
}

/**
 * A mulberry32 generator whose 32-bit state starts at `state` unmixed, as the reference implementation
 * seeds it: for streams that must match numbers drawn elsewhere from a plain seed (PCGrad's order, the
 * benchmarks' shared data, test fixtures).
 */
export function mulberry32FromState(state: number): Rng {
  state |= 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [low, high) (high exclusive), like torch.randint(low, high). */
export function randomInt(rng: Rng, low: number, high: number): number {
  if (!(high > low)) throw new RangeError(`randomInt: empty range [${low}, ${high})`);
  return low + Math.floor(rng() * (high - low));
}

/** A uniform number in [low, high). */
export function randomUniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng();
}

/** 0 … n-1 in a random order (Fisher–Yates), as an Int32Array. */
export function permutation(n: number, rng: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  shuffleInPlace(order, rng);
  return order;
}

/** Shuffles an array or typed array in place (Fisher–Yates) and returns it. */
export function shuffleInPlace<A extends { length: number; [i: number]: number }>(values: A, rng: Rng): A;
export function shuffleInPlace<T>(values: T[], rng: Rng): T[];
export function shuffleInPlace(values: { length: number; [i: number]: unknown }, rng: Rng): unknown {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const swap = values[i];
    values[i] = values[j];
    values[j] = swap;
  }
  return values;
}

/** A fresh random seed (for transforms created without one): not reproducible by design. */
export function entropySeed(): number {
  return Math.floor(Math.random() * 4294967296);
}
