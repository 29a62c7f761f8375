#!/usr/bin/env node
/** The `finetune` command line. */
import { findCommand, overview } from './commands.js';
import { version } from '../index.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case '--version':
    case '-v':
      console.log(version);
      return 0;
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`finetune: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
