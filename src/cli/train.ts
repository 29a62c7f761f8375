/**
 * `finetune train`: fine-tunes a model on a labelled file (text) or an image folder / Fashion-MNIST, or a
 * decoder language model on text (--task causal-lm: ./core/causal-lm-data.ts),
 * with a fine-tuning method (full, head, top-k, BitFit, LN, gradual unfreezing, LoRA, DoRA, IA3,
 * prompt tuning, Houlsby / Pfeiffer adapters), through the Trainer; flags are TrainingArguments'
 * in kebab-case. Prints the plan, a progress bar and the per-epoch table; writes the model (or the
 * adapter), the tokenizer, run_config.json and report.html + PNGs into --output-dir.
 *
 * What the training commands share (flags, the model source, the tokenizer, the data, the methods,
 * TrainingArguments from flags, loading a trained model) is in ./core/.
 *
 * Exit codes: 0 done, 1 runtime error (a bad data file: the message names file:line), 2 usage
 * error, 3 training stopped on a NaN/Inf loss or gradient norm.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { version } from '../index.js';
import { manualSeed } from '../tensor/index.js';
import type { Module } from '../nn/index.js';
import { familyOfModel } from '../models/registry.js';
import { PretrainedCausalLM } from '../models/index.js';
import { savePretrained, isLocalCheckpoint, pretrainedFileNames } from '../io/index.js';
import { makeOutputFolder, writeFileAtomicSync } from '../io/files.js';
import { getMethod, PeftModel, type MethodName } from '../peft/index.js';
import { preprocessorJson, type DatasetCapabilities } from '../data/index.js';
import {
  autoLearningRate,
  describeLrCurve,
  diagnoseTraining,
  isWorldProcessZero,
  latestCheckpoint,
  listCheckpoints,
  PrinterCallback,
  ProgressCallback,
  Trainer,
  TrainingArguments,
  type AutoLearningRate,
  type TrainingWarning,
} from '../train/index.js';
import { formatLr } from '../optim/index.js';
import { writeReport } from '../report/index.js';
import { formatBytes, formatNumber, formatSeconds } from '../report/format.js';
import {
  EXIT,
  flagHelp,
  optBoolean as bool,
  optNumber as num,
  optString as str,
  optPositiveInteger as positiveInteger,
  UsageError,
  type Options,
} from './core/flags.js';
import { resolveCommandOptions } from './core/threads.js';
import { buildStrategy, parseMethod } from './core/method.js';
import { importRequired } from './core/require.js';
import { TRAIN_FLAGS } from './core/run-flags.js';
import { EXIT_CODES_HELP, isNanStop, runCommand, peakRssBytes } from './core/command.js';
import { type ModelSource, resolveModelSource, buildModel, countParameters } from './core/model-source.js';
import { copyTokenizerFiles } from './core/tokenizer.js';
import { type RunData, loadRunData } from './core/data.js';
import { predictedTokens } from './core/causal-lm-data.js';
import { argsOptions, buildTrainingArguments } from './core/training-plan.js';
import { launchCommand, LAUNCH_FLAGS } from './launch.js';

const TRAIN_HELP = `Usage: finetune train --model <preset|dir|hub id> (--train-file FILE [--eval-file FILE | --validation-split 0.1] | --image-folder DIR | --fashion-mnist)
                      [--method lora] [--output-dir DIR] [TrainingArguments as flags in kebab-case] [--config run.yaml]
       finetune train --model <decoder dir|hub id> --text-file FILE [--prompt-column P --response-column R] [--block-size N] …   (--task causal-lm)

Fine-tunes the model with the method and writes, into --output-dir: the model (config.json + model.safetensors)
or the adapter (adapter_config.json + adapter_model.safetensors, and base_model/ when the base was randomly
initialised), the tokenizer files, run_config.json, trainer_state.json, metrics.jsonl, checkpoint-N/ folders,
report.html, loss.png, metrics.png and lr.png.

FLAGS

Examples:
  finetune train --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \\
                 --method lora --max-length 64 --num-train-epochs 3 --output-dir runs/lora
  finetune train --config run.yaml --learning-rate 1e-4          # flags override the file
  finetune train --model resnet18 --fashion-mnist --max-train-samples 2000 --image-size 32 --method head
  finetune train --model ./my-gpt2 --text-file corpus.txt --validation-split 0.1 --method lora --block-size 256 \\
                 --sample-prompt "Once upon a time" --output-dir runs/gpt2-lora   # a causal LM: loss and perplexity

Several processes (data parallel, as torchrun; see finetune launch): with any of these flags the command starts
--nproc-per-node workers of itself with torchrun's variables (OMP_NUM_THREADS = cores / N each unless set); each
trains on its share of every batch (global batch = --per-device-train-batch-size × processes × accumulation), and
rank 0 alone prints and writes --output-dir. A restart (--max-restarts) resumes from the latest checkpoint there.

LAUNCH

Examples:
  finetune train --nproc-per-node 2 --model bert-tiny --train-file data/sst2/train-200.tsv --output-dir runs/ddp
  finetune train --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --nproc-per-node 4 …   (machine 0; --node-rank 1 on machine 1)

EXIT`;

export function trainHelp(): string {
  return TRAIN_HELP.replace('FLAGS', flagHelp(TRAIN_FLAGS))
    .replace('LAUNCH', flagHelp(LAUNCH_FLAGS))
    .replace('EXIT', EXIT_CODES_HELP);
}

// ---- the command ---------------------------------------------------------------------------------

export async function runTrain(argv: string[]): Promise<number> {
  if (!argv.includes('--help') && !argv.includes('-h')) {
    const launched = await launchCommand('train', argv);
    if (launched !== null) return launched;
  }
  return runCommand('train', async () => {
    const { options, help } = resolveCommandOptions(argv, TRAIN_FLAGS);
    if (help) {
      console.log(trainHelp());
      return EXIT.ok;
    }
    await train(options);
    return EXIT.ok;
  });
}

/**
 * `finetune train` with parsed options (resolveOptions(argv, TRAIN_FLAGS)): trains, saves, reports,
 * and returns the Trainer, whose model is the one saved (tests compare it with what loads back).
 */
export async function train(options: Options): Promise<Trainer> {
  const modelArg = str(options, 'model');
  if (!modelArg) throw new UsageError('--model is required (a preset such as bert-tiny, a model folder or a Hub id)');
  await importRequired(options);
  const method = parseMethod(str(options, 'method'));
  const seed = num(options, 'seed') ?? 42;
  const resolved = await resolveModelSource(modelArg);
  const data = await loadRunData(options, resolved);
  // A preset trained as a causal LM takes its tokenizer's vocabulary (loadCausalLmRunData).
  const source = data.modelSource ?? resolved;
  const causalLm = data.task === 'causal-lm';
  const numLabelsFlag = positiveInteger(options, 'num-labels');
  if (numLabelsFlag !== undefined && numLabelsFlag < data.labelNames.length) {
    throw new UsageError(
      `--num-labels ${numLabelsFlag} is fewer than the ${data.labelNames.length} labels in the training data (${data.labelNames.join(', ')})`,
    );
  }
  // A causal LM has no head of classes (undefined builds the family's *ForCausalLM).
  const numLabels = causalLm ? undefined : (numLabelsFlag ?? data.labelNames.length);
  const labelNames =
    numLabels === undefined || numLabels === data.labelNames.length
      ? data.labelNames
      : [
          ...data.labelNames,
          ...Array.from(
            { length: numLabels - data.labelNames.length },
            (_, i) => `LABEL_${data.labelNames.length + i}`,
          ),
        ];
  const planned = { trainLength: data.train.length, hasEval: data.eval !== null };
  let args = buildTrainingArguments(options, planned);
  const outputDir = args.outputDir;
  // Workers started by a launcher print and write from rank 0 only (the Trainer does the same).
  const mainProcess = isWorldProcessZero();
  const say = (line: string): void => {
    if (mainProcess) console.log(line);
  };
  // torchrun's elastic restart (--max-restarts): the group starts again and goes on from the latest checkpoint.
  const restart = Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0');
  const latest = restart > 0 && !args.resumeFromCheckpoint ? latestCheckpoint(outputDir) : null;
  if (latest) {
    args = buildTrainingArguments({ ...options, 'resume-from-checkpoint': latest }, planned);
    say(`restart ${restart}: resuming from ${latest}`);
  }

  const isPeftMethod = getMethod(method).peft !== undefined;
  // Resuming an adapter run on a random base: the base saved beside the adapter, not a new draw.
  const savedBase = join(outputDir, 'base_model');
  let modelSource = source;
  if (
    args.resumeFromCheckpoint &&
    isPeftMethod &&
    (source.kind === 'preset' || source.kind === 'config') &&
    isLocalCheckpoint(savedBase)
  ) {
    modelSource = await resolveModelSource(savedBase);
  }
  if (options['learning-rate'] === 'auto' && args.resumeFromCheckpoint)
    throw new UsageError(
      "--learning-rate auto does not apply to --resume-from-checkpoint: a resumed run goes on with its checkpoint's optimizer and schedule",
    );
  const autoLr =
    options['learning-rate'] === 'auto'
      ? await autoLearningRateFor(modelSource, { numLabels, labelNames, data, method, options, args, seed })
      : null;
  // The same initial weights for the same seed, as transformers' set_seed before from_pretrained.
  manualSeed(seed);
  const built = await buildModel(modelSource, numLabels, causalLm ? undefined : labelNames, data.image?.size);
  const { family, architecture } = familyOfModel(built.model);
  say(
    `model: ${modelArg} → ${architecture}, ${causalLm ? 'next-token prediction' : `${numLabels} labels`}; ${built.note}`,
  );
  for (const line of data.describe) say(line);

  if (!args.resumeFromCheckpoint && mainProcess) {
    const old = listCheckpoints(outputDir);
    if (old.length)
      console.error(
        `note: ${outputDir} already holds ${old.map((c) => basename(c.path)).join(', ')} from an earlier run; this run writes beside them (--resume-from-checkpoint continues one instead)`,
      );
  }
  mkdirSync(outputDir, { recursive: true });
  // An adapter needs its base model: a random one is saved beside it (before the adapter is injected).
  // An absolute folder, so that the adapter finds its base from any working directory.
  let baseModelPath: string | null =
    modelSource.kind === 'preset' || modelSource.kind === 'hub'
      ? modelSource.arg
      : resolve(modelSource.dir ?? modelSource.arg);
  if (isPeftMethod && built.randomInit) {
    baseModelPath = resolve(outputDir, 'base_model');
    if (mainProcess) {
      baseModelPath = await makeOutputFolder(outputDir, baseModelPath);
      await savePretrained(built.model, baseModelPath);
    }
  }
  const plan = buildStrategy(method, built.model, options, baseModelPath, built.newlyInitialized);
  say(`method: ${method} — ${plan.describe}`);
  if (autoLr && mainProcess) printAutoLearningRate(autoLr);

  // A causal LM's table shows perplexity from the first row, even when the first epoch ends before an evaluation.
  const printer = new PrinterCallback(causalLm && data.eval ? { metrics: ['perplexity'] } : {});
  const trainer = new Trainer({
    model: built.model,
    args: new TrainingArguments({
      ...argsOptions(args),
      ...(autoLr?.source === 'lr-find' ? { learningRate: autoLr.lr } : {}),
      strategy: plan.strategy,
    }),
    trainDataset: data.train,
    evalDataset: data.eval,
    callbacks: [new ProgressCallback(), printer],
  });
  const counts = countParameters(trainer.model);
  if (mainProcess) warnFrozenRandomModules(trainer.model, built.newlyInitialized, method);
  // An adapter steers what a pretrained model knows; on frozen random weights a language model learns next to nothing.
  if (mainProcess && causalLm && isPeftMethod && built.randomInit)
    console.error(
      `note: ${modelArg} has random weights (no model.safetensors), which --method ${method} keeps frozen: an adapter on them learns little; give a pretrained checkpoint, or train from scratch with --method full`,
    );
  const runConfig: Record<string, unknown> = {
    command: 'finetune train',
    finetune_version: version,
    // Where relative paths below (train_file, image_folder) start: eval finds the held-out data from any folder.
    working_dir: process.cwd(),
    model: modelArg,
    model_type: family.modelType,
    architecture,
    random_init: built.randomInit,
    base_model: isPeftMethod ? baseModelPath : null,
    strategy: method,
    strategy_detail: plan.describe,
    num_labels: numLabels ?? null,
    newly_initialized: built.newlyInitialized,
    ...data.record,
    labels: labelNames,
    train_examples: data.train.length,
    eval_examples: data.eval?.length ?? 0,
    learning_rate: trainer.learningRate,
    learning_rate_reason: autoLr?.source === 'lr-find' ? autoLr.reason : trainer.learningRateReason,
    ...(autoLr ? { learning_rate_auto: autoLearningRateRecord(autoLr) } : {}),
    seed,
    trainable_params: counts.trainable,
    total_params: counts.total,
    trainable_percent: counts.percent,
  };
  if (mainProcess) writeFileAtomicSync(join(outputDir, 'run_config.json'), JSON.stringify(runConfig, null, 2) + '\n');

  const started = performance.now();
  let stoppedOnNan: Error | null = null;
  try {
    await trainer.train();
  } catch (error) {
    if (!isNanStop(error)) throw error;
    stoppedOnNan = error as Error;
  }
  let bestLoaded: string | null = null;
  if (!stoppedOnNan && data.eval) {
    const last = trainer.state.logHistory.filter((e) => Object.keys(e).some((k) => k.startsWith('eval_'))).at(-1);
    // The final evaluation is of the model being saved: after loading the best checkpoint, evaluate it again.
    bestLoaded =
      args.loadBestModelAtEnd && trainer.state.bestModelCheckpoint && existsSync(trainer.state.bestModelCheckpoint)
        ? trainer.state.bestModelCheckpoint
        : null;
    if (bestLoaded || !last || last.step !== trainer.state.globalStep) await trainer.evaluate();
    if (mainProcess) writeFileAtomicSync(join(outputDir, 'trainer_state.json'), trainer.state.toJsonString());
  }
  // The other ranks are done (the final evaluation was the last step they take part in): rank 0 writes the rest.
  if (!mainProcess) {
    if (stoppedOnNan) throw stoppedOnNan;
    return trainer;
  }
  const outcome = stoppedOnNan
    ? null
    : outcomeWarnings(trainer, data, labelNames, {
        ranAuto: autoLr !== null,
        method,
        newlyInitialized: built.newlyInitialized,
        randomInit: built.randomInit,
      });
  if (outcome) runConfig.training_warnings = [...outcome.warnings, ...outcome.advice];
  runConfig.train_seconds = Math.round((performance.now() - started) / 10) / 100;
  runConfig.peak_rss_bytes = peakRssBytes();
  if (stoppedOnNan) runConfig.stopped = stoppedOnNan.message;
  writeFileAtomicSync(join(outputDir, 'run_config.json'), JSON.stringify(runConfig, null, 2) + '\n');

  const written: string[] = [];
  if (!stoppedOnNan) {
    await trainer.saveModel(outputDir);
    written.push(
      ...(trainer.model instanceof PeftModel
        ? ['adapter_config.json', 'adapter_model.safetensors']
        : pretrainedFileNames(trainer.model)),
    );
    if (isPeftMethod && (built.randomInit || modelSource !== source)) written.push('base_model/');
    if (data.tokenizer) written.push(...copyTokenizerFiles(data.tokenizer.dir, outputDir));
    if (data.image) {
      writeFileAtomicSync(
        join(outputDir, 'preprocessor_config.json'),
        JSON.stringify(preprocessorJson(data.image), null, 2) + '\n',
      );
      written.push('preprocessor_config.json');
    }
  }
  written.push('run_config.json', 'trainer_state.json', 'metrics.jsonl');
  if (bool(options, 'report') !== false) {
    try {
      const result = await writeReport(outputDir, { title: `finetune train: ${modelArg}, ${method}` });
      written.push('report.html', ...Object.values(result.png).map((p) => basename(p)));
      for (const warning of result.warnings) console.error(`note: ${warning}`);
    } catch (error) {
      console.error(`note: no report: ${(error as Error).message}`);
    }
  }
  const final = trainer.state.logHistory.filter((e) => Object.keys(e).some((k) => k.startsWith('eval_'))).at(-1);
  if (final) {
    const shown = Object.entries(final)
      .filter(([k, v]) => k.startsWith('eval_') && typeof v === 'number' && !/runtime|per_second/.test(k))
      .map(([k, v]) => `${k} ${(v as number).toFixed(4)}`);
    console.log(
      `final evaluation (${bestLoaded ? `the best model, ${basename(bestLoaded)}` : `step ${String(final.step)}`}): ${shown.join(' · ')}`,
    );
  }
  for (const line of outcome?.warnings ?? []) console.error(`warning: ${line}`);
  for (const line of outcome?.advice ?? []) console.error(`  ${line}`);
  console.log(`wrote ${outputDir}/: ${written.join(', ')}`);
  console.log(finalLine(trainer, runConfig));
  if (stoppedOnNan) throw stoppedOnNan;
  return trainer;
}

/** The last line of `finetune train`: how long, how fast (transformers' train_samples_per_second) and how much memory the run took. */
function finalLine(trainer: Trainer, runConfig: Record<string, unknown>): string {
  const summary = trainer.state.logHistory.filter((e) => typeof e.train_samples_per_second === 'number').at(-1);
  const speed = summary ? `${formatNumber(summary.train_samples_per_second as number, 3)} samples/s, ` : '';
  return `done in ${formatSeconds(runConfig.train_seconds as number)}: ${speed}peak memory ${formatBytes(runConfig.peak_rss_bytes as number)} (the process's peak resident set size)`;
}

/**
 * A module the checkpoint did not provide that the method keeps frozen (a resized embedding under
 * --method head, say) stays at random values: saved with the model, so loading reproduces it, but
 * it learns nothing, which the user should know. (Adapters train such modules whole; gradual
 * unfreezing reaches them later.)
 */
function warnFrozenRandomModules(model: Module, newlyInitialized: readonly string[], method: MethodName): void {
  if (model instanceof PeftModel || method === 'gradual') return;
  const modules = new Map(model.namedModules());
  const frozen = newlyInitialized.filter((path) =>
    modules
      .get(path)
      ?.ownParameters()
      .some(([, p]) => !p.requiresGrad),
  );
  if (frozen.length) {
    console.error(
      `warning: ${frozen.join(', ')} ${frozen.length > 1 ? 'are' : 'is'} not in the checkpoint (random values) and --method ${method} keeps ${frozen.length > 1 ? 'them' : 'it'} frozen: ` +
        `saved with the model, but ${frozen.length > 1 ? 'they' : 'it'} will not learn; --method full (or an adapter, which trains ${frozen.length > 1 ? 'them' : 'it'} whole) does`,
    );
  }
}

/**
 * --learning-rate auto: the range test (Trainer.lrFind, fastai's lr_find) on a copy of the model built
 * as the run's will be (same seed, method and arguments), freed afterwards; the run itself then starts
 * from the same weights and generator state as one given the lr by hand. The valley, or the
 * method's default lr when the curve is flat or noisy.
 */
async function autoLearningRateFor(
  source: ModelSource,
  run: {
    numLabels: number | undefined;
    labelNames: string[];
    data: RunData;
    method: MethodName;
    options: Options;
    args: TrainingArguments;
    seed: number;
  },
): Promise<AutoLearningRate> {
  manualSeed(run.seed);
  const copy = await buildModel(source, run.numLabels, run.labelNames, run.data.image?.size);
  const plan = buildStrategy(run.method, copy.model, run.options, null, copy.newlyInitialized);
  const probe = new Trainer({
    model: copy.model,
    args: new TrainingArguments({ ...argsOptions(run.args), strategy: plan.strategy }),
    trainDataset: run.data.train,
    log: null,
  });
  try {
    return await autoLearningRate(probe);
  } finally {
    probe.model.dispose();
  }
}

function printAutoLearningRate(auto: AutoLearningRate): void {
  if (auto.source === 'lr-find')
    console.log(`learning rate auto: ${formatLr(auto.lr)} (lr-find valley; ${describeLrCurve(auto.result)})`);
  else
    console.error(
      `warning: learning rate auto: lr-find suggests nothing — ${auto.refused}; training at the method's default instead, ${formatLr(auto.lr)}`,
    );
}

/** What run_config.json records of --learning-rate auto. */
function autoLearningRateRecord(auto: AutoLearningRate): Record<string, unknown> {
  const { result } = auto;
  return {
    source: auto.source,
    lr: auto.lr,
    ...(auto.refused ? { refused: auto.refused } : {}),
    suggestions: result.suggestions,
    curve: result.curve ?? null,
    steps: result.lrs.length,
    diverged: result.diverged,
  };
}

/**
 * The highest lr the advice suggests: a method that updates the pretrained weights (full, top-k, gradual)
 * forgets what pretraining learned above 1e-3, and a network trained from random weights with Adam rarely
 * learns above 1e-2 (GPT-2 and BERT were pretrained at 6e-4 and 1e-4). At or above it, a loss that did not
 * fall asks for a lower rate, not a higher one.
 */
const HIGHEST_ADVISED_LR = { pretrained: 1e-3, randomInit: 1e-2 };

/**
 * The end-of-run checks (diagnoseTraining: accuracy at the majority-class rate of the evaluation
 * data, a training loss that did not move) and what to try, as flags (once for both kinds of "learned little").
 */
function outcomeWarnings(
  trainer: Trainer,
  data: RunData,
  labelNames: readonly string[],
  run: { ranAuto: boolean; method: MethodName; newlyInitialized: readonly string[]; randomInit?: boolean },
): { warnings: string[]; advice: string[] } {
  const inner = trainer.model instanceof PeftModel ? trainer.model.model : trainer.model;
  const found = diagnoseTraining(trainer.state.logHistory, {
    evalLabels: (data.eval as DatasetCapabilities | null)?.targets,
    labelNames,
    // A causal LM's evaluation perplexity against a unigram model of the training tokens.
    ...(inner instanceof PretrainedCausalLM && data.eval
      ? {
          unigram: {
            trainTokens: predictedTokens(data.train),
            evalTokens: predictedTokens(data.eval),
            vocabSize: inner.config.vocabSize,
          },
        }
      : {}),
  });
  return {
    warnings: found.map((w) => w.message),
    advice: trainingAdvice(found, { ...run, lr: trainer.learningRate }),
  };
}

/**
 * What to try after the end-of-run checks found `found` in a run at `lr` (once for both kinds of
 * "learned little"): a lower lr when the loss rose, else a higher one up to the ceiling (HIGHEST_ADVISED_LR)
 * and a lower one at or above it, lr-find unless the lr came from it, more steps; for a head on frozen
 * features, a method that trains the network. A model that starts from random weights (`randomInit`) has no
 * pretraining to forget: its ceiling is Adam's usual 1e-2 rather than 1e-3.
 */
export function trainingAdvice(
  found: readonly TrainingWarning[],
  run: { lr: number; ranAuto: boolean; method: MethodName; newlyInitialized: readonly string[]; randomInit?: boolean },
): string[] {
  const { lr } = run;
  const advice = new Set<string>();
  for (const { kind } of found) {
    if (kind === 'rising-loss')
      advice.add(
        `the loss rose at lr ${formatLr(lr)}: try a lower --learning-rate (${formatLr(lr / 10)})${run.ranAuto ? '' : ', or finetune lr-find'}`,
      );
    else {
      // A loss that rose asks for a lower lr (above), never also for a higher one.
      const rose = found.some((w) => w.kind === 'rising-loss');
      const ceiling = run.randomInit
        ? HIGHEST_ADVISED_LR.randomInit
        : getMethod(run.method).updatesPretrainedWeights
          ? HIGHEST_ADVISED_LR.pretrained
          : Infinity;
      const direction = rose
        ? ''
        : lr < ceiling
          ? `a higher --learning-rate (${formatLr(Math.min(lr * 10, ceiling))}), `
          : `a lower --learning-rate (${formatLr(lr / 10)}), `;
      const atCeiling =
        lr < ceiling || rose
          ? ''
          : ` (lr ${formatLr(lr)} is already high for ${run.randomInit ? 'a network trained from random weights' : `${run.method}, which updates the pretrained weights`})`;
      advice.add(
        `the run learned little at lr ${formatLr(lr)}: try ${run.ranAuto ? '' : 'finetune lr-find (or --learning-rate auto), '}${direction}or more steps (--num-train-epochs, --max-steps)${atCeiling}`,
      );
      if (run.method === 'head') {
        // An MLM checkpoint has no pooler: nothing in its pretraining shaped the [CLS] features a head reads.
        const noPooler = run.newlyInitialized.some((path) => /(^|\.)pooler(\.|$)/.test(path));
        advice.add(
          `a head on frozen features learns only what they already separate${noPooler ? ' — and this checkpoint had no pooler: masked-language pretraining never trains the [CLS] features the head reads' : ''}; a method that trains the network (--method lora, full) can do more`,
        );
      }
    }
  }
  return [...advice];
}
