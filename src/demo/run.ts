/**
 * The demo experiment (`finetune demo`, what `npm start` runs): transfer learning on Fashion-MNIST.
 *
 * 1. Pretrain each network (a small AlexNet-style CNN, a small ViT) on the source task — five
 *    classes, every one of their training images — or find it in the cache (pretrain.ts).
 * 2. Fine-tune it on the target task, the five held-out classes, from a few labelled images per class,
 *    with each strategy, and train the same network from scratch on those labels: the same labels,
 *    seed and step budget for every row. Each row is trained at each of the demo's learning rates
 *    and keeps the run with the best accuracy on the validation images (more labelled images of the
 *    target classes, apart from the training labels; the same for every row). Each run is a process
 *    of its own (worker.ts), so its peak memory is its own.
 * 3. Evaluate each on the target classes' test images (all 5,000) and print the trade-off table
 *    (strategy | trainable params | % | accuracy | train time | peak memory), written with its charts
 *    as comparison.html / comparison.png / comparison.md per network in the output folder, beside
 *    results.json and each run's trainer_state.json / metrics.jsonl under runs/.
 *
 * Everything is seeded (libtorch's generator before each network is built and trained, the draw of the
 * labelled images, the data order) and libtorch runs on a fixed number of threads, so the same seed
 * gives the same accuracies.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { setNumThreads } from '../tensor/index.js';
import { makeOutputFolder, writeFileAtomicSync } from '../io/files.js';
import { formatLr } from '../optim/index.js';
import type { OutputStream } from '../train/index.js';
import { comparisonReport } from '../report/index.js';
import { formatDuration, formatInteger, formatNumber } from '../format/numbers.js';
import { packSplit, readFashionSplit, TaskDataset, writeSplit } from './data.js';
import type { DemoRow, FineTuneJob } from './finetune.js';
import { describePeakMemory, type PeakMemoryMethod } from './memory.js';
import { DEMO_MODELS, type DemoModelKey } from './models.js';
import { cachedPretraining, describePretraining, pretrain, pretrainedDir, type PretrainingInfo } from './pretrain.js';
import { classList, type DemoSettings } from './settings.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface DemoModelResult {
  model: DemoModelKey;
  title: string;
  pretraining: PretrainingInfo & { fromCache: boolean; dir: string | null };
  /** A row per strategy: its run at the lr with the best validation accuracy. */
  rows: DemoRow[];
  /** Every run, at every lr. */
  trials: DemoRow[];
  /** The aligned table as printed. */
  table: string;
  files: { html?: string; png?: string; markdown?: string };
}

export interface DemoResult {
  settings: DemoSettings;
  models: DemoModelResult[];
  peakMemoryMethod: PeakMemoryMethod;
  seconds: number;
  outputDir: string;
}

/** Runs a fine-tuning job in a process of its own; its output goes to `stream` (straight to the terminal when that is stdout, so progress bars draw). */
function runWorker(job: FineTuneJob, dir: string, index: number, stream: OutputStream): Promise<DemoRow> {
  const jobPath = join(dir, `job-${index}.json`);
  const resultPath = join(dir, `result-${index}.json`);
  writeFileSync(jobPath, JSON.stringify(job));
  const direct = stream === process.stdout;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, jobPath, resultPath], {
      stdio: ['ignore', direct ? 'inherit' : 'pipe', 'inherit'],
    });
    child.stdout?.on('data', (chunk: Buffer) => stream.write(chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(
          new Error(
            `the ${job.model} '${job.strategy}' run failed (${signal ? `signal ${signal}` : `exit code ${code}`}); its error is above`,
          ),
        );
        return;
      }
      try {
        resolve(JSON.parse(readFileSync(resultPath, 'utf8')) as DemoRow);
      } catch (error) {
        reject(new Error(`the ${job.model} '${job.strategy}' run wrote no result: ${(error as Error).message}`));
      }
    });
  });
}

/** Runs the whole demo and returns its results; the progress and the tables go to `stream`. */
export async function runDemoExperiment(
  settings: DemoSettings,
  stream: OutputStream = process.stdout,
): Promise<DemoResult> {
  const started = performance.now();
  const line = (text = '') => stream.write(`${text}\n`);
  setNumThreads(settings.threads);

  // The data first: a missing Fashion-MNIST stops here, with how to install it.
  const train = readFashionSplit('train', settings.dataRoot);
  const test = readFashionSplit('test', settings.dataRoot);
  const sourceTrain = new TaskDataset(train, settings.sourceClasses);
  const sourceTestAll = new TaskDataset(test, settings.sourceClasses);
  const sourceTest =
    settings.sourceEvalPerClass === null ? sourceTestAll : sourceTestAll.firstPerClass(settings.sourceEvalPerClass);
  const labelled = new TaskDataset(train, settings.targetClasses).labelBudget(
    settings.labelsPerClass,
    settings.validationPerClass,
    settings.seed,
  );
  const targetTrain = labelled.train;
  const targetTestAll = new TaskDataset(test, settings.targetClasses);
  const targetTest =
    settings.evalPerClass === null ? targetTestAll : targetTestAll.firstPerClass(settings.evalPerClass);

  mkdirSync(settings.outputDir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'finetune-demo-'));
  const images = join(scratch, 'target-images.bin');
  writeSplit(packSplit([targetTrain, labelled.validation, targetTest]), images);

  line(
    `finetune demo${settings.quick ? ' --quick' : ''}: transfer learning on Fashion-MNIST · seed ${settings.seed} · ${settings.threads} threads`,
  );
  line(
    `  source task: classes ${settings.sourceClasses.join(', ')} (${classList(settings.sourceClasses)}), ${formatInteger(sourceTrain.length)} training images`,
  );
  line(
    `  target task: classes ${settings.targetClasses.join(', ')} (${classList(settings.targetClasses)}), ` +
      `${settings.labelsPerClass} labelled images per class (${formatInteger(targetTrain.length)}), tested on ${formatInteger(targetTest.length)} test images`,
  );
  line(
    `  every row: ${settings.fineTuneSteps} AdamW steps × batch ${settings.fineTuneBatchSize}, linear decay after 10% warmup, weight decay 0.01, seed ${settings.seed}`,
  );
  line(
    settings.learningRates.length > 1
      ? `  learning rate: each row trains at ${settings.learningRates.map(formatLr).join(', ')} and keeps the best on ${formatInteger(labelled.validation.length)} validation images (${settings.validationPerClass} per class, apart from the training labels)`
      : `  learning rate ${formatLr(settings.learningRates[0])} for every row; validation: ${formatInteger(labelled.validation.length)} images (${settings.validationPerClass} per class)`,
  );

  const phases = settings.models.length * (1 + settings.strategies.length * settings.learningRates.length);
  let phaseIndex = 0;
  const phase = () => `[${++phaseIndex}/${phases}]`;
  const results: DemoModelResult[] = [];
  let peakMemoryMethod: PeakMemoryMethod = 'vmhwm';
  try {
    for (const key of settings.models) {
      const spec = DEMO_MODELS[key];
      line();
      line(`== ${key}: ${spec.title}`);
      const cacheDir = pretrainedDir(spec, settings);
      const dir = settings.cache ? cacheDir : join(scratch, `pretrained-${key}`);
      let info = settings.cache ? cachedPretraining(dir) : null;
      const fromCache = info !== null;
      if (info) {
        line(`${phase()} ${key} · pretraining skipped: loaded from the cache ${dir}`);
      } else {
        const pre = settings.pretraining[key];
        const tasks =
          pre.reconstructionWeight > 0
            ? ` + reconstructing the image from the head's input (weight ${pre.reconstructionWeight})`
            : '';
        line(
          `${phase()} ${key} · pretraining on ${classList(settings.sourceClasses)}${tasks}: ${pre.steps} steps × batch ${pre.batchSize}, AdamW lr ${pre.learningRate}`,
        );
        info = await pretrain(spec, settings, { train: sourceTrain, test: sourceTest }, dir, stream);
        if (settings.cache) line(`  cached in ${dir}`);
      }
      line(`  ${describePretraining(info)}`);

      const rows: DemoRow[] = [];
      const trials: DemoRow[] = [];
      for (const strategy of settings.strategies) {
        let best: DemoRow | null = null;
        for (const [lrIndex, lr] of settings.learningRates.entries()) {
          const job: FineTuneJob = {
            settings,
            model: key,
            strategy,
            checkpoint: dir,
            images,
            trainCount: targetTrain.length,
            validationCount: labelled.validation.length,
            lr,
            phase: phase(),
            describe: lrIndex === 0,
          };
          const run = await runWorker(job, scratch, phaseIndex, stream);
          peakMemoryMethod = run.peakMemoryMethod;
          trials.push(run);
          // The first (smallest) lr wins ties.
          if (!best || run.validationAccuracy > best.validationAccuracy) best = run;
        }
        if (best) rows.push(best);
      }
      const title = `${key}: ${settings.labelsPerClass} labels per class, ${settings.fineTuneSteps} steps, seed ${settings.seed}`;
      const report = await comparisonReport(rows, {
        outputDir: await makeOutputFolder(settings.outputDir, join(settings.outputDir, key)),
        title: `Fashion-MNIST transfer, ${title}`,
      });
      results.push({
        model: key,
        title: spec.title,
        pretraining: { ...info, fromCache, dir: settings.cache ? dir : null },
        rows,
        trials,
        table: report.text,
        files: report.files,
      });
      line();
      line(`${title}`);
      line(report.text);
      line();
      line(
        `lr chosen on validation (the library's rule): ${rows.map((r) => `${r.strategy} ${formatLr(r.lr)} (${formatLr(r.ruleLr)})`).join(', ')}`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const seconds = (performance.now() - started) / 1000;
  const result: DemoResult = { settings, models: results, peakMemoryMethod, seconds, outputDir: settings.outputDir };
  writeFileAtomicSync(join(settings.outputDir, 'results.json'), JSON.stringify(result, null, 2) + '\n');

  line();
  line(
    `accuracy: on the ${formatInteger(targetTest.length)} test images of the target classes; train time: the Trainer's train_runtime (evaluation excluded);`,
  );
  line(`${describePeakMemory(peakMemoryMethod)}, in each run's own process.`);
  for (const m of results) {
    const base = m.rows.find((r) => r.key === 'scratch');
    const others = m.rows.filter((r) => r.key !== 'scratch');
    if (!base || others.length === 0) continue;
    const beat = others.filter((r) => (r.accuracy ?? 0) > (base.accuracy ?? 0));
    const best = others.reduce((a, b) => ((b.accuracy ?? 0) > (a.accuracy ?? 0) ? b : a));
    line(
      `${m.model}: ${beat.length} of ${others.length} pretrained strategies beat training from scratch (${formatNumber(base.accuracy ?? NaN)})` +
        `${
          beat.length < others.length
            ? `; not: ${others
                .filter((r) => !beat.includes(r))
                .map((r) => r.strategy)
                .join(', ')}`
            : ''
        }; ` +
        `best: ${best.strategy} ${formatNumber(best.accuracy ?? NaN)}`,
    );
  }
  for (const m of results)
    line(`${m.model} report: ${m.files.html ?? '(not written)'} · chart: ${m.files.png ?? '(not written)'}`);
  line(`results: ${join(settings.outputDir, 'results.json')} · total time ${formatDuration(seconds)}`);
  return result;
}
