/**
 * Finding libtorch, the C++ library under PyTorch that the native addon links. In order:
 *   1. a folder named by `finetune setup --libtorch DIR` or the LIBTORCH environment variable (as tch-rs);
 *   2. the one this package was last set up with, while it is still there (so `setup --cuda` sticks);
 *   3. an importable Python torch of the pinned version (its wheel carries libtorch), e.g. in an active venv;
 *   4. the pinned wheel in the per-user cache, `$XDG_CACHE_HOME/finetune/libtorch-<version>` (~/.cache when
 *      XDG_CACHE_HOME is unset), shared by every project on the machine;
 *   5. the pinned wheel installed now into that cache with pip (`--no-deps`; no Python is needed afterwards).
 * FINETUNE_PYTHON names the Python used for 3 and 5 (default python3); FINETUNE_NO_PIP=1 turns 5 off.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The PyTorch release the addon and the generated operator table (src/tensor/aten.ts) are made for. */
export const TORCH_VERSION = '2.13.0';

/** How a libtorch was found, for `finetune doctor`. */
export type LibtorchSource = 'flag' | 'LIBTORCH' | 'python' | 'cache' | 'pip';

export interface Libtorch {
  /** A folder with include/ and lib/ (a wheel's torch/ folder, or an unpacked libtorch zip). */
  dir: string;
  source: LibtorchSource;
  /** Whether it was built with the C++11 ABI (every wheel since PyTorch 2.7): the addon must match. */
  cxx11Abi: boolean;
}

/** An install step that could not finish, with what the user should run or set. */
export class InstallError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'InstallError';
  }
}

/** finetune's folder in the per-user cache (libtorch wheels and built addons, shared by every project). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'finetune');
}

const CUDA_VERSION = /^(\d+)\.(\d)$/;

/** Whether `cuda` reads as a CUDA version (12.8), as `--cuda` takes it. */
export function isCudaVersion(cuda: string): boolean {
  return CUDA_VERSION.test(cuda);
}

/** The wheel's local version: 'cpu', or 'cu128' for `--cuda 12.8`. */
export function wheelVariant(cuda?: string): string {
  if (cuda === undefined) return 'cpu';
  const match = CUDA_VERSION.exec(cuda);
  if (!match)
    throw new InstallError(`--cuda ${cuda}: expected a CUDA version such as 12.8`, 'finetune setup --cuda 12.8');
  return `cu${match[1]}${match[2]}`;
}

/** Where the pinned wheel of `variant` is (or goes) in the cache; libtorch is its torch/ folder. */
export function cachedWheelDir(variant: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), `libtorch-${TORCH_VERSION}+${variant}`);
}

/** Whether `dir` looks like libtorch: its CPU library and the ATen headers the addon compiles against. */
export function isLibtorch(dir: string): boolean {
  return existsSync(join(dir, 'lib', 'libtorch_cpu.so')) && existsSync(join(dir, 'include', 'ATen'));
}

/**
 * Whether libtorch was built with the C++11 ABI: its libc10 then exports `std::__cxx11::` names. Read from the
 * library's bytes, so binutils is not needed.
 */
export function usesCxx11Abi(dir: string): boolean {
  return readFileSync(join(dir, 'lib', 'libc10.so')).includes('__cxx11');
}

function described(dir: string, source: LibtorchSource): Libtorch {
  const real = realpathSync(dir);
  return { dir: real, source, cxx11Abi: usesCxx11Abi(real) };
}

/** The Python that discovery asks for torch and that installs the wheel. */
export function pythonCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.FINETUNE_PYTHON || 'python3';
}

/** The libtorch inside an importable torch of the pinned release, or why there is none. */
export function pythonLibtorch(python: string): { dir: string } | { reason: string } {
  const probe = spawnSync(
    python,
    ['-c', 'import os, torch; print(torch.__version__); print(os.path.dirname(torch.__file__))'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (probe.error) return { reason: `${python} cannot run (${probe.error.message})` };
  if (probe.status !== 0) return { reason: `${python} cannot import torch` };
  const [torchVersion, dir] = probe.stdout.trim().split('\n');
  if (!torchVersion.startsWith(`${TORCH_VERSION}`)) {
    return { reason: `${python}'s torch is ${torchVersion}, not ${TORCH_VERSION}` };
  }
  return isLibtorch(dir) ? { dir } : { reason: `${python}'s torch at ${dir} has no lib/libtorch_cpu.so or include/` };
}

/** PyTorch's own wheel index for a variant (the +cpu and +cuXYZ wheels are not on PyPI). */
export function torchIndexUrl(variant: string): string {
  return `https://download.pytorch.org/whl/${variant}`;
}

/**
 * Installs torch==TORCH_VERSION+variant with pip (--no-deps, into a temporary folder renamed into place, so an
 * interrupted install never leaves a half folder that looks complete). pip's own configuration is tried first (a
 * local index or mirror), then PyTorch's index. Returns the wheel folder.
 */
export function pipInstallWheel(
  python: string,
  variant: string,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const target = cachedWheelDir(variant, env);
  const partial = `${target}.partial-${process.pid}`;
  const requirement = `torch==${TORCH_VERSION}+${variant}`;
  mkdirSync(cacheRoot(env), { recursive: true });
  const pip = (extra: string[]) =>
    spawnSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--no-deps',
        '--no-warn-script-location',
        '--disable-pip-version-check',
        '--progress-bar',
        'off',
        '--target',
        partial,
        ...extra,
        requirement,
      ],
      { stdio: ['ignore', 2, 2] },
    );
  log(`installing ${requirement} (libtorch, about 760 MB unpacked) with ${python} -m pip into ${target}`);
  let run = pip([]);
  if (run.status !== 0 && !run.error) {
    log(`pip's configured index has no ${requirement}; trying ${torchIndexUrl(variant)}`);
    rmSync(partial, { recursive: true, force: true });
    run = pip(['--extra-index-url', torchIndexUrl(variant)]);
  }
  if (run.status !== 0 || run.error) {
    rmSync(partial, { recursive: true, force: true });
    throw new InstallError(
      `pip could not install ${requirement}` + (run.error ? ` (${run.error.message})` : ''),
      `make \`${python} -m pip install ${requirement}\` work (PIP_EXTRA_INDEX_URL=${torchIndexUrl(variant)} on a machine ` +
        `that reaches it), or set LIBTORCH to an unpacked libtorch ${TORCH_VERSION}, then run \`npx finetune setup\``,
    );
  }
  try {
    renameSync(partial, target);
  } catch (error) {
    // Another project's install finished the same wheel first: keep theirs.
    rmSync(partial, { recursive: true, force: true });
    if (!isLibtorch(join(target, 'torch'))) throw error;
  }
  return target;
}

export interface LibtorchRequest {
  /** `finetune setup --libtorch DIR`. */
  libtorch?: string;
  /** `finetune setup --cuda 12.8`: the CUDA wheel instead of the CPU one. */
  cuda?: string;
  /** `finetune setup --cpu`: the pinned CPU wheel, whatever an earlier setup or a Python torch would give. */
  cpu?: boolean;
  /** The libtorch the package was last set up with (build/install.json): kept, with its source, while it exists. */
  recorded?: Libtorch;
}

/** Finds libtorch in the order this file's header lists, installing the pinned wheel when nothing else is there. */
export function findLibtorch(
  request: LibtorchRequest,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Libtorch {
  const named = request.libtorch ?? env.LIBTORCH;
  if (named) {
    const flag = request.libtorch !== undefined ? '--libtorch' : 'LIBTORCH';
    if (!isLibtorch(named)) {
      throw new InstallError(
        `${flag}=${named} is not libtorch: it has no lib/libtorch_cpu.so or include/ATen`,
        `point ${flag} at a folder with include/ and lib/ (an unpacked libtorch ${TORCH_VERSION}, or a torch wheel's torch/ folder)`,
      );
    }
    return described(named, request.libtorch !== undefined ? 'flag' : 'LIBTORCH');
  }
  const variant = wheelVariant(request.cuda);
  const cached = join(cachedWheelDir(variant, env), 'torch');
  if (request.cuda === undefined && !request.cpu) {
    if (request.recorded && isLibtorch(request.recorded.dir)) return request.recorded;
    const python = pythonLibtorch(pythonCommand(env));
    if ('dir' in python) return described(python.dir, 'python');
    log(`no Python torch ${TORCH_VERSION} to reuse: ${python.reason}`);
  }
  if (isLibtorch(cached)) return described(cached, 'cache');
  if (env.FINETUNE_NO_PIP === '1') {
    throw new InstallError(
      `libtorch ${TORCH_VERSION} was not found (no LIBTORCH, no Python torch ${TORCH_VERSION}, nothing in ${cached}) ` +
        'and FINETUNE_NO_PIP=1 forbids installing it',
      `set LIBTORCH to an unpacked libtorch ${TORCH_VERSION}, or unset FINETUNE_NO_PIP, then run \`npx finetune setup\``,
    );
  }
  pipInstallWheel(pythonCommand(env), variant, log, env);
  return described(cached, 'pip');
}

/** One line on where a libtorch came from, for logs and `finetune doctor`. */
export function describeSource(source: LibtorchSource): string {
  return {
    flag: 'finetune setup --libtorch',
    LIBTORCH: 'the LIBTORCH environment variable',
    python: 'the importable Python torch',
    cache: "finetune's shared cache",
    pip: "installed with pip into finetune's shared cache",
  }[source];
}
