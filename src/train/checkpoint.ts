/**
 * Trainer checkpoints: `<outputDir>/checkpoint-<step>/` folders, written atomically and read back
 * for resuming and for loading the best model.
 *
 * Atomicity: a checkpoint is written into `<outputDir>/.tmp-checkpoint-<step>-<pid>/` (every file
 * written to a temporary name, fsynced and renamed, as the io layer does), the folder is fsynced,
 * then renamed to `checkpoint-<step>` and the output folder fsynced. A process killed at any point
 * leaves the earlier checkpoints as they were and at most a `.tmp-…` folder, which resuming never
 * picks (only `checkpoint-<N>` folders holding a trainer_state.json count) and the next train()
 * removes.
 *
 * Layout (see docs/training.md, "Checkpoints and resuming"):
 *   model.safetensors + config.json          the full model (savePretrained), or
 *   adapter_model.safetensors + adapter_config.json   a PeftModel's adapter (PEFT's files), plus
 *   non_adapter_state.safetensors            (PEFT only, when there is any) trainable parameters outside the
 *                                            adapter and persistent buffers (BatchNorm statistics)
 *   optimizer.safetensors                    optimizer state tensors, `state.<param index>.<name>` (step, exp_avg, …)
 *   optimizer.json                           {optimizer, param_groups} in PyTorch's state-dict layout
 *   scheduler.json                           {type, name, state}
 *   rng_state.safetensors                    cpu_rng_state (torch CPU generator; + cuda_rng_state on a GPU) + data_loader.{epoch,position,seed,batches_per_epoch} (+ world_size under DDP)
 *   multi_task.json                          (multi-task training) {tasks, kind, state}: the MultiTaskLoss's stateDict()
 *   trainer_state.json                       Hugging Face's TrainerState fields
 *   training_args.json                       the TrainingArguments, HF's snake_case names
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { dispose, getRngState, setRngState, tensor, type Device, type Tensor } from '../tensor/index.js';
import type { Module, StateDict } from '../nn/index.js';
import { isPretrainedModel } from '../models/pretrained-model.js';
import { PeftModel } from '../peft/index.js';
import {
  LRScheduler,
  ReduceLROnPlateau,
  type MultiTaskLoss,
  type MultiTaskLossStateDict,
  type Optimizer,
  type OptimizerStateDict,
} from '../optim/index.js';
import {
  loadSafetensors,
  loadShardedSafetensors,
  saveSafetensors,
  savePretrained,
  SAFETENSORS_INDEX_NAME,
} from '../io/index.js';
import { writeFileAtomic } from '../io/files.js';

export const CHECKPOINT_PREFIX = 'checkpoint';
export const TRAINER_STATE_NAME = 'trainer_state.json';
export const TRAINING_ARGS_NAME = 'training_args.json';
export const OPTIMIZER_WEIGHTS_NAME = 'optimizer.safetensors';
export const OPTIMIZER_NAME = 'optimizer.json';
export const SCHEDULER_NAME = 'scheduler.json';
export const RNG_STATE_NAME = 'rng_state.safetensors';
export const MODEL_WEIGHTS_NAME = 'model.safetensors';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const NON_ADAPTER_STATE_NAME = 'non_adapter_state.safetensors';
export const MULTI_TASK_STATE_NAME = 'multi_task.json';

/** Any of the schedulers the Trainer steps. */
export type SchedulerLike = LRScheduler | ReduceLROnPlateau;

/** Where the data loader stood when the checkpoint was written. */
export interface LoaderPosition {
  epoch: number;
  /** Batches of `epoch` consumed. */
  position: number;
  seed: number;
  batchesPerEpoch: number;
  /** Processes that trained (absent: 1); `position` counts each rank's batches. */
  worldSize?: number;
}

export interface CheckpointInfo {
  path: string;
  step: number;
}

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

/** The complete checkpoints in `outputDir` (folders `checkpoint-<N>` with a trainer_state.json), oldest step first. */
export function listCheckpoints(outputDir: string): CheckpointInfo[] {
  if (!existsSync(outputDir)) return [];
  const out: CheckpointInfo[] = [];
  for (const name of readdirSync(outputDir)) {
    const match = CHECKPOINT_RE.exec(name);
    if (!match) continue;
    const path = join(outputDir, name);
    try {
      if (!statSync(path).isDirectory() || !existsSync(join(path, TRAINER_STATE_NAME))) continue;
    } catch {
      continue;
    }
    out.push({ path, step: Number(match[1]) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint in `outputDir`, or null (HF's get_last_checkpoint). */
export function latestCheckpoint(outputDir: string): string | null {
  const all = listCheckpoints(outputDir);
  return all.length ? all[all.length - 1].path : null;
}

/** Removes the temporary folders of checkpoints whose writing was interrupted. */
export async function removeStaleTemporaries(outputDir: string): Promise<void> {
  if (!existsSync(outputDir)) return;
  for (const name of readdirSync(outputDir)) {
    if (/^\.(tmp|trash)-checkpoint-\d+-\d+$/.test(name))
      await rm(join(outputDir, name), { recursive: true, force: true });
  }
}

/** fsync a folder, so that the renames inside it reach the disk. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on folders; the renames are still atomic.
  } finally {
    await handle.close();
  }
}

/**
 * Writes `<outputDir>/<name>` atomically: `write` fills a temporary folder beside it, which is
 * synced and renamed into place. An existing folder of that name is replaced.
 */
export async function writeFolderAtomically(
  outputDir: string,
  name: string,
  write: (dir: string) => Promise<void>,
): Promise<string> {
  await mkdir(outputDir, { recursive: true });
  const final = join(outputDir, name);
  const temporary = join(outputDir, `.tmp-${name}-${process.pid}`);
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary);
  try {
    await write(temporary);
    await syncDirectory(temporary);
    // lstat: a symlink planted at `final` (even a dangling one) is moved aside and removed like a folder, never followed.
    if (
      await lstat(final).then(
        () => true,
        () => false,
      )
    ) {
      const trash = join(outputDir, `.trash-${name}-${process.pid}`);
      await rm(trash, { recursive: true, force: true });
      await rename(final, trash);
      await rename(temporary, final);
      await rm(trash, { recursive: true, force: true });
    } else {
      await rename(temporary, final);
    }
    await syncDirectory(outputDir);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  return final;
}

/** A test hook (FINETUNE_TEST_PAUSE_IN_SAVE=<step>): announce on stdout and wait forever, halfway through writing that checkpoint (on a launcher's first attempt). */
export async function testPauseInSave(step: number, dir: string): Promise<void> {
  const at = process.env.FINETUNE_TEST_PAUSE_IN_SAVE;
  // A launcher's restarted group (TORCHELASTIC_RESTART_COUNT > 0) runs through: tests kill the first attempt here.
  if (at === undefined || Number(at) !== step || Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0') > 0) return;
  process.stdout.write(`FINETUNE_TEST_PAUSED_IN_SAVE ${step} ${dir}\n`);
  await new Promise((resolvePause) => setTimeout(resolvePause, 2 ** 31 - 1));
}

/** Writes `text` to `path` atomically (temporary file, fsync, rename). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text);
}

export async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

// ---- model weights -------------------------------------------------------------------------------

/** Whether savePretrained can write the model (a registered architecture with a config). */
function savesPretrained(model: Module): boolean {
  return isPretrainedModel(model);
}

/** The model's state dict with tied tensors once (the first key), as savePretrained stores it. */
function untiedState(model: Module): StateDict {
  const state: StateDict = new Map();
  const seen = new Set<Tensor>();
  for (const [key, t] of model.stateDict()) {
    if (seen.has(t)) continue;
    seen.add(t);
    state.set(key, t);
  }
  return state;
}

/** A PeftModel's state that its adapter files leave out but training changes: trainable parameters and persistent buffers outside the adapter. */
function nonAdapterState(model: PeftModel): StateDict {
  const covered = new Set<Tensor>(model.adapterStateDict().values());
  const buffers = new Set<Tensor>(model.namedBuffers().map(([, b]) => b));
  const out: StateDict = new Map();
  for (const [key, t] of untiedState(model)) {
    if (covered.has(t)) continue;
    if (buffers.has(t) || t.requiresGrad) out.set(key, t);
  }
  return out;
}

/**
 * Writes the model's weights into `dir`: a PeftModel's adapter files (PEFT's save_pretrained, plus
 * non_adapter_state.safetensors when needed), a registered model's savePretrained files, or else
 * model.safetensors with the state dict.
 */
export async function saveModelWeights(model: Module, dir: string): Promise<void> {
  if (model instanceof PeftModel) {
    await model.savePretrained(dir);
    const extra = nonAdapterState(model);
    if (extra.size) await saveSafetensors(join(dir, NON_ADAPTER_STATE_NAME), extra, { format: 'pt' });
  } else if (savesPretrained(model)) {
    await savePretrained(model, dir);
  } else {
    await saveSafetensors(join(dir, MODEL_WEIGHTS_NAME), untiedState(model), { format: 'pt' });
  }
}

/** Loads weights written by saveModelWeights into the same kind of model. */
export async function loadModelWeights(model: Module, dir: string): Promise<void> {
  if (model instanceof PeftModel) {
    const path = join(dir, ADAPTER_WEIGHTS_NAME);
    if (!existsSync(path))
      throw new Error(`${dir} has no ${ADAPTER_WEIGHTS_NAME}: it was not written for a PEFT model`);
    const { tensors } = await loadSafetensors(path);
    try {
      const result = model.loadAdapterStateDict(tensors);
      if (result.missingKeys.length || result.unexpectedKeys.length) {
        throw new Error(
          `${path} does not fit the model's adapter: missing ${result.missingKeys.join(', ') || 'none'}; unexpected ${result.unexpectedKeys.join(', ') || 'none'}`,
        );
      }
    } finally {
      dispose(tensors);
    }
    const extraPath = join(dir, NON_ADAPTER_STATE_NAME);
    const expected = nonAdapterState(model);
    if (existsSync(extraPath)) {
      const extra = (await loadSafetensors(extraPath)).tensors;
      try {
        loadInto(model, expected, extra, extraPath);
      } finally {
        dispose(extra);
      }
    }
    return;
  }
  let tensors: Map<string, Tensor>;
  if (existsSync(join(dir, MODEL_WEIGHTS_NAME)))
    tensors = (await loadSafetensors(join(dir, MODEL_WEIGHTS_NAME))).tensors;
  else if (existsSync(join(dir, SAFETENSORS_INDEX_NAME))) tensors = (await loadShardedSafetensors(dir)).tensors;
  else
    throw new Error(
      `${dir} has no ${MODEL_WEIGHTS_NAME}${model instanceof PeftModel ? '' : ' (was it written for a PEFT model? then wrap the model the same way)'}`,
    );
  try {
    loadInto(model, untiedState(model), tensors, join(dir, MODEL_WEIGHTS_NAME));
  } finally {
    dispose(tensors);
  }
}

/** Copies `tensors` into the model's `expected` entries; every key must match, shapes too. */
function loadInto(model: Module, expected: StateDict, tensors: Map<string, Tensor>, file: string): void {
  const missing = [...expected.keys()].filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
  if (missing.length || unexpected.length) {
    throw new Error(
      `${file} does not fit ${model.constructor.name}: missing ${missing.join(', ') || 'none'}; unexpected ${unexpected.join(', ') || 'none'}`,
    );
  }
  const state = new Map<string, Tensor>();
  for (const key of expected.keys()) state.set(key, tensors.get(key)!);
  // Keys are the model's own; loadStateDict checks shapes and copies (non-strict: tied duplicates are left out).
  model.loadStateDict(state, { strict: false });
}

// ---- optimizer and scheduler ---------------------------------------------------------------------

export async function saveOptimizer(optimizer: Optimizer, dir: string): Promise<void> {
  const sd = optimizer.stateDict();
  const tensors = new Map<string, Tensor>();
  const numbers: Record<string, Record<string, number>> = {};
  try {
    for (const [index, entry] of Object.entries(sd.state)) {
      for (const [name, value] of Object.entries(entry)) {
        if (typeof value === 'number') (numbers[index] ??= {})[name] = value;
        else tensors.set(`state.${index}.${name}`, value);
      }
    }
    await saveSafetensors(join(dir, OPTIMIZER_WEIGHTS_NAME), tensors, { format: 'pt' });
    const json = {
      optimizer: optimizer.constructor.name,
      param_groups: sd.param_groups,
      ...(Object.keys(numbers).length ? { numeric_state: numbers } : {}),
    };
    await writeTextAtomic(join(dir, OPTIMIZER_NAME), JSON.stringify(json, null, 2) + '\n');
  } finally {
    dispose([...tensors.values()]);
  }
}

export async function loadOptimizer(optimizer: Optimizer, dir: string): Promise<void> {
  const json = await readJson(join(dir, OPTIMIZER_NAME));
  const where = join(dir, OPTIMIZER_NAME);
  if (json.optimizer !== optimizer.constructor.name) {
    throw new Error(
      `${where} holds the state of ${String(json.optimizer)}, but the Trainer's optimizer is ${optimizer.constructor.name} (optim must match the run being resumed)`,
    );
  }
  const groups = json.param_groups as OptimizerStateDict['param_groups'];
  if (!Array.isArray(groups)) throw new Error(`${where}: param_groups must be an array`);
  if (groups.length !== optimizer.paramGroups.length) {
    throw new Error(
      `${where} has ${groups.length} parameter group(s), the optimizer ${optimizer.paramGroups.length}: the model, strategy or lr settings differ from the run being resumed`,
    );
  }
  groups.forEach((saved, i) => {
    const own = optimizer.paramGroups[i];
    const names = saved.param_names as string[] | undefined;
    if (
      saved.params.length !== own.params.length ||
      (names && own.paramNames && names.join('\n') !== own.paramNames.join('\n'))
    ) {
      throw new Error(
        `${where}: parameter group ${i}${own.name ? ` (${own.name})` : ''} holds other parameters than the optimizer's (${saved.params.length} saved, ${own.params.length} now): the model or strategy differs from the run being resumed`,
      );
    }
  });
  const { tensors } = await loadSafetensors(join(dir, OPTIMIZER_WEIGHTS_NAME));
  try {
    const state: OptimizerStateDict['state'] = {};
    for (const [key, t] of tensors) {
      const match = /^state\.(\d+)\.(.+)$/.exec(key);
      if (!match) throw new Error(`${join(dir, OPTIMIZER_WEIGHTS_NAME)}: unexpected tensor '${key}'`);
      (state[Number(match[1])] ??= {})[match[2]] = t;
    }
    const numeric = (json.numeric_state ?? {}) as Record<string, Record<string, number>>;
    for (const [index, entry] of Object.entries(numeric)) Object.assign((state[Number(index)] ??= {}), entry);
    optimizer.loadStateDict({ state, param_groups: groups });
  } finally {
    dispose(tensors);
  }
}

export async function saveScheduler(scheduler: SchedulerLike, name: string, dir: string): Promise<void> {
  const json = { type: scheduler.constructor.name, name, state: scheduler.stateDict() };
  await writeTextAtomic(join(dir, SCHEDULER_NAME), JSON.stringify(json, null, 2) + '\n');
}

export async function loadScheduler(scheduler: SchedulerLike, dir: string): Promise<void> {
  const where = join(dir, SCHEDULER_NAME);
  const json = await readJson(where);
  if (json.type !== scheduler.constructor.name) {
    throw new Error(
      `${where} holds a ${String(json.type)} state, but the scheduler is a ${scheduler.constructor.name} (lrSchedulerType must match the run being resumed)`,
    );
  }
  (scheduler as { loadStateDict(state: unknown): void }).loadStateDict(json.state);
}

// ---- multi-task loss ------------------------------------------------------------------------------

/** Writes the MultiTaskLoss's state (its learnable weights and the history DWA / GradNorm keep) as multi_task.json. */
export async function saveMultiTaskState(loss: MultiTaskLoss, dir: string): Promise<void> {
  const state = loss.stateDict();
  const json = { tasks: state.tasks, kind: state.kind, state };
  await writeTextAtomic(join(dir, MULTI_TASK_STATE_NAME), JSON.stringify(json, null, 2) + '\n');
}

/** Restores multi_task.json into the MultiTaskLoss (same tasks and strategy kind). */
export async function loadMultiTaskState(loss: MultiTaskLoss, dir: string): Promise<void> {
  const where = join(dir, MULTI_TASK_STATE_NAME);
  if (!existsSync(where))
    throw new Error(
      `resumeFromCheckpoint: ${dir} has no ${MULTI_TASK_STATE_NAME}: it was not written by a multi-task run`,
    );
  const json = await readJson(where);
  try {
    loss.loadStateDict(json.state as MultiTaskLossStateDict);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message} (the multi-task loss must match the run being resumed)`, {
      cause: error,
    });
  }
}

// ---- RNG and data position ----------------------------------------------------------------------

/**
 * Writes the CPU generator's state, the training device's when it is a GPU (`cuda_rng_state`, as
 * transformers' rng_state.pth has `cuda`), and where the data loader stands.
 */
export async function saveRngState(dir: string, loader: LoaderPosition, device: Device = 'cpu'): Promise<void> {
  const tensors = new Map<string, Tensor>([
    ['cpu_rng_state', getRngState()],
    ...(device.startsWith('cuda') ? [['cuda_rng_state', getRngState(device)] as [string, Tensor]] : []),
    ['data_loader.epoch', tensor(loader.epoch, { dtype: 'int64' })],
    ['data_loader.position', tensor(loader.position, { dtype: 'int64' })],
    ['data_loader.seed', tensor(loader.seed, { dtype: 'int64' })],
    ['data_loader.batches_per_epoch', tensor(loader.batchesPerEpoch, { dtype: 'int64' })],
  ]);
  // Written only by a data-parallel run, so that a single process's checkpoint stays as it was.
  if ((loader.worldSize ?? 1) > 1) tensors.set('data_loader.world_size', tensor(loader.worldSize!, { dtype: 'int64' }));
  try {
    await saveSafetensors(join(dir, RNG_STATE_NAME), tensors, { format: 'pt' });
  } finally {
    dispose([...tensors.values()]);
  }
}

/**
 * Restores the CPU generator, and the GPU's when the checkpoint has one and training is on a GPU (a
 * checkpoint from another device resumes with this device's generator as it is), and returns where
 * the data loader stood.
 */
export async function loadRngState(dir: string, device: Device = 'cpu'): Promise<LoaderPosition> {
  const path = join(dir, RNG_STATE_NAME);
  const { tensors } = await loadSafetensors(path);
  try {
    const read = (key: string): number => {
      const t = tensors.get(key);
      if (!t) throw new Error(`${path} has no '${key}'`);
      return Number(t.item());
    };
    const rng = tensors.get('cpu_rng_state');
    if (!rng) throw new Error(`${path} has no 'cpu_rng_state'`);
    setRngState(rng);
    const gpuRng = tensors.get('cuda_rng_state');
    if (gpuRng && device.startsWith('cuda')) setRngState(gpuRng, device);
    return {
      epoch: read('data_loader.epoch'),
      position: read('data_loader.position'),
      seed: read('data_loader.seed'),
      batchesPerEpoch: read('data_loader.batches_per_epoch'),
      worldSize: tensors.has('data_loader.world_size') ? read('data_loader.world_size') : 1,
    };
  } finally {
    dispose(tensors);
  }
}

// ---- rotation ------------------------------------------------------------------------------------

/**
 * Deletes the oldest checkpoints beyond `limit`, never the best one (HF's _rotate_checkpoints: with
 * limit 1 and a best checkpoint that is not the newest, both are kept).
 */
export async function rotateCheckpoints(
  outputDir: string,
  limit: number | null,
  best: string | null,
): Promise<string[]> {
  if (limit === null || limit <= 0) return [];
  const all = listCheckpoints(outputDir).map((c) => c.path);
  const bestPath = best ? resolve(best) : null;
  const keep = new Set<string>();
  const isBest = (p: string) => bestPath !== null && resolve(p) === bestPath;
  const hasBest = all.some(isBest);
  let budget = hasBest ? Math.max(limit - 1, 1) : limit;
  if (hasBest) keep.add(all.find(isBest)!);
  for (let i = all.length - 1; i >= 0 && budget > 0; i--) {
    if (isBest(all[i])) continue;
    keep.add(all[i]);
    budget--;
  }
  const removed: string[] = [];
  for (const path of all) {
    if (keep.has(path)) continue;
    await removeCheckpointFolder(path);
    removed.push(path);
  }
  return removed;
}

/**
 * Deletes a checkpoint folder without ever leaving a half-deleted `checkpoint-<N>`: it is renamed
 * to `.trash-checkpoint-<N>-<pid>` first, which removeStaleTemporaries clears if the process is
 * killed before it is gone.
 */
export async function removeCheckpointFolder(path: string): Promise<void> {
  const trash = join(dirname(path), `.trash-${basename(path)}-${process.pid}`);
  await rm(trash, { recursive: true, force: true });
  await rename(path, trash);
  await rm(trash, { recursive: true, force: true });
}

/** The files a checkpoint must hold to resume from; throws listing the missing ones. */
export function checkCheckpointFiles(dir: string, peft: boolean, withOptimizer: boolean): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`resumeFromCheckpoint: ${dir} is not a folder`);
  const needed = [TRAINER_STATE_NAME, RNG_STATE_NAME, SCHEDULER_NAME];
  if (withOptimizer) needed.push(OPTIMIZER_NAME, OPTIMIZER_WEIGHTS_NAME);
  needed.push(
    peft
      ? ADAPTER_WEIGHTS_NAME
      : existsSync(join(dir, SAFETENSORS_INDEX_NAME))
        ? SAFETENSORS_INDEX_NAME
        : MODEL_WEIGHTS_NAME,
  );
  const missing = needed.filter((name) => !existsSync(join(dir, name)));
  if (missing.length)
    throw new Error(`resumeFromCheckpoint: ${dir} is not a complete checkpoint (missing ${missing.join(', ')})`);
}
