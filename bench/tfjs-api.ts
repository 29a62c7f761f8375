/**
 * TensorFlow.js for the TF.js suite, installed on demand: the packages are not among finetune's
 * dependencies (they weigh 286 MB, and only this benchmark uses them), so the suite's driver installs
 * the pinned versions with `npm install --no-save` the first time it needs them (ensureTfjs), and
 * bench/tfjs.ts loads them at run time through loadTfjs. The interfaces are the part of
 * @tensorflow/tfjs 4.22's API that bench/tfjs.ts calls, typed here so that the benchmarks compile
 * without the package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The TF.js packages and versions the suite runs. */
export const TFJS_PACKAGES: Readonly<Record<string, string>> = {
  '@tensorflow/tfjs': '4.22.0',
  '@tensorflow/tfjs-backend-wasm': '4.22.0',
};

const INSTALL_HINT = `npm install --no-save --ignore-scripts ${Object.entries(TFJS_PACKAGES)
  .map(([name, version]) => `${name}@${version}`)
  .join(' ')}`;

export interface TfTensor {
  readonly shape: number[];
  readonly size: number;
  dispose(): void;
  dataSync(): Float32Array | Int32Array | Uint8Array;
}
export type TfVariable = TfTensor;
export type TfScalar = TfTensor;
type TfInput = TfTensor | number;

export interface Tfjs {
  version_core: string;
  tensor(values: Float32Array | number[], shape: number[], dtype: 'float32'): TfTensor;
  tensor1d(values: ArrayLike<number>, dtype: 'int32'): TfTensor;
  variable(initial: TfTensor, trainable: boolean, name: string): TfVariable;
  transpose(x: TfTensor, perm?: number[]): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  add(a: TfInput, b: TfInput): TfTensor;
  sub(a: TfInput, b: TfInput): TfTensor;
  mul(a: TfInput, b: TfInput): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  erf(x: TfTensor): TfTensor;
  rsqrt(x: TfTensor): TfTensor;
  softmax(x: TfTensor): TfTensor;
  mean(x: TfTensor, axis?: number): TfTensor;
  squaredDifference(a: TfTensor, b: TfTensor): TfTensor;
  moments(x: TfTensor, axis: number, keepDims: boolean): { mean: TfTensor; variance: TfTensor };
  oneHot(indices: TfTensor, depth: number): TfTensor;
  losses: { softmaxCrossEntropy(onehotLabels: TfTensor, logits: TfTensor): TfTensor };
  variableGrads(f: () => TfScalar, varList: TfVariable[]): { value: TfScalar; grads: Record<string, TfTensor> };
  dispose(tensors: TfTensor[]): void;
  memory(): { numTensors: number };
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
}

/** The installed version of each pinned package that is missing or different. */
function missingPackages(root: string): string[] {
  return Object.entries(TFJS_PACKAGES)
    .filter(([name, version]) => {
      const manifest = join(root, 'node_modules', name, 'package.json');
      return (
        !existsSync(manifest) ||
        (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version !== version
      );
    })
    .map(([name, version]) => `${name}@${version}`);
}

/** Installs the pinned TF.js packages into `root`'s node_modules when they are missing (npm install --no-save: package.json and the lock stay as they are). */
export function ensureTfjs(root: string, log: (line: string) => void): void {
  const missing = missingPackages(root);
  if (missing.length === 0) return;
  log(
    `[bench] installing ${missing.join(', ')} for the TF.js suite (npm install --no-save; not a dependency of finetune)`,
  );
  const npm = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', ...missing], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (npm.status !== 0 || missingPackages(root).length > 0)
    throw new Error(`installing TensorFlow.js failed (npm exit ${npm.status ?? npm.signal}); by hand: ${INSTALL_HINT}`);
}

/** Imports a TF.js package, or says how to install it. */
export async function loadTfjs<T = Tfjs>(name: string): Promise<T> {
  const specifier: string = name; // a variable: TypeScript leaves the module unresolved (it may not be installed when this compiles)
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(
        `${name} is not installed: node build/ts/bench/compare.js --suite tfjs installs it, or by hand: ${INSTALL_HINT}`,
        { cause: error },
      );
    }
    throw error;
  }
}
