/**
 * The package's npm install step (package.json "install", through scripts/install.mjs): sets finetune up where it
 * was installed. It never fails the user's `npm install`: when libtorch or a compiler is missing it says so and
 * records why, and the first use of the library repeats what to run (`npx finetune setup`).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

import { setup } from './setup.js';

/**
 * npm hides the output of dependencies' install steps (unless --foreground-scripts), yet a user waiting on a
 * 760 MB libtorch install should know why: the step's lines also go to the terminal, when there is one.
 */
function openTerminal(): number | undefined {
  if (process.stderr.isTTY) return undefined;
  try {
    return openSync('/dev/tty', 'w');
  } catch {
    return undefined; // no terminal (CI, a container): stderr only
  }
}

const terminal = openTerminal();
const say = (line: string) => {
  console.error(line);
  if (terminal !== undefined) writeSync(terminal, line + '\n');
};

try {
  setup({ log: (line) => say(`[finetune] ${line}`) });
} catch (error) {
  say(`[finetune] the install could not finish: ${error instanceof Error ? error.message : String(error)}`);
  if (error instanceof Error && 'hint' in error) say(`[finetune] to finish the install: ${String(error.hint)}`);
  say('[finetune] the package is installed; importing it fails with this message until then');
} finally {
  if (terminal !== undefined) closeSync(terminal);
}
