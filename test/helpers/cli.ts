/**
 * What the command-line tests share: the repository's files they use (the built CLI, SST-2, the shipped
 * tokenizer), running the CLI (or a script) as a child process the way a user does, and a tiny BERT model
 * folder as a user has one. Imports nothing of finetune's, so a test of the CLI alone loads no libtorch.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from build/ts/test/helpers). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The built command line, `finetune`. */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
/** SST-2's first 200 training rows and its dev set (label, sentence). */
export const SST2_TRAIN = join(ROOT, 'data', 'sst2', 'train-200.tsv');
export const SST2_DEV = join(ROOT, 'data', 'sst2', 'dev.tsv');
/** bert-base-uncased's tokenizer files, the one finetune ships. */
export const BERT_TOKENIZER_DIR = join(ROOT, 'data', 'bert-base-uncased');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt'];

export interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  /** The working folder (default: the repository root). */
  cwd?: string;
  /** Added to the environment, after OMP_NUM_THREADS=1 (one libtorch thread, so a busy machine slows it little). */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the child is killed (default 120 s). */
  timeout?: number;
  /** What the child reads on stdin (default: nothing). */
  input?: string;
}

/** `node <args>` as a child process, waited for. */
export function runNode(args: string[], options: ChildOptions = {}): ChildRun {
  const run = spawnSync(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', ...options.env },
    timeout: options.timeout ?? 120_000,
    input: options.input,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `finetune <args>` as a child process (the built dist/cli/main.js), waited for. */
export function runCli(args: string[], options: ChildOptions = {}): ChildRun {
  return runNode([CLI, ...args], options);
}

/** config.json of the tiny BERT the CLI tests train from random weights: hidden 32, 2 layers. */
export const CLI_TINY_BERT = {
  model_type: 'bert',
  architectures: ['BertForSequenceClassification'],
  vocab_size: 30522,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
  max_position_embeddings: 64,
};

/**
 * A model folder as a user has one: config.json (CLI_TINY_BERT with `config`'s keys over it; random init)
 * and the shipped tokenizer's files, which --tokenizer defaults to. Returns `dir`.
 */
export function writeTinyBertModelFolder(dir: string, config: Record<string, unknown> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...CLI_TINY_BERT, ...config }));
  for (const name of TOKENIZER_FILES) copyFileSync(join(BERT_TOKENIZER_DIR, name), join(dir, name));
  return dir;
}

/** A JSON file the CLI wrote, parsed. */
export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}
