/**
 * `--require MODULE` (as node's and mocha's): modules imported before a command reads --method, so a
 * fine-tuning method that code of one's own registers (peft's registerMethod) is known to `finetune
 * train`, inspect, compare and lr-find run as programs. Each is a file path or a package name,
 * resolved from the working folder; once imported, the option holds their absolute paths, which
 * compare passes on to its child processes.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { UsageError, type FlagTable, type Options } from './flags.js';

export const REQUIRE_FLAG: FlagTable = {
  require: {
    kind: 'strings',
    arg: 'MODULE',
    group: 'Method',
    help: 'import MODULE first (repeatable; a file path or a package name, resolved from the working folder): code that registers a fine-tuning method for --method (docs/adding-a-method.md)',
  },
};

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The file a --require specifier names, from `from` (the working folder): a file there, else, for a
 * name that is not a path ('./x', '../x', '/x'), the package node's require resolution finds.
 */
export function resolveRequired(specifier: string, from: string = process.cwd()): string {
  const asPath = resolve(from, specifier);
  if (isFile(asPath)) return asPath;
  if (isAbsolute(specifier) || /^\.\.?([/\\]|$)/.test(specifier))
    throw new UsageError(`--require ${specifier}: no such file (${asPath})`);
  try {
    return createRequire(join(from, 'noop.js')).resolve(specifier);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'
        ? `--require ${specifier}: package '${specifier}' exports nothing for require's resolution; give its file's path`
        : `--require ${specifier}: no file ${asPath} and no package '${specifier}' found from ${from}`,
    );
  }
}

/**
 * Imports the modules --require names, in order, before anything reads --method; then sets the
 * option to their absolute paths (for child processes). A module that throws is a runtime error
 * naming it.
 */
export async function importRequired(options: Options): Promise<void> {
  const specifiers = options.require as string[] | undefined;
  if (!specifiers?.length) return;
  const files = specifiers.map((specifier) => resolveRequired(specifier));
  for (const file of files) {
    try {
      await import(pathToFileURL(file).href);
    } catch (error) {
      throw new Error(`--require ${file}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }
  options.require = files;
}
