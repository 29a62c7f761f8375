// Reports: report.html (inline SVG charts, config table, self-contained) and PNG plots from a
// synthetic run folder in Hugging Face's shapes (trainer_state.json with Python's NaN,
// metrics.jsonl with a resumed run's replayed steps and a half-written last line), the
// strategy comparison, and the chart kit's ticks and thinning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';

import {
  comparisonChart,
  comparisonReport,
  comparisonRunFromDir,
  formatTick,
  lineChart,
  chartSvg,
  niceTicks,
  parseMetricsJsonl,
  pngSize,
  readRunHistory,
  systemFontsAvailable,
  writeReport,
  type LogEntry,
} from '../src/report/index.js';

const EPOCHS = 3;
const STEPS_PER_EPOCH = 20;
const LOGGING_STEPS = 2;

/** The log_history of a 3-epoch run: a training log every 2 steps, an evaluation after each epoch, the summary. */
function syntheticLogHistory(): LogEntry[] {
  const log: LogEntry[] = [];
  const total = EPOCHS * STEPS_PER_EPOCH;
  for (let step = LOGGING_STEPS; step <= total; step += LOGGING_STEPS) {
    const epoch = Number((step / STEPS_PER_EPOCH).toFixed(4));
    const lr = step <= 6 ? (2e-5 * step) / 6 : (2e-5 * (total - step)) / (total - 6);
    log.push({
      loss: Number((0.7 * Math.exp(-step / 25) + 0.08 + 0.02 * Math.sin(step)).toFixed(4)),
      grad_norm: step === 10 ? NaN : 2 + Math.cos(step),
      learning_rate: lr,
      epoch,
      step,
    });
    if (step % STEPS_PER_EPOCH === 0) {
      const e = step / STEPS_PER_EPOCH;
      log.push({
        eval_loss: Number((0.45 - 0.05 * e).toFixed(4)),
        eval_accuracy: Number((0.82 + 0.03 * e).toFixed(4)),
        eval_f1: Number((0.8 + 0.035 * e).toFixed(4)),
        eval_perplexity: Number((3.2 - 0.4 * e).toFixed(4)),
        eval_runtime: 1.25,
        eval_samples_per_second: 698.4,
        eval_steps_per_second: 21.8,
        epoch: e,
        step,
      });
    }
  }
  log.push({
    train_runtime: 83.52,
    train_samples_per_second: 22.99,
    train_steps_per_second: 0.718,
    total_flos: 1.23e14,
    train_loss: 0.2741,
    peak_rss_mb: 2048,
    epoch: EPOCHS,
    step: total,
  });
  return log;
}

/** JSON as Python's json.dumps writes it: NaN for a non-finite float. */
function pythonJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `@@${v}@@` : v),
    indent,
  ).replace(/"@@(NaN|-?Infinity)@@"/g, '$1');
}

function makeRun(): { dir: string; log: LogEntry[] } {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-report-'));
  const log = syntheticLogHistory();
  const total = EPOCHS * STEPS_PER_EPOCH;
  writeFileSync(
    join(dir, 'trainer_state.json'),
    pythonJson(
      {
        best_global_step: total,
        best_metric: 0.91,
        best_model_checkpoint: join(dir, `checkpoint-${total}`),
        epoch: EPOCHS,
        eval_steps: 500,
        global_step: total,
        is_hyper_param_search: false,
        is_local_process_zero: true,
        is_world_process_zero: true,
        log_history: log,
        logging_steps: LOGGING_STEPS,
        max_steps: total,
        num_input_tokens_seen: 0,
        num_train_epochs: EPOCHS,
        save_steps: 500,
        stateful_callbacks: {},
        total_flos: 1.23e14,
        train_batch_size: 32,
        trial_name: null,
        trial_params: null,
      },
      2,
    ),
  );
  // metrics.jsonl: the first run went to step 40 and died; the resumed one (from checkpoint-30) logged 32… again
  const firstRun = log
    .filter((e) => (e.step as number) <= 40)
    .map((e) => ('loss' in e && (e.step as number) > 30 ? { ...e, loss: (e.loss as number) + 0.5 } : e));
  const resumed = log.filter((e) => (e.step as number) > 30);
  const lines = [...firstRun, ...resumed].map((e) => pythonJson(e));
  writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n{"loss": 0.1, "learning_rate": 1e-`);
  writeFileSync(
    join(dir, 'training_args.json'),
    JSON.stringify({
      output_dir: dir,
      learning_rate: 2e-5,
      num_train_epochs: EPOCHS,
      per_device_train_batch_size: 32,
      lr_scheduler_type: 'linear',
      warmup_steps: 6,
      metric_for_best_model: 'eval_accuracy',
      eval_strategy: 'epoch',
      seed: 42,
    }),
  );
  writeFileSync(
    join(dir, 'run_config.json'),
    JSON.stringify({ strategy: 'lora', trainable_params: 296450, total_params: 109780228 }),
  );
  writeFileSync(
    join(dir, 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      r: 8,
      lora_alpha: 32,
      target_modules: ['query', 'value'],
      task_type: 'SEQ_CLS',
    }),
  );
  return { dir, log };
}

/** Each chart series in the page: name → number of points it says it has and the path's vertex count. */
function seriesInSvg(svg: string): Map<string, { points: number; vertices: number }> {
  const out = new Map<string, { points: number; vertices: number }>();
  for (const m of svg.matchAll(/<path class="series" data-series="([^"]+)" data-points="(\d+)" d="([^"]*)"/g)) {
    out.set(m[1], { points: Number(m[2]), vertices: (m[3].match(/[ML]/g) ?? []).length });
  }
  return out;
}

function svgById(html: string, id: string): string {
  const m = new RegExp(`<svg id="${id}"[\\s\\S]*?</svg>`).exec(html);
  assert.ok(m, `no <svg id="${id}">`);
  return m[0];
}

test('writeReport: report.html with loss, metric and lr charts, summary and configuration', async () => {
  const { dir } = makeRun();
  const title = 'BERT <LoRA> & "SST-2"';
  const result = await writeReport(dir, {
    title,
    config: { model: 'bert-base-uncased', lora: { r: 8, alpha: 32, target_modules: ['query', 'value'] } },
  });
  assert.equal(result.html, join(dir, 'report.html'));
  const html = readFileSync(result.html, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.ok(html.includes('<title>BERT &lt;LoRA&gt; &amp; &quot;SST-2&quot;</title>'), 'the title is escaped');
  assert.deepEqual(result.history.sources, [
    'trainer_state.json',
    'metrics.jsonl',
    'training_args.json',
    'run_config.json',
    'adapter_config.json',
  ]);

  // loss chart: 30 training logs (the replayed first-run steps dropped), 3 evaluations
  const loss = seriesInSvg(svgById(html, 'chart-loss'));
  assert.deepEqual([...loss.keys()], ['train_loss', 'eval_loss']);
  assert.deepEqual(loss.get('train_loss'), { points: 30, vertices: 30 });
  assert.deepEqual(loss.get('eval_loss'), { points: 3, vertices: 3 });
  assert.equal((svgById(html, 'chart-loss').match(/<circle /g) ?? []).length, 3, 'eval points are marked');
  assert.ok(
    !/data-value|\b1\.0\d{2}\b/.test(
      svgById(html, 'chart-loss')
        .match(/<title>[^<]*<\/title>/g)
        ?.join('') ?? '',
    ),
    'no replayed (+0.5) loss',
  );
  // metrics: accuracy and F1 share a [0, 1] chart, perplexity has its own; runtime/throughput are not metrics
  const unit = seriesInSvg(svgById(html, 'chart-metrics-1'));
  assert.deepEqual(
    [...unit.entries()],
    [
      ['eval_accuracy', { points: 3, vertices: 3 }],
      ['eval_f1', { points: 3, vertices: 3 }],
    ],
  );
  assert.deepEqual([...seriesInSvg(svgById(html, 'chart-metrics-2')).keys()], ['eval_perplexity']);
  assert.ok(!html.includes('data-series="eval_runtime"') && !html.includes('data-series="eval_samples_per_second"'));
  // learning rate (30 points) and grad norm (29: the NaN one skipped)
  assert.deepEqual(seriesInSvg(svgById(html, 'chart-lr')).get('learning_rate'), { points: 30, vertices: 30 });
  assert.equal(seriesInSvg(svgById(html, 'chart-grad-norm')).get('grad_norm')?.points, 29);
  // legends name the series
  assert.ok(/<g class="legend-item" data-series="train_loss">.*?>train_loss<\/text>/.test(html));

  // summary
  const s = result.summary;
  assert.equal(s.globalStep, 60);
  assert.equal(s.maxSteps, 60);
  assert.equal(s.finalTrainLoss, 0.1374);
  assert.equal(s.trainLoss, 0.2741);
  assert.equal(s.trainRuntime, 83.52);
  assert.deepEqual(s.best.eval_accuracy, { value: 0.91, step: 60, epoch: 3, mode: 'max' });
  assert.deepEqual(s.best.eval_loss, { value: 0.3, step: 60, epoch: 3, mode: 'min' });
  assert.equal(s.trainableParams, 296450);
  assert.equal(s.totalParams, 109780228);
  assert.ok(Math.abs((s.trainablePercent as number) - 0.27) < 0.001);
  assert.equal(s.peakMemoryBytes, 2048e6);
  assert.equal(s.metricForBestModel, 'eval_accuracy');
  assert.ok(html.includes('<th scope="row">trainable parameters</th><td>296,450 of 109,780,228 (0.27%)</td>'));
  assert.ok(html.includes('<th scope="row">train runtime</th><td>01:23 (83.52 s)</td>'));
  assert.ok(html.includes('<th scope="row">peak memory</th><td>1.91 GiB</td>'));
  assert.ok(html.includes('<th scope="row">total FLOs (6 × non-embedding params × tokens)</th><td>1.23e+14</td>'));
  assert.ok(
    /<th scope="row">eval_accuracy<\/th><td>0\.91<\/td><td>0\.91 <span class="mode">\(max\)<\/span><\/td><td>60<\/td>/.test(
      html,
    ),
  );

  // configuration tables: the caller's config (flattened), training_args.json, adapter_config.json
  assert.ok(html.includes('<caption>Configuration</caption>'));
  assert.ok(html.includes('<tr><th scope="row">lora.r</th><td>8</td></tr>'));
  assert.ok(html.includes('<tr><th scope="row">lora.target_modules</th><td>query, value</td></tr>'));
  assert.ok(html.includes('<caption>Training arguments (training_args.json)</caption>'));
  assert.ok(html.includes('<tr><th scope="row">learning_rate</th><td>0.00002</td></tr>'));
  assert.ok(html.includes('<tr><th scope="row">lr_scheduler_type</th><td>linear</td></tr>'));
  assert.ok(html.includes('<caption>Adapter (adapter_config.json)</caption>'));
  // the evaluations table: one row per evaluation
  assert.equal((/<table class="evals">[\s\S]*?<\/table>/.exec(html)?.[0].match(/<tr>/g) ?? []).length, 1 + 3);

  // self-contained: nothing fetched, no script
  for (const forbidden of [
    /https?:/i,
    /\ssrc=/i,
    /\shref=/i,
    /url\(/i,
    /@import/i,
    /<script/i,
    /<link/i,
    /<img/i,
    /<iframe/i,
  ]) {
    assert.ok(!forbidden.test(html), `report.html contains ${forbidden}`);
  }

  // PNGs: valid files of the charts' size × 2
  assert.deepEqual(Object.keys(result.png).sort(), ['loss', 'lr', 'metrics']);
  for (const name of ['loss', 'metrics', 'lr']) {
    const bytes = readFileSync(join(dir, `${name}.png`));
    assert.deepEqual(
      [...bytes.subarray(0, 8)],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      `${name}.png signature`,
    );
    const size = pngSize(bytes);
    if (name === 'metrics')
      assert.deepEqual(size, { width: 2 * (2 * 520 + 12), height: 2 * 320 }, 'two panels side by side');
    else assert.deepEqual(size, { width: 1440, height: 720 }, `${name}.png size`);
  }
  // the loss plot has its train-loss line drawn (Tableau blue) and, with fonts installed, dark text
  const image = pngjs.PNG.sync.read(readFileSync(join(dir, 'loss.png')));
  let blue = 0;
  let dark = 0;
  for (let i = 0; i < image.data.length; i += 4) {
    const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
    if (Math.abs(r - 0x4e) < 12 && Math.abs(g - 0x79) < 12 && Math.abs(b - 0xa7) < 12) blue++;
    if (r < 80 && g < 80 && b < 80) dark++;
  }
  assert.ok(blue > 1000, `${blue} line pixels`);
  if (systemFontsAvailable()) assert.ok(dark > 500, `${dark} text pixels`);
  else assert.equal(result.warnings.length, 1);
});

test('writeReport: no total FLOs row where the Trainer made no estimate (0, as for a CNN)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-report-'));
  const log = [
    { loss: 0.7, learning_rate: 1e-3, epoch: 1, step: 1 },
    {
      train_runtime: 1.5,
      train_samples_per_second: 5.3,
      train_steps_per_second: 0.7,
      total_flos: 0,
      train_loss: 0.7,
      epoch: 1,
      step: 1,
    },
  ];
  writeFileSync(
    join(dir, 'trainer_state.json'),
    JSON.stringify({ global_step: 1, max_steps: 1, log_history: log, total_flos: 0 }),
  );
  const html = readFileSync((await writeReport(dir, { png: false })).html, 'utf8');
  assert.ok(html.includes('<th scope="row">samples / s</th><td>5.3</td>'), 'the run table is there');
  assert.ok(!html.includes('FLOs'));
});

test('readRunHistory: a run still going (checkpoint state with NaN), a log history given directly, errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-report-'));
  await assert.rejects(
    readRunHistory(dir),
    /no trainer_state\.json, checkpoint-\*\/trainer_state\.json or metrics\.jsonl/,
  );
  const log = syntheticLogHistory().filter((e) => (e.step as number) <= 20 && !('train_runtime' in e));
  log[1].loss = NaN;
  for (const step of [10, 20]) {
    mkdirSync(join(dir, `checkpoint-${step}`));
    writeFileSync(
      join(dir, `checkpoint-${step}`, 'trainer_state.json'),
      pythonJson({ global_step: step, max_steps: 60, log_history: log.filter((e) => (e.step as number) <= step) }, 2),
    );
  }
  const history = await readRunHistory(dir);
  assert.deepEqual(history.sources, ['checkpoint-20/trainer_state.json']);
  assert.equal(history.logHistory.length, 11);
  assert.ok(Number.isNaN(history.logHistory[1].loss));
  const result = await writeReport(dir, { png: false });
  assert.deepEqual(result.png, {});
  assert.ok(!existsSync(join(dir, 'loss.png')));
  const html = readFileSync(result.html, 'utf8');
  assert.equal(seriesInSvg(svgById(html, 'chart-loss')).get('train_loss')?.points, 9, 'the NaN loss is not drawn');
  assert.ok(html.includes('<th scope="row">steps</th><td>20 / 60</td>'));

  // a log history given directly, into a new folder; no evaluation → an empty metrics chart, still a metrics.png
  const fresh = join(dir, 'fresh', 'report');
  const direct = await writeReport(fresh, { logHistory: log.filter((e) => 'loss' in e), title: 'direct' });
  const page = readFileSync(direct.html, 'utf8');
  assert.ok(page.includes('no evaluation metrics logged'));
  assert.ok(page.includes('No evaluation was logged.'));
  assert.ok(existsSync(join(fresh, 'metrics.png')));
  assert.equal(pngSize(readFileSync(join(fresh, 'metrics.png'))).width, 1440);

  // metrics.jsonl: a bad line in the middle is an error naming it; a bad last line is a run cut short
  assert.throws(
    () => parseMetricsJsonl('{"loss": 1, "step": 1}\n{"loss": \n{"loss": 0.5, "step": 2}\n', 'm.jsonl'),
    /^Error: m\.jsonl:2: /,
  );
  assert.throws(
    () => parseMetricsJsonl('[1]\n{"loss": 0.5}\n', 'm.jsonl'),
    /m\.jsonl:1: expected a JSON object, got an array/,
  );
  assert.deepEqual(parseMetricsJsonl('{"loss": NaN, "step": 1}\n\n{"loss": 0.5, "step": 2}\n{"lo'), [
    { loss: NaN, step: 1 },
    { loss: 0.5, step: 2 },
  ]);
});

test('comparisonReport: the trade-off table, its bar charts and files', async () => {
  const { dir } = makeRun();
  const fromDir = await comparisonRunFromDir(dir);
  // the lr: training_args.json's (run_config.json's learning_rate, the lr a CLI run used, comes first)
  assert.deepEqual(fromDir, {
    strategy: 'lora',
    lr: 2e-5,
    trainableParams: 296450,
    totalParams: 109780228,
    trainablePercent: fromDir.trainablePercent,
    accuracy: 0.91,
    trainTimeSeconds: 83.52,
    peakMemoryBytes: 2048e6,
  });
  const runs = [
    {
      strategy: 'full',
      trainableParams: 109483778,
      totalParams: 109483778,
      accuracy: 0.932,
      trainTimeSeconds: 1834,
      peakMemoryBytes: 6.2e9,
    },
    {
      strategy: 'head',
      trainableParams: 1538,
      totalParams: 109483778,
      accuracy: 0.815,
      trainTimeSeconds: 402,
      peakMemoryBytes: 1.5e9,
    },
    fromDir,
    { strategy: 'bitfit', trainableParams: 102914, totalParams: 109483778, accuracy: 0.9, trainTimeSeconds: 8.46 },
  ];
  const out = join(dir, 'compare');
  const notes = ['lr: each method trained at 1e-4, 1e-3 and kept the best on validation.', 'accuracy: on <dev.tsv>.'];
  const result = await comparisonReport(runs, { outputDir: out, notes });
  const lines = result.text.split('\n');
  assert.equal(lines.length, 2 + runs.length);
  // an lr column, since a run has one (the others print n/a)
  assert.equal(lines[0], 'strategy    lr  trainable params        %  accuracy  train time  peak memory');
  assert.ok(
    lines.every((l) => l.length === lines[0].length),
    `ragged:\n${result.text}`,
  );
  assert.equal(lines[3], 'head       n/a             1,538  0.0014%     0.815       06:42      1.4 GiB');
  assert.equal(lines[4], 'lora      2e-5           296,450    0.27%      0.91       01:23     1.91 GiB');
  assert.ok(lines[5].endsWith('n/a'));
  // under a minute: seconds, where mm:ss would read 00:08
  assert.match(lines[5], /\s8\.5 s\s/);
  const markdown = result.markdown.split('\n');
  assert.equal(markdown[4], '| lora | 2e-5 | 296,450 | 0.27% | 0.91 | 01:23 | 1.91 GiB |');
  assert.deepEqual(markdown.slice(-2), notes);
  // without an lr, no lr column
  assert.match((await comparisonReport(runs.slice(0, 2))).text, /^strategy  trainable params/);
  // the chart: 4 panels, one bar per run with a value (bitfit has no memory figure)
  const svg = chartSvg(result.chart);
  assert.equal((svg.match(/<rect class="bar"/g) ?? []).length, 4 * 4 - 1);
  assert.equal((svg.match(/data-label="lora"/g) ?? []).length, 4);
  assert.ok(
    svg.includes('data-label="head" data-value="0.932"') === false &&
      svg.includes('data-label="full" data-value="0.932"'),
  );
  assert.deepEqual(Object.keys(result.files).sort(), ['html', 'markdown', 'png']);
  const png = readFileSync(join(out, 'comparison.png'));
  assert.deepEqual(pngSize(png), { width: 2 * result.chart.width, height: 2 * result.chart.height });
  assert.ok(result.chart.width > result.chart.height);
  const html = readFileSync(join(out, 'comparison.html'), 'utf8');
  assert.ok(html.includes('<th scope="row">lora</th><td>2e-5</td><td>296,450</td><td>0.27%</td>'));
  assert.ok(html.includes('<p class="note">accuracy: on &lt;dev.tsv&gt;.</p>'));
  assert.ok(!/https?:|\ssrc=|\shref=|<script/i.test(html));
});

test('comparisonRunFromDir names a PEFT run by its registered method (lora / dora, houlsby / pfeiffer), else its peft_type', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-report-'));
  writeFileSync(join(dir, 'metrics.jsonl'), '{"loss": 0.5, "step": 1}\n');
  const named = async (strategy: Record<string, unknown>) => {
    writeFileSync(join(dir, 'training_args.json'), JSON.stringify({ strategy }));
    return (await comparisonRunFromDir(dir)).strategy;
  };
  const lora = { peft_type: 'LORA', r: 8, lora_alpha: 32, target_modules: ['query', 'value'] };
  assert.equal(await named(lora), 'lora');
  assert.equal(await named({ ...lora, use_dora: true }), 'dora');
  assert.equal(await named({ peft_type: 'BOTTLENECK', variant: 'pfeiffer' }), 'pfeiffer');
  assert.equal(await named({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 4 }), 'prompt-tuning');
  // A method registered in another process (or a config finetune cannot read): its peft_type.
  assert.equal(await named({ peft_type: 'SHIFT' }), 'shift');
  assert.equal(await named({ kind: 'top-k', k: 2 }), 'top-2');
});

test('comparison chart: the accuracy axis starts a tick below the lowest score and says so, so 0.48 and 0.62 do not look alike', () => {
  const runs = [
    { strategy: 'head', accuracy: 0.48, trainTimeSeconds: 10 },
    { strategy: 'lora', accuracy: 0.62, trainTimeSeconds: 20 },
  ];
  const svg = chartSvg(comparisonChart(runs));
  const width = (label: string, value: number): number => {
    const m = new RegExp(`data-label="${label}" data-value="${value}" x="[\\d.]+" y="[\\d.]+" width="([\\d.]+)"`).exec(
      svg,
    );
    assert.ok(m, `no bar ${label} ${value}`);
    return Number(m[1]);
  };
  // accuracy from 0.45 (ticks 0.45 … 0.65): lengths 0.03 and 0.17 of the axis, not 0.48 and 0.62
  assert.ok(
    width('lora', 0.62) / width('head', 0.48) > 5,
    `accuracy bars ${width('head', 0.48)} vs ${width('lora', 0.62)}`,
  );
  assert.ok(svg.includes('>axis from 0.45, not 0</text>'));
  assert.deepEqual(
    [...svg.matchAll(/<text [^>]*class="tick"[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]),
    ['0.45', '0.50', '0.55', '0.60', '0.65'],
  );
  // train time keeps its axis from 0: twice the time, twice the bar
  assert.ok(Math.abs(width('lora', 20) / width('head', 10) - 2) < 0.05);
  // one score: its bar still has a length, and the axis start is named
  const single = chartSvg(comparisonChart([{ strategy: 'full', accuracy: 0.5 }]));
  assert.ok(/data-value="0.5" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/.exec(single)![1] !== '1');
  assert.match(single, />axis from 0\.\d+, not 0<\/text>/);
});

test('chart kit: nice ticks, tick labels, thinning long series', () => {
  assert.deepEqual(niceTicks(0, 0.93, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(10, 300, 6).ticks, [0, 50, 100, 150, 200, 250, 300]);
  assert.deepEqual(niceTicks(2, 2, 5).ticks, [1.8, 1.9, 2, 2.1, 2.2]);
  assert.equal(formatTick(1.5e-5, 5e-6), '1.5e-5');
  assert.equal(formatTick(1e-5, 5e-6), '1e-5');
  assert.equal(formatTick(0.30000000000000004, 0.1), '0.3');
  assert.equal(formatTick(25000, 5000), '25,000');
  const points = Array.from({ length: 10000 }, (_, i) => [i + 1, Math.sin(i / 50) + (i === 5000 ? 10 : 0)] as const);
  const chart = lineChart({ title: 't', series: [{ name: 'loss', points }], maxPoints: 500 });
  const s = seriesInSvg(chartSvg(chart)).get('loss');
  assert.equal(s?.points, 10000);
  assert.ok((s?.vertices as number) <= 500 && (s?.vertices as number) > 400, `${s?.vertices} vertices`);
  assert.ok(/>10<\/text>/.test(chartSvg(chart)), 'the spike survives thinning (the y axis reaches 10)');
  assert.ok(chartSvg(chart, { standalone: true }).startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
});
