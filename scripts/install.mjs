// npm's install step for finetune (package.json "install"). In a clone of the repository before its first build
// there is no dist/ yet: `npm run setup` builds everything there, so this step only says so.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/install/install-script.js', import.meta.url);
if (existsSync(entry)) await import(entry.href);
else console.error('[finetune] dist/ is not built (a clone of the repository): run `npm run setup`');
