/** What train() will do, in a few lines (printed at its start), and the step arithmetic it follows. */
import { GradientCheckpointingLayer, type Module } from '../nn/index.js';
import { isPaddingFree } from '../models/index.js';
import { formatLr } from '../optim/index.js';
import { PeftModel } from '../peft/index.js';
import { batchesPerEpoch as batchesPerEpochUnder } from './distributed.js';
import { innerModel } from './model-io.js';
import { describeStrategy, type TrainingArguments } from './training-args.js';

/** Steps per epoch and in total, as train() runs them over `batchesPerEpoch` batches an epoch. */
export function stepSchedule(
  args: TrainingArguments,
  batchesPerEpoch: number,
): { updatesPerEpoch: number; maxSteps: number; numEpochs: number } {
  const updatesPerEpoch = Math.ceil(batchesPerEpoch / args.gradientAccumulationSteps);
  const maxSteps = args.maxSteps > 0 ? args.maxSteps : Math.ceil(args.numTrainEpochs * updatesPerEpoch);
  const numEpochs = Math.ceil(maxSteps / updatesPerEpoch);
  return { updatesPerEpoch, maxSteps, numEpochs };
}

function groupThousands(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `trainable params: … || all params: … || trainable%: …` (PEFT's print_trainable_parameters). */
function parameterCounts(model: Module): string {
  if (model instanceof PeftModel) return model.trainableParametersLine();
  const all = model.parameters();
  const total = all.reduce((n, p) => n + p.numel(), 0);
  const trainable = all.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel(), 0);
  return `trainable params: ${groupThousands(trainable)} || all params: ${groupThousands(total)} || trainable%: ${total ? ((100 * trainable) / total).toFixed(4) : '0.0000'}`;
}

/** The plan: trainable parameters, lr and where it comes from, optimizer, schedule, steps (`trainExamples` null: no training data yet). */
export function planLines(
  model: Module,
  args: TrainingArguments,
  learningRateReason: string,
  trainExamples: number | null,
  worldSize = 1,
): string[] {
  const lines: string[] = [];
  const strategy = args.strategy ?? (model instanceof PeftModel ? [...model.peftConfig.values()][0] : null);
  lines.push(
    `${innerModel(model).constructor.name}, strategy ${describeStrategy(strategy)}: ${parameterCounts(model)}`,
  );
  const checkpointed = model
    .modules()
    .filter((m) => m instanceof GradientCheckpointingLayer && m.gradientCheckpointing);
  if (checkpointed.length > 0)
    lines.push(`gradient checkpointing: ${checkpointed.length} layers recompute their activations in backward`);
  if (isPaddingFree(model))
    lines.push(
      'padding-free: the layers run on the real tokens of each batch, not its padding (--padding-free=false computes it)',
    );
  let lrLine = learningRateReason;
  if (args.discriminativeLr) {
    const d = args.discriminativeLr;
    lrLine += ` for the head; lower layer groups ${d === 'slice' ? 'at lr/10 (fastai slice)' : 'factor' in d ? `÷ ${d.factor} per group (ULMFiT)` : `geometric from ${formatLr(d.lo)}`}`;
  } else if (args.layerwiseLrDecay !== null)
    lrLine += ` for the head; × ${args.layerwiseLrDecay} per layer group below (layer-wise decay)`;
  lines.push(lrLine);
  const optimizerLine =
    args.optim === 'sgd'
      ? `optimizer sgd (momentum ${args.sgdMomentum}, weight decay ${args.weightDecay})`
      : `optimizer ${args.optim} (betas ${args.adamBeta1}/${args.adamBeta2}, eps ${args.adamEpsilon}, weight decay ${args.weightDecay}, ${args.weightDecayRule} no-decay rule)`;
  if (trainExamples === null) {
    lines.push(optimizerLine);
    return lines;
  }
  const batchesPerEpoch = batchesPerEpochUnder(
    trainExamples,
    args.perDeviceTrainBatchSize,
    args.dataloaderDropLast,
    worldSize,
  );
  const { updatesPerEpoch, maxSteps, numEpochs } = stepSchedule(args, Math.max(batchesPerEpoch, 1));
  const warmup = args.warmupRatio > 0 ? Math.ceil(maxSteps * args.warmupRatio) : args.warmupSteps;
  lines.push(
    `${optimizerLine}; schedule ${args.lrSchedulerType}${warmup ? `, warmup ${warmup} of ${maxSteps} steps` : ''}`,
  );
  const batch =
    worldSize > 1
      ? `batch ${args.perDeviceTrainBatchSize} per process × ${worldSize} processes × accumulation ${args.gradientAccumulationSteps} = global batch ${args.perDeviceTrainBatchSize * worldSize * args.gradientAccumulationSteps}`
      : `batch ${args.perDeviceTrainBatchSize} × accumulation ${args.gradientAccumulationSteps}`;
  lines.push(
    `${maxSteps} optimizer steps: ${numEpochs} epoch(s) × ${updatesPerEpoch} steps (${batch}; ${trainExamples} training examples)`,
  );
  return lines;
}
