/**
 * Writes docs/cli-reference.md from the commands' flag tables (cli-reference.ts); run from the
 * repository root after changing a flag or a command's help: `node build/ts/tools/gen-cli-docs.js`.
 */
import { writeFileSync } from 'node:fs';

import { CLI_REFERENCE_PATH, cliReference } from './cli-reference.js';

writeFileSync(CLI_REFERENCE_PATH, cliReference());
console.log(`wrote ${CLI_REFERENCE_PATH}`);
