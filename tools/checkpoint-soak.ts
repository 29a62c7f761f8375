/**
 * The SIGKILL-during-checkpoint soak (issue 14): a tiny BERT trains with a checkpoint at every
 * step (three kept, so rotation runs too) and a final save of model.safetensors, in a child
 * process that is SIGKILLed at seeded random moments and resumed (resumeFromCheckpoint: true)
 * until it finishes. After every kill each checkpoint-N left must load (every safetensors file
 * read in full, every JSON file parsed, global_step = N) and the newest must be no older than
 * before; after the run no `.tmp-` / `.trash-` file or folder may be left, and the final weights
 * must equal an uninterrupted run's byte for byte. When the run finishes before `kills` kills, a
 * new run starts in a fresh folder.
 *
 *   node build/ts/tools/checkpoint-soak.js [--kills 200] [--seed 1] [--steps 60] [--max-delay-ms 800]
 *
 * test/soak.test.ts runs it with 20 kills.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { data, dispose, loadSafetensorsSync, train } from 'finetune';

import { slice, sst2, tinyBert } from '../test/helpers/trainer-setup.js';

/** The repository root (this file runs from build/ts/tools). */
const SELF = fileURLToPath(import.meta.url);
const READY_MARK = 'SOAK_READY';
const TRAINING_MARK = 'SOAK_TRAINING';
const FINISHED_MARK = 'SOAK_FINISHED';
const FINAL_WEIGHTS = 'model.safetensors';
const KEPT_CHECKPOINTS = 3;

export interface SoakOptions {
  /** SIGKILLs to deliver in all (default 20). */
  kills?: number;
  /** Seeds the kill moments (default 1). */
  seed?: number;
  /** Optimizer steps of each run (default 60). */
  steps?: number;
  /** A kill comes at a uniform random moment this long after the child starts training (default 800 ms). */
  maxDelayMs?: number;
  /** Called with a line of progress. */
  log?: (line: string) => void;
}

export interface SoakReport {
  kills: number;
  /** Kills that left a checkpoint being written (a `.tmp-checkpoint-…` folder). */
  killsDuringCheckpointWrite: number;
  /** Kills that left a temporary file of the final save (`model.safetensors.tmp-…`). */
  killsDuringFinalSave: number;
  /** Runs (fresh folders) brought to their end through kills and resumes. */
  runs: number;
  /** Checkpoint folders checked after kills (a folder counted once per kill it survived). */
  checkpointsChecked: number;
  /** Runs whose final weights equal the uninterrupted run's byte for byte (all of them, or the soak throws). */
  identicalFinalWeights: number;
  seconds: number;
}

// ---- the child: one (resumed) training run -------------------------------------------------------

/** Loaded (libtorch, the addon), says so and waits for its folder and step count on stdin: a child starts while the one before it trains. */
async function standbyChild(): Promise<void> {
  process.stdout.write(`${READY_MARK}\n`);
  let input = '';
  for await (const chunk of process.stdin) {
    input += String(chunk);
    const end = input.indexOf('\n');
    if (end < 0) continue;
    const [outputDir, steps] = JSON.parse(input.slice(0, end)) as [string, number];
    await trainChild(outputDir, steps);
    return;
  }
}

async function trainChild(outputDir: string, steps: number): Promise<void> {
  const dataset = await sst2(12);
  const model = tinyBert(5, { hiddenSize: 4, numHiddenLayers: 1, intermediateSize: 8, maxPositionEmbeddings: 16 });
  const trainer = new train.Trainer({
    model,
    args: new train.TrainingArguments({
      outputDir,
      maxSteps: steps,
      perDeviceTrainBatchSize: 4,
      learningRate: 1e-2,
      saveSteps: 1,
      saveTotalLimit: KEPT_CHECKPOINTS,
      loggingSteps: 1,
      seed: 3,
      threads: 1,
      strategy: { kind: 'full' },
      resumeFromCheckpoint: train.latestCheckpoint(outputDir) ? true : null,
    }),
    trainDataset: slice(dataset, 0, 24),
    callbacks: [{ onTrainBegin: () => void process.stdout.write(`${TRAINING_MARK}\n`) }],
    log: null,
  });
  await trainer.train();
  await train.saveModelWeights(trainer.model, outputDir);
  process.stdout.write(`${FINISHED_MARK}\n`);
}

// ---- the parent: kills, checks, resumes ----------------------------------------------------------

/** A child process loading in the background, to be given a run (start) or dropped (stop). */
interface Standby {
  /** Trains in `outputDir`; with `killAfterMs`, SIGKILLs the child that long after it starts training. Resolves whether it was killed. */
  start(outputDir: string, steps: number, killAfterMs: number | null): Promise<{ killed: boolean }>;
  stop(): void;
}

function standby(): Standby {
  const child = spawn(process.execPath, [SELF, 'standby'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  let stdout = '';
  let stderr = '';
  let onStdout = (): void => undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onStdout();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.on('exit', (code, signal) => resolveExit({ code, signal })),
  );
  return {
    async start(outputDir, steps, killAfterMs) {
      let timer: NodeJS.Timeout | undefined;
      onStdout = () => {
        if (killAfterMs !== null && timer === undefined && stdout.includes(TRAINING_MARK))
          timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      };
      child.stdin.end(`${JSON.stringify([outputDir, steps])}\n`);
      const { code, signal } = await exited;
      clearTimeout(timer);
      if (signal === 'SIGKILL') return { killed: true };
      if (code === 0 && stdout.includes(FINISHED_MARK)) return { killed: false };
      throw new Error(`the training child failed (exit ${code ?? signal}) in ${outputDir}:\n${stderr || stdout}`);
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/** Runs one child after another, each loading while the one before it trains. */
function childPool(): { run: Standby['start']; close(): void } {
  let next = standby();
  return {
    run(outputDir, steps, killAfterMs) {
      const current = next;
      next = standby();
      return current.start(outputDir, steps, killAfterMs);
    },
    close() {
      next.stop();
    },
  };
}

const TEMPORARY = /\.tmp-|^\.trash-/;

/** Every `checkpoint-N` in `outputDir` loads in full; returns their steps, oldest first. */
function checkCheckpoints(outputDir: string): number[] {
  const steps: number[] = [];
  for (const name of readdirSync(outputDir)) {
    const match = /^checkpoint-(\d+)$/.exec(name);
    if (!match) continue;
    const dir = join(outputDir, name);
    const files = readdirSync(dir);
    for (const file of files) {
      const path = join(dir, file);
      if (TEMPORARY.test(file)) throw new Error(`${path}: a temporary file inside a finished checkpoint`);
      if (file.endsWith('.safetensors')) dispose(loadSafetensorsSync(path).tensors);
      else if (file.endsWith('.json')) JSON.parse(readFileSync(path, 'utf8'));
    }
    for (const required of [
      train.TRAINER_STATE_NAME,
      FINAL_WEIGHTS,
      train.OPTIMIZER_WEIGHTS_NAME,
      train.SCHEDULER_NAME,
      train.RNG_STATE_NAME,
    ]) {
      if (!files.includes(required)) throw new Error(`${dir}: no ${required} (has ${files.join(', ')})`);
    }
    const state = JSON.parse(readFileSync(join(dir, train.TRAINER_STATE_NAME), 'utf8')) as { global_step: number };
    if (state.global_step !== Number(match[1])) throw new Error(`${dir}: global_step ${state.global_step}`);
    steps.push(state.global_step);
  }
  return steps.sort((a, b) => a - b);
}

/** Paths of `.tmp-` / `.trash-` files and folders in `outputDir` and its checkpoints. */
function temporariesIn(outputDir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(outputDir, { withFileTypes: true })) {
    if (TEMPORARY.test(name.name)) found.push(name.name);
    else if (name.isDirectory())
      for (const inner of readdirSync(join(outputDir, name.name)))
        if (TEMPORARY.test(inner)) found.push(join(name.name, inner));
  }
  return found;
}

export async function checkpointSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const kills = options.kills ?? 20;
  const steps = options.steps ?? 60;
  const maxDelayMs = options.maxDelayMs ?? 800;
  const log = options.log ?? (() => undefined);
  const random = data.mulberry32(options.seed ?? 1); // the kill moments, the same for the same seed
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'finetune-soak-'));
  const report: SoakReport = {
    kills: 0,
    killsDuringCheckpointWrite: 0,
    killsDuringFinalSave: 0,
    runs: 0,
    checkpointsChecked: 0,
    identicalFinalWeights: 0,
    seconds: 0,
  };
  const children = childPool();
  try {
    const referenceDir = join(root, 'reference');
    await children.run(referenceDir, steps, null);
    const reference = readFileSync(join(referenceDir, FINAL_WEIGHTS));
    while (report.kills < kills) {
      const outputDir = join(root, `run-${++report.runs}`);
      let newest = 0;
      for (;;) {
        const { killed } = await children.run(
          outputDir,
          steps,
          report.kills < kills ? Math.floor(random() * maxDelayMs) : null,
        );
        const saved = checkCheckpoints(outputDir);
        report.checkpointsChecked += saved.length;
        const latest = saved.at(-1) ?? 0;
        if (latest < newest)
          throw new Error(
            `${outputDir}: the newest checkpoint went from ${newest} back to ${latest} (checkpoints: ${saved.join(', ')})`,
          );
        newest = latest;
        if (!killed) break;
        report.kills++;
        const left = temporariesIn(outputDir);
        if (left.some((name) => name.startsWith('.tmp-checkpoint-'))) report.killsDuringCheckpointWrite++;
        if (left.some((name) => name.startsWith(`${FINAL_WEIGHTS}.tmp-`))) report.killsDuringFinalSave++;
        log(
          `kill ${report.kills}: checkpoints ${saved.join(', ') || 'none'}${left.length ? `; left ${left.join(', ')}` : ''}`,
        );
      }
      const left = temporariesIn(outputDir);
      if (left.length) throw new Error(`${outputDir}: temporaries left after the run finished: ${left.join(', ')}`);
      if (!readFileSync(join(outputDir, FINAL_WEIGHTS)).equals(reference))
        throw new Error(`${outputDir}: the final weights differ from the uninterrupted run's`);
      report.identicalFinalWeights++;
      log(`run ${report.runs} finished: final weights identical to the uninterrupted run's`);
    }
  } finally {
    children.close();
    rmSync(root, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

function flag(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: '${args[at + 1]}' is not a whole number`);
  return value;
}

if (process.argv[1] === SELF) {
  const args = process.argv.slice(2);
  if (args[0] === 'standby') {
    await standbyChild();
  } else {
    const report = await checkpointSoak({
      kills: flag(args, 'kills', 200),
      seed: flag(args, 'seed', 1),
      steps: flag(args, 'steps', 60),
      maxDelayMs: flag(args, 'max-delay-ms', 800),
      log: (line) => console.log(line),
    });
    console.log(JSON.stringify(report));
  }
}
