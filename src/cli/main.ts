#!/usr/bin/env node
/**
 * The `finetune` command line. `main(argv)` runs one command in-process, for scripts that register a
 * fine-tuning method first (docs/adding-a-method.md); run as a program, this file runs process.argv's.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { version } from '../install/package.js';

/**
 * Runs the command `argv` names (without 'finetune': ['train', '--model', …]); resolves to its exit code.
 * `--version` and `setup` run without loading the library: they work before the native addon is installed.
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    console.log(version);
    return 0;
  }
  if (command === 'setup') return (await import('./setup.js')).runSetup(rest);
  if (command === 'launch') return (await import('./launch.js')).runLaunch(rest); // its workers load libtorch, not it
  const { findCommand, overview } = await import('./commands.js');
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(overview());
      return 0;
    default: {
      const found = findCommand(command);
      if (found) return found.run(rest);
      console.error(`finetune: unknown command '${command}'\n\n${overview()}`);
      return 2;
    }
  }
}

/** Whether this file is the program node runs (`finetune …`, `node dist/cli/main.js …`), not a module a script imported. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  const self = fileURLToPath(import.meta.url);
  // node resolves `node dist/cli/main` to main.js, and the npm bin is a link to it.
  return [script, `${script}.js`].some((path) => {
    try {
      return realpathSync(path) === self;
    } catch {
      return false;
    }
  });
}

if (isProgram()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`finetune: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
