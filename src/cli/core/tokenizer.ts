/** The tokenizer of a text model: --tokenizer, the model folder's, the Hub repo's, or the shipped BERT one; copied beside the trained model. */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { copyFileAtomicSync } from '../../io/files.js';
import { packageRoot } from '../../install/package.js';
import { resolveModelFile } from '../../hub/index.js';
import { Tokenizer } from '../../data/index.js';
import { UsageError } from './flags.js';
import { fromHub } from './model-source.js';
import { HUB_ID, isLocalPath, requireModelPath } from './paths.js';
import { isDir } from './paths.js';

// ---- tokenizers ----------------------------------------------------------------------------------

export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'chat_template.jinja',
];

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** Where it came from (a path or Hub id). */
  source: string;
  /** Why this one, when it was not asked for. */
  note?: string;
  /** The folder with its files (to copy into the output). */
  dir: string | null;
}

/** The shipped BERT tokenizer (bert-base-uncased's uncased WordPiece). */
export function defaultBertTokenizerDir(): string {
  return join(packageRoot(), 'data', 'bert-base-uncased');
}

/** A path relative to the working folder when it is inside it, else as it is. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** --tokenizer, else the model folder's tokenizer.json, else the Hub repo's, else data/bert-base-uncased for BERT. */
export async function loadTokenizer(
  flag: string | undefined,
  candidates: readonly (string | undefined)[],
  modelType: string,
  hubId?: string,
): Promise<LoadedTokenizer> {
  if (flag !== undefined) {
    if (isLocalPath(flag)) {
      const path = requireModelPath(flag, 'tokenizer');
      const file = isDir(path) ? join(path, 'tokenizer.json') : path;
      if (!existsSync(file)) throw new UsageError(`--tokenizer ${flag}: no tokenizer.json there`);
      return { tokenizer: Tokenizer.fromFile(file), source: file, dir: dirname(file) };
    }
    if (HUB_ID.test(flag)) {
      const file = await fromHub(flag, 'tokenizer.json', 'tokenizer');
      return { tokenizer: await Tokenizer.fromPretrained(flag), source: flag, dir: dirname(file) };
    }
    throw new UsageError(`--tokenizer ${flag} does not exist`);
  }
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'tokenizer.json')))
      return { tokenizer: Tokenizer.fromFile(join(dir, 'tokenizer.json')), source: join(dir, 'tokenizer.json'), dir };
  }
  if (hubId) {
    const file = await resolveModelFile(hubId, 'tokenizer.json', { optional: true });
    if (file) return { tokenizer: await Tokenizer.fromPretrained(hubId), source: hubId, dir: dirname(file) };
  }
  if (modelType === 'bert') {
    const dir = defaultBertTokenizerDir();
    return {
      tokenizer: Tokenizer.fromFile(join(dir, 'tokenizer.json')),
      source: displayPath(join(dir, 'tokenizer.json')),
      note: "BERT's uncased WordPiece; --tokenizer to change",
      dir,
    };
  }
  throw new UsageError(`no tokenizer: the model has no tokenizer.json; give --tokenizer <dir|tokenizer.json>`);
}

/** Copies the tokenizer's files (those present) into `outputDir`. */
export function copyTokenizerFiles(dir: string | null, outputDir: string): string[] {
  if (!dir) return [];
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const from = join(dir, name);
    const to = join(outputDir, name);
    if (existsSync(from) && resolve(from) !== resolve(to)) {
      copyFileAtomicSync(from, to);
      copied.push(name);
    } else if (existsSync(from)) copied.push(name);
  }
  return copied;
}
