/**
 * The native addon: built from source against the libtorch found (npm's bundled node-gyp and the headers of the
 * running Node, so nothing is downloaded), or copied from finetune's cache when the same sources were already built
 * against the same libtorch, by this project or another. N-API keeps one build good for every Node >= 20.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';

import { cacheRoot, InstallError, type Libtorch } from './libtorch.js';
import { defaultAddonPath } from './package.js';

export interface AddonInstall {
  path: string;
  /** 'built' from source now, or 'cache': copied from an earlier build of the same sources and libtorch. */
  source: 'built' | 'cache';
  /** The copy in the cache that later installs reuse. */
  cached: string;
}

/** What decides the build: the addon's sources, binding.gyp, and the libtorch it links (path and ABI). */
export function addonKey(root: string, libtorch: Libtorch): string {
  const hash = createHash('sha256');
  const sources = readdirSync(join(root, 'native', 'src')).sort();
  for (const name of sources) hash.update(name).update(readFileSync(join(root, 'native', 'src', name)));
  hash.update(readFileSync(join(root, 'binding.gyp')));
  hash.update(`${libtorch.dir}\n${libtorch.cxx11Abi}`);
  // Installing the Gloo headers turns the distributed part on, and the CUDA and NCCL headers its NCCL
  // backend (binding.gyp), so they change the build.
  const helper = (name: string) => createRequire(import.meta.url)(join(root, 'native', 'src', name)) as unknown;
  const gloo = helper('gloo-headers.cjs') as { glooHeadersPresent(): boolean };
  hash.update(`gloo=${gloo.glooHeadersPresent()}`);
  const nccl = helper('nccl-build.cjs') as { ncclBuild(libtorch: string): { enabled: boolean; includeDirs: string[] } };
  const { enabled, includeDirs } = nccl.ncclBuild(libtorch.dir);
  hash.update(`nccl=${enabled} ${includeDirs.join(' ')}`);
  return hash.digest('hex').slice(0, 16);
}

/** Copies a file through a temporary name, so a reader never sees half of it. */
function copyAtomically(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  const partial = `${to}.partial-${process.pid}`;
  copyFileSync(from, partial);
  renameSync(partial, to);
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** node-gyp: the one npm runs scripts with, an installed one, or the one bundled with npm. */
export function findNodeGyp(root: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.npm_config_node_gyp) candidates.push(env.npm_config_node_gyp);
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside finetune: npm's own copy below
  }
  const npm = onPath('npm', env);
  if (npm) candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  );
  return candidates.find((path) => existsSync(path));
}

/** The tools a build from source needs that are missing. */
function missingBuildTools(env: NodeJS.ProcessEnv): string[] {
  const compiler = env.CXX ? [env.CXX] : ['g++', 'c++', 'clang++'];
  const missing: string[] = [];
  if (!compiler.some((tool) => existsSync(tool) || onPath(tool, env))) missing.push('a C++ compiler (g++)');
  if (!onPath('make', env)) missing.push('make');
  if (!onPath('python3', env)) missing.push('python3 (node-gyp runs gyp with it)');
  return missing;
}

/** Runs node-gyp's configure and build in the package root (no `rebuild`: its clean would delete build/). */
function buildFromSource(root: string, libtorch: Libtorch, log: (line: string) => void, env: NodeJS.ProcessEnv): void {
  const hint =
    'install the build tools (Debian/Ubuntu: `apt-get install g++ make python3`), then run `npx finetune setup`';
  const missing = missingBuildTools(env);
  if (missing.length > 0) throw new InstallError(`building the native addon needs ${missing.join(', ')}`, hint);
  const gyp = findNodeGyp(root, env);
  if (!gyp) throw new InstallError("node-gyp was not found (npm's bundled copy or an installed one)", hint);
  // The running Node's own headers (include/node beside bin/node) spare node-gyp a download.
  const prefix = resolve(dirname(process.execPath), '..');
  const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const buildEnv = { ...env, LIBTORCH: libtorch.dir, LIBTORCH_CXX11_ABI: libtorch.cxx11Abi ? '1' : '0' };
  log(`building the native addon against ${libtorch.dir} (about a minute)`);
  for (const step of [
    ['configure', ...nodedir],
    ['build', ...nodedir, '-j', String(Math.max(1, cpus().length))],
  ]) {
    const run = spawnSync(process.execPath, [gyp, ...step], { cwd: root, env: buildEnv, stdio: ['ignore', 2, 2] });
    if (run.status !== 0) {
      throw new InstallError(`node-gyp ${step[0]} failed for the native addon (its output is above)`, hint);
    }
  }
}

/** Puts the addon for `libtorch` at the package's build/Release/finetune.node: from the cache, or built now. */
export function installAddon(
  root: string,
  libtorch: Libtorch,
  options: { force?: boolean; log: (line: string) => void; env?: NodeJS.ProcessEnv; installed?: AddonInstall },
): AddonInstall {
  const env = options.env ?? process.env;
  const path = defaultAddonPath(root);
  const cached = join(cacheRoot(env), 'addons', addonKey(root, libtorch), 'finetune.node');
  const { installed } = options;
  if (!options.force && installed?.cached === cached && installed.path === path && existsSync(path)) return installed;
  if (!options.force && existsSync(cached)) {
    options.log(`reusing the native addon built earlier for this libtorch: ${cached}`);
    copyAtomically(cached, path);
    return { path, source: 'cache', cached };
  }
  buildFromSource(root, libtorch, options.log, env);
  copyAtomically(path, cached);
  return { path, source: 'built', cached };
}
