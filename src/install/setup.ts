/**
 * Setting the package up where it is installed: find libtorch, put the native addon in place, and write down what
 * was done (build/install.json) — or why it could not be done, so that the first use says what to run. The npm
 * install step, `finetune setup` and the repository's scripts/setup.sh all run `setup()`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { installAddon, type AddonInstall } from './addon.js';
import { describeSource, findLibtorch, InstallError, type Libtorch, type LibtorchRequest } from './libtorch.js';
import { isRepositoryCheckout, packageRoot, version } from './package.js';

/** What build/install.json holds after a setup that finished. */
export interface InstallRecord {
  finetune: string;
  libtorch: Libtorch;
  addon: AddonInstall;
  at: string;
}

/** What build/install.json holds after a setup that could not finish. */
export interface InstallFailure {
  finetune: string;
  error: string;
  hint: string;
  at: string;
}

export function installRecordPath(root = packageRoot()): string {
  return join(root, 'build', 'install.json');
}

/** build/install.json, or undefined when no setup ran (or the file is unreadable). */
export function readInstallRecord(root = packageRoot()): InstallRecord | InstallFailure | undefined {
  try {
    return JSON.parse(readFileSync(installRecordPath(root), 'utf8')) as InstallRecord | InstallFailure;
  } catch {
    return undefined;
  }
}

function writeRecord(root: string, record: InstallRecord | InstallFailure): void {
  const path = installRecordPath(root);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.partial`, JSON.stringify(record, null, 2) + '\n');
  renameSync(`${path}.partial`, path);
}

export interface SetupOptions extends Omit<LibtorchRequest, 'recorded'> {
  /** Build the addon again even when a build for this libtorch exists. */
  force?: boolean;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  root?: string;
}

/**
 * Finds (or installs) libtorch and puts the addon in place for it; records the outcome in build/install.json.
 * Throws (InstallError with a hint when the cause is known) after recording why it could not finish.
 */
export function setup(options: SetupOptions = {}): InstallRecord {
  const root = options.root ?? packageRoot();
  const log = options.log ?? ((line: string) => console.error(`[finetune] ${line}`));
  const env = options.env ?? process.env;
  const previous = readInstallRecord(root);
  const installed = previous && 'libtorch' in previous ? previous : undefined;
  try {
    if (process.platform !== 'linux') {
      throw new InstallError(
        `finetune's native addon is built for Linux only so far (this is ${process.platform})`,
        'use Linux (or WSL 2 on Windows, a Linux container on macOS)',
      );
    }
    const libtorch = findLibtorch(
      { libtorch: options.libtorch, cuda: options.cuda, cpu: options.cpu, recorded: installed?.libtorch },
      log,
      env,
    );
    log(`libtorch: ${libtorch.dir} (${describeSource(libtorch.source)})`);
    const addon = installAddon(root, libtorch, { force: options.force, log, env, installed: installed?.addon });
    const record: InstallRecord = { finetune: version, libtorch, addon, at: new Date().toISOString() };
    writeRecord(root, record);
    log(`ready: the addon at ${addon.path} links ${libtorch.dir}`);
    return record;
  } catch (error) {
    const hint =
      error instanceof InstallError
        ? error.hint
        : 'run `npx finetune setup` to try again, and report the error if it stays';
    const message = error instanceof Error ? error.message : String(error);
    writeRecord(root, { finetune: version, error: message, hint, at: new Date().toISOString() });
    throw error;
  }
}

/** The error the first use of the library shows when the addon is not there, saying exactly what to run. */
export function addonMissingMessage(addonPath: string, root = packageRoot()): string {
  if (isRepositoryCheckout(root)) {
    return `finetune: native addon not built (${addonPath} is missing); run \`npm run setup\` in ${root}`;
  }
  const record = readInstallRecord(root);
  if (record && 'error' in record) {
    return (
      `finetune: the native addon is not installed: ${record.error}. To finish the install: ${record.hint}. ` +
      '(Install in the finetune README lists the options)'
    );
  }
  return (
    `finetune: the native addon is not installed (${addonPath} is missing): the package's install step did not run ` +
    '(npm --ignore-scripts, or a package manager that blocks install scripts). Run `npx finetune setup` in your ' +
    'project to find or install libtorch and build the addon'
  );
}

/** The error when the addon is there but does not load (e.g. its libtorch folder was deleted since). */
export function addonLoadFailedMessage(addonPath: string, cause: Error, root = packageRoot()): string {
  const record = readInstallRecord(root);
  const libtorch = record && 'libtorch' in record ? ` against libtorch at ${record.libtorch.dir}` : '';
  const fix = isRepositoryCheckout(root) ? '`npm run setup`' : '`npx finetune setup`';
  return (
    `finetune: the native addon ${addonPath}, built${libtorch}, does not load: ${cause.message.split('\n')[0]}. ` +
    `Run ${fix} to find libtorch again and rebuild it`
  );
}
