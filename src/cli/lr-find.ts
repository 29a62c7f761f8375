/**
 * `finetune lr-find`: fastai's learning-rate range test (optim.lrFind) on the model, method and data
 * `finetune train` would use: the lr grows exponentially from --start-lr to --end-lr over --num-it
 * steps, the smoothed loss is recorded, and the valley / minimum / steep suggestions are printed with
 * an ASCII plot; lr_find.png (and lr_find.json) go into --output-dir. The weights and optimizer are
 * restored afterwards, so nothing is trained. A flat or noisy curve gets no suggestion (optim.lrFind's
 * `refused`): the reason and what to try, as flags, and exit 1.
 *
 *   finetune lr-find --model bert-tiny --train-file data/sst2/train-200.tsv --method lora
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/files.js';
import { join } from 'node:path';

import { manualSeed } from '../tensor/index.js';
import { type LrFindResult } from '../optim/index.js';
import { describeLrCurve, Trainer, TrainingArguments } from '../train/index.js';
import { chartToPng, lineChart, PALETTE } from '../report/index.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { loadRunData } from './core/data.js';
import { EXIT, flagHelp, type FlagTable, optBoolean, optNumber, optString, UsageError } from './core/flags.js';
import { buildStrategy, parseMethod } from './core/method.js';
import { importRequired } from './core/require.js';
import { buildModel, resolveModelSource } from './core/model-source.js';
import { TRAIN_FLAGS } from './core/run-flags.js';
import { resolveCommandOptions } from './core/threads.js';
import { buildTrainingArguments } from './core/training-plan.js';

const KEEP = new Set([
  'config',
  'model',
  'tokenizer',
  'num-labels',
  'task',
  'train-file',
  'text-file',
  'prompt-column',
  'response-column',
  'messages-column',
  'block-size',
  'packing',
  'text-column',
  'text-pair-column',
  'label-column',
  'labels',
  'max-length',
  'allow-rare-labels',
  'encoding',
  'delimiter',
  'image-folder',
  'fashion-mnist',
  'image-size',
  'max-train-samples',
  'skip-bad-rows',
  'verify-images',
  'max-image-pixels',
  'method',
  'require',
  'k',
  'unfreeze-every-steps',
  'lora-r',
  'lora-alpha',
  'lora-dropout',
  'target-modules',
  'reduction-factor',
  'num-virtual-tokens',
  'train-bn',
  'per-device-train-batch-size',
  'weight-decay',
  'weight-decay-rule',
  'optim',
  'adam-beta1',
  'adam-beta2',
  'adam-epsilon',
  'sgd-momentum',
  'discriminative-lr',
  'layerwise-lr-decay',
  'seed',
  'threads',
]);

export const LR_FIND_FLAGS: FlagTable = {
  ...Object.fromEntries(Object.entries(TRAIN_FLAGS).filter(([name]) => KEEP.has(name))),
  'start-lr': { kind: 'number', group: 'Range test', help: 'first learning rate (default 1e-7)' },
  'end-lr': { kind: 'number', group: 'Range test', help: 'last learning rate (default 10)' },
  'num-it': { kind: 'integer', group: 'Range test', help: 'steps of the sweep (default 100)' },
  'stop-div': {
    kind: 'boolean',
    group: 'Range test',
    help: 'stop once the smoothed loss exceeds 4× its best (default true)',
  },
  'output-dir': {
    kind: 'string',
    arg: 'DIR',
    group: 'Output',
    help: 'where lr_find.png and lr_find.json go (default .)',
  },
  json: { kind: 'boolean', group: 'Output', help: 'print the result as JSON' },
};

const HELP = `Usage: finetune lr-find --model <model> (--train-file FILE | --image-folder DIR | --fashion-mnist) [--method M] [train's model, data and optimizer flags]
                        [--start-lr 1e-7] [--end-lr 10] [--num-it 100] [--output-dir DIR]

The learning-rate range test (fastai's lr_find): --num-it steps with the lr growing exponentially from --start-lr
to --end-lr, on the data, model and method finetune train would use; prints the valley / minimum / steep
suggestions, the curve they rest on and an ASCII plot of the smoothed loss, and writes lr_find.png and
lr_find.json. The model, the optimizer and the random generator are restored afterwards: nothing is trained.
A curve that does not fall clearly (less than 5% below its start, or by less than 3× its noise) gets no
suggestion: the command says why and what to try, and exits 1.

FLAGS

Example:
  finetune lr-find --model bert-tiny --train-file data/sst2/train-200.tsv --method lora --max-length 64

EXIT`;

export function lrFindHelp(): string {
  return HELP.replace('FLAGS', flagHelp(LR_FIND_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

/** A learning rate in 3 significant digits: 0.011, 1.91e-7. */
export function formatLr(lr: number): string {
  const p = Number(lr.toPrecision(3));
  return p >= 1e-3 && p < 1e3 ? String(p) : p.toExponential().replace('e+', 'e');
}

/** The smoothed loss against log10(lr), with the suggestions marked, in text. */
export function lrPlot(result: LrFindResult, width = 64, height = 14): string {
  const { lrs, smoothed } = result;
  const points = lrs.map((lr, i) => [Math.log10(lr), smoothed[i]] as const).filter(([, y]) => Number.isFinite(y));
  if (points.length < 2) return '(too few points to plot)';
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  // Clip the divergence at the end so the valley stays visible: the y range is the loss's first value and its minimum.
  const lo = Math.min(...ys);
  const hi = Math.max(Math.min(Math.max(...ys), ys[0] + (ys[0] - lo) * 1.5), lo + 1e-9);
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  const col = (x: number) => Math.round(((x - x0) / Math.max(x1 - x0, 1e-12)) * (width - 1));
  const row = (y: number) => Math.round(((hi - Math.min(Math.max(y, lo), hi)) / (hi - lo)) * (height - 1));
  for (const [x, y] of points) grid[row(y)][col(x)] = '·';
  const marks: Record<string, string> = { valley: 'v', minimum: 'm', steep: 's' };
  for (const [name, point] of Object.entries(result.points)) {
    if (!point) continue;
    grid[row(point.loss)][col(Math.log10(point.lr))] = marks[name] ?? '*';
  }
  const label = (v: number) => v.toPrecision(3);
  const labels = grid.map((_, r) => (r === 0 ? label(hi) : r === height - 1 ? label(lo) : ''));
  const lw = Math.max(...labels.map((l) => l.length));
  const lines = grid.map((cells, r) => `${labels[r].padStart(lw)} |${cells.join('')}`);
  const left = formatLr(10 ** x0);
  const right = formatLr(10 ** x1);
  lines.push(`${' '.repeat(lw)} +${'-'.repeat(width)}`);
  lines.push(
    `${' '.repeat(lw)}  ${left}${' '.repeat(Math.max(1, width - left.length - right.length))}${right}  (lr, log scale)`,
  );
  lines.push(`${' '.repeat(lw)}  smoothed loss; v valley, m minimum, s steep`);
  return lines.join('\n');
}

/**
 * What to try when the curve is refused, as flags: a range that did not reach a training lr is widened,
 * a noisy curve gets more steps and a bigger batch, a flat one all three.
 */
export function refusalAdvice(
  result: LrFindResult,
  run: { numIt: number; startLr: number; endLr: number; batchSize: number; causalLm?: boolean },
): string {
  const tries: string[] = [];
  if (!result.diverged)
    tries.push(
      `a wider range: the loss never diverged, so --end-lr ${formatLr(run.endLr)} may be too low to train (--end-lr ${formatLr(run.endLr * 10)})`,
    );
  tries.push(
    `more steps (--num-it ${run.numIt * 2}) and a bigger batch (--per-device-train-batch-size ${run.batchSize * 4}), which smooth out the noise`,
  );
  // A causal LM's labels are its own tokens: nothing can go astray there.
  if (!run.causalLm) tries.push('checking that the labels go with the texts (a curve stays flat when they are random)');
  tries.push(
    'or short runs at a few lrs (finetune train --validation-split 0.1 --learning-rate 1e-4, 3e-4, 1e-3, …), keeping the best',
  );
  return tries.join('; ');
}

export async function runLrFind(argv: string[]): Promise<number> {
  return runCommand('lr-find', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, LR_FIND_FLAGS);
    if (wantsHelp) {
      console.log(lrFindHelp());
      return EXIT.ok;
    }
    const modelArg = optString(options, 'model');
    if (!modelArg) throw new UsageError('--model is required');
    await importRequired(options);
    const method = parseMethod(optString(options, 'method'));
    const numIt = optNumber(options, 'num-it') ?? 100;
    if (!(Number.isInteger(numIt) && numIt >= 6)) throw new UsageError(`--num-it must be an integer ≥ 6, got ${numIt}`);
    const startLr = optNumber(options, 'start-lr') ?? 1e-7;
    const endLr = optNumber(options, 'end-lr') ?? 10;
    if (!(startLr > 0 && endLr > startLr))
      throw new UsageError(`need 0 < --start-lr < --end-lr, got ${startLr} and ${endLr}`);
    const json = optBoolean(options, 'json') ?? false;
    const outputDir = optString(options, 'output-dir') ?? '.';
    const seed = optNumber(options, 'seed') ?? 42;
    const log = json ? () => {} : (line: string) => console.log(line);

    const resolved = await resolveModelSource(modelArg);
    const data = await loadRunData(options, resolved);
    const causalLm = data.task === 'causal-lm';
    manualSeed(seed);
    const built = await buildModel(
      data.modelSource ?? resolved,
      causalLm ? undefined : (optNumber(options, 'num-labels') ?? data.labelNames.length),
      causalLm ? undefined : data.labelNames,
      data.image?.size,
    );
    const plan = buildStrategy(method, built.model, options, null);
    const base = buildTrainingArguments(
      { ...options, 'output-dir': join(outputDir, '.lr-find') },
      { trainLength: data.train.length, hasEval: false },
      TRAIN_FLAGS,
    );
    const trainer = new Trainer({
      model: built.model,
      args: new TrainingArguments({
        outputDir: base.outputDir,
        perDeviceTrainBatchSize: base.perDeviceTrainBatchSize,
        weightDecay: base.weightDecay,
        weightDecayRule: base.weightDecayRule,
        optim: base.optim,
        adamBeta1: base.adamBeta1,
        adamBeta2: base.adamBeta2,
        adamEpsilon: base.adamEpsilon,
        sgdMomentum: base.sgdMomentum,
        discriminativeLr: base.discriminativeLr,
        layerwiseLrDecay: base.layerwiseLrDecay,
        trainBatchNorm: base.trainBatchNorm,
        threads: base.threads,
        seed,
        strategy: plan.strategy,
      }),
      trainDataset: data.train,
      log: null,
    });
    log(`model: ${modelArg}; ${built.note}`);
    for (const line of data.describe) log(line);
    log(`method: ${method} — ${plan.describe}`);
    log(`the method's default lr: ${trainer.learningRateReason}`);
    log(
      `range test: ${numIt} steps, lr ${formatLr(startLr)} → ${formatLr(endLr)} (batch ${base.perDeviceTrainBatchSize})`,
    );
    const started = performance.now();
    const result = await trainer.lrFind({ numIt, startLr, endLr, stopDiv: optBoolean(options, 'stop-div') ?? true });
    const seconds = (performance.now() - started) / 1000;

    mkdirSync(outputDir, { recursive: true });
    const chart = lineChart({
      title: `lr find: ${modelArg}, ${method}`,
      xLabel: 'log10(learning rate)',
      yLabel: 'smoothed loss',
      series: [
        {
          name: 'smoothed loss',
          points: result.lrs.map((lr, i) => [Math.log10(lr), result.smoothed[i]] as [number, number]),
          color: PALETTE[0],
        },
        ...Object.entries(result.points).map(([name, p], i) => ({
          name,
          points: p ? [[Math.log10(p.lr), p.loss] as [number, number]] : [],
          color: PALETTE[i + 1],
          markers: true,
        })),
      ],
    });
    const png = join(outputDir, 'lr_find.png');
    writeFileAtomicSync(png, chartToPng(chart));
    const jsonFile = join(outputDir, 'lr_find.json');
    const advice =
      result.refused !== undefined
        ? refusalAdvice(result, { numIt, startLr, endLr, batchSize: base.perDeviceTrainBatchSize, causalLm })
        : undefined;
    const out = {
      model: modelArg,
      method,
      default_lr: trainer.learningRate,
      default_lr_reason: trainer.learningRateReason,
      ...result,
      ...(advice ? { advice } : {}),
    };
    writeFileAtomicSync(jsonFile, JSON.stringify(out) + '\n');
    if (json) {
      console.log(
        JSON.stringify({
          suggestions: result.suggestions,
          ...(result.refused !== undefined ? { refused: result.refused, advice } : {}),
          curve: result.curve,
          diverged: result.diverged,
          steps: result.lrs.length,
          default_lr: trainer.learningRate,
          files: [png, jsonFile],
        }),
      );
      return result.refused !== undefined ? EXIT.runtime : EXIT.ok;
    }
    log(
      `${result.lrs.length} steps in ${seconds.toFixed(1)} s${result.diverged ? ' (stopped: the loss diverged)' : ''}`,
    );
    log('');
    log(lrPlot(result));
    log('');
    const names: Record<string, string> = {
      valley: "valley  (fastai's default: along the longest fall of the loss)",
      minimum: 'minimum (a tenth of the lr at the lowest loss)',
      steep: 'steep   (the steepest fall)',
    };
    if (result.refused !== undefined) {
      log(`wrote ${png}, ${jsonFile}`);
      console.error(`finetune lr-find: no suggestion: ${result.refused}`);
      console.error(`try: ${advice}`);
      return EXIT.runtime;
    }
    for (const [name, lr] of Object.entries(result.suggestions))
      log(`suggested lr: ${formatLr(lr!)}  ${names[name] ?? name}`);
    if (Object.keys(result.suggestions).length === 0)
      log('no suggestion: too few steps ran (raise --num-it, or --stop-div=false)');
    else log(`curve: ${describeLrCurve(result)}`);
    log(
      `then: finetune train … --method ${method} --learning-rate ${formatLr(result.suggestions.valley ?? trainer.learningRate)}`,
    );
    log(`wrote ${png}, ${jsonFile}`);
    return EXIT.ok;
  });
}
