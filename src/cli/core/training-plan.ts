/** TrainingArguments from the training commands' flags, with the CLI's defaults (evaluation when there is evaluation data, logging fit to short runs). */
import { resolveDevice, TrainingArguments } from '../../train/index.js';
import {
  flagNamesInMessage,
  trainingArgumentsFrom,
  optString as str,
  UsageError,
  type FlagTable,
  type Options,
} from './flags.js';
import { requirePath } from './paths.js';
import { TRAIN_FLAGS } from './run-flags.js';

/** --discriminative-lr: 'slice', a factor (2.6) or lo:1e-6. */
function discriminativeLrOption(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  if (value === 'slice') return 'slice';
  const lo = /^lo[:=](.+)$/.exec(value);
  if (lo) {
    const n = Number(lo[1]);
    if (!(n > 0)) throw new UsageError(`--discriminative-lr lo:LR needs a positive lr, got '${lo[1]}'`);
    return { lo: n };
  }
  const factor = Number(value);
  if (!(factor > 0))
    throw new UsageError(`--discriminative-lr must be 'slice', a factor such as 2.6, or lo:1e-6; got '${value}'`);
  return { factor };
}

/** Optimizer steps a run will take (as the Trainer counts them). */
function estimateSteps(trainLength: number, args: Record<string, unknown>): number {
  const batch = (args.perDeviceTrainBatchSize as number | undefined) ?? 8;
  const ga = (args.gradientAccumulationSteps as number | undefined) ?? 1;
  const batches = args.dataloaderDropLast ? Math.floor(trainLength / batch) : Math.ceil(trainLength / batch);
  const perEpoch = Math.max(1, Math.ceil(batches / ga));
  const maxSteps = args.maxSteps as number | undefined;
  return maxSteps !== undefined && maxSteps > 0
    ? maxSteps
    : Math.ceil(((args.numTrainEpochs as number | undefined) ?? 3) * perEpoch);
}

/** TrainingArguments from the options, with the CLI's defaults (evaluation per epoch when there is evaluation data, logging fit to short runs). */
export function buildTrainingArguments(
  options: Options,
  data: { trainLength: number; hasEval: boolean },
  table: FlagTable = TRAIN_FLAGS,
): TrainingArguments {
  const args = trainingArgumentsFrom(options, table);
  // --learning-rate auto is resolved by train() once the model is built (autoLearningRate).
  if (args.learningRate === 'auto') delete args.learningRate;
  const dlr = discriminativeLrOption(str(options, 'discriminative-lr'));
  if (dlr !== undefined) args.discriminativeLr = dlr;
  if (args.evalStrategy === undefined && data.hasEval) args.evalStrategy = 'epoch';
  if (args.evalStrategy !== undefined && args.evalStrategy !== 'no' && !data.hasEval) {
    throw new UsageError(
      `--eval-strategy ${String(args.evalStrategy)} needs evaluation data: give --eval-file, --eval-folder or --validation-split`,
    );
  }
  if (args.loadBestModelAtEnd === true && args.saveStrategy === undefined) {
    args.saveStrategy = args.evalStrategy ?? 'no';
    if (args.saveSteps === undefined && args.evalSteps !== undefined) args.saveSteps = args.evalSteps;
  }
  if (args.loggingSteps === undefined) {
    const steps = estimateSteps(data.trainLength, args);
    if (steps * 0.02 < 500) args.loggingSteps = Math.max(1, Math.ceil(steps * 0.02));
    if (args.evalStrategy === 'steps' && args.evalSteps === undefined)
      args.evalSteps = Math.max(1, Math.ceil(steps / 10));
  }
  if (typeof args.resumeFromCheckpoint === 'string')
    requirePath(args.resumeFromCheckpoint, 'resume-from-checkpoint', 'folder');
  if (args.resumeFromCheckpoint === false) delete args.resumeFromCheckpoint;
  let built: TrainingArguments;
  try {
    built = new TrainingArguments(args as ConstructorParameters<typeof TrainingArguments>[0]);
  } catch (error) {
    throw new UsageError(flagNamesInMessage((error as Error).message, table));
  }
  try {
    // A GPU asked for that is not there is a mistake of the command line: said before the model loads.
    resolveDevice(built.device, '--device', Number(process.env.WORLD_SIZE ?? '1') || 1);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return built;
}

/** A TrainingArguments' options back (to add the strategy): toJson in camelCase. */
export function argsOptions(args: TrainingArguments): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args))
    if (value !== undefined && value !== null && key !== 'strategy') out[key] = value;
  return out;
}
