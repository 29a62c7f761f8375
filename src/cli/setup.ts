/**
 * `finetune setup`: sets the installed package up again, or for another libtorch — what npm's install step does,
 * on demand. It loads nothing of the library, so it runs where the addon is not built yet.
 */
import { InstallError, isCudaVersion, TORCH_VERSION } from '../install/libtorch.js';
import { setup } from '../install/setup.js';
import { flagHelp, optBoolean, optString, parseCommandLine, UsageError, type FlagTable } from './core/flags.js';

export const SETUP_FLAGS: FlagTable = {
  libtorch: {
    kind: 'string',
    arg: 'DIR',
    help: `use this libtorch ${TORCH_VERSION} (a folder with include/ and lib/; as the LIBTORCH environment variable)`,
  },
  cuda: {
    kind: 'string',
    arg: 'VERSION',
    help: `install and use PyTorch's CUDA build of torch ${TORCH_VERSION} (e.g. 12.8 → torch==${TORCH_VERSION}+cu128) instead of the CPU one`,
  },
  cpu: {
    kind: 'boolean',
    help: `use the pinned CPU wheel (torch==${TORCH_VERSION}+cpu, the default) even where an earlier setup chose another libtorch`,
  },
  force: { kind: 'boolean', help: 'build the addon from source even when a build for this libtorch is cached' },
};

export function setupHelp(): string {
  return `Usage: finetune setup [--libtorch DIR | --cuda VERSION | --cpu] [--force]

Finds libtorch ${TORCH_VERSION} and puts the native addon in place for it, as npm's install step does: after an
install that skipped install scripts, to switch to another libtorch, or to pre-install. libtorch is, in order: --libtorch
or LIBTORCH; the one the last setup used; an importable Python torch ${TORCH_VERSION} (FINETUNE_PYTHON names the
Python, default python3); the pinned wheel in finetune's per-user cache ($XDG_CACHE_HOME/finetune, else
~/.cache/finetune), installed there with pip when missing (FINETUNE_NO_PIP=1 forbids that). The addon is copied
from the same cache when these sources were built for that libtorch before, else built with node-gyp (needs g++,
make, python3). \`finetune doctor\` shows the outcome.

${flagHelp(SETUP_FLAGS)}`;
}

export function runSetup(argv: string[]): number {
  let flags;
  try {
    const parsed = parseCommandLine(argv, SETUP_FLAGS);
    if (parsed.help) {
      console.log(setupHelp());
      return 0;
    }
    flags = parsed.flags;
    if (flags.libtorch !== undefined && flags.cuda !== undefined) {
      throw new UsageError(
        '--libtorch and --cuda exclude each other: --libtorch names a libtorch, --cuda installs one',
      );
    }
    const cuda = optString(flags, 'cuda');
    if (cuda !== undefined && !isCudaVersion(cuda)) {
      throw new UsageError(`--cuda ${cuda}: expected a CUDA version such as 12.8`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`finetune setup: ${error.message}\n(finetune setup --help lists the flags)`);
    return 2;
  }
  try {
    setup({
      libtorch: optString(flags, 'libtorch'),
      cuda: optString(flags, 'cuda'),
      force: optBoolean(flags, 'force'),
    });
    return 0;
  } catch (error) {
    if (!(error instanceof InstallError)) throw error;
    console.error(`finetune setup: ${error.message}\nTo fix: ${error.hint}`);
    return 1;
  }
}
