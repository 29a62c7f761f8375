/**
 * `finetune advise`: which fine-tuning strategy to start with, from the number of labelled
 * examples and of tasks (and, optionally, the model's size and how far the data is from the
 * pretraining domain), following the seed's table (§3.1):
 *
 *   tiny data (< 1k labelled examples)  → head only or LoRA (freeze most; risk of overfitting)
 *   small (1k–10k)                      → LoRA / adapters or top-k unfreezing
 *   medium (10k–100k)                   → gradual unfreezing or full fine-tuning with discriminative LRs
 *   large (> 100k)                      → full fine-tuning
 *   several tasks                       → multi-task with a shared backbone and dynamic loss weighting (or adapters per task)
 *   domain far from pretraining         → more layers trainable (same band, a method that trains more layers)
 *
 * Prints the recommendation, the reasons with the numbers used, and a `finetune train` command.
 */
import { existsSync, statSync } from 'node:fs';

import { createModel } from '../io/index.js';
import { findPreset, PretrainedCausalLM } from '../models/index.js';
import { fashionMnist, ImageFolderDataset, readTable, readTextFile, splitText } from '../data/index.js';
import { formatInteger } from '../report/format.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { detectColumns, tableReading } from './core/data.js';
import { EXIT, flagHelp, type FlagTable, type Options, optNumber, optString, UsageError } from './core/flags.js';
import { getMethod, type MethodName } from '../peft/index.js';
import { countParameters, resolveModelSource } from './core/model-source.js';
import { CONFIG_FLAG, TABLE_FLAGS } from './core/run-flags.js';
import { resolveCommandOptions, THREADS_FLAG } from './core/threads.js';

export const ADVISE_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  'train-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'labelled training data (.csv, .tsv, .jsonl): its labelled rows are counted',
  },
  'label-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the label column (default: label, labels, target, class, category)',
  },
  'text-column': { kind: 'string', arg: 'NAME', group: 'Data', help: 'the text column (only to check the file)' },
  ...TABLE_FLAGS,
  'image-folder': { kind: 'string', arg: 'DIR', group: 'Data', help: 'or: labelled images in DIR/<class>/… (counted)' },
  'fashion-mnist': { kind: 'boolean', group: 'Data', help: "or: Fashion-MNIST's 60,000 training images" },
  'text-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: "or: a causal LM's training text (.txt: its lines; .jsonl, .csv, .tsv: its rows), the texts counted",
  },
  examples: { kind: 'integer', group: 'Data', help: 'or: the number of labelled examples, given directly' },
  tasks: { kind: 'integer', group: 'Task', help: 'how many tasks share the model (default 1)' },
  domain: {
    kind: 'string',
    group: 'Task',
    choices: ['near', 'far'],
    help: 'how far the data is from the pretraining data: near (default) or far (e.g. medical text, X-rays)',
  },
  model: {
    kind: 'string',
    arg: 'PRESET|DIR|HUB_ID',
    group: 'Task',
    help: 'the model to fine-tune (for its size and the command line)',
  },
  json: { kind: 'boolean', group: 'Output', help: 'print the recommendation as JSON' },
  ...THREADS_FLAG,
};

const HELP = `Usage: finetune advise (--train-file FILE | --image-folder DIR | --fashion-mnist | --examples N) [--tasks N] [--domain near|far] [--model M] [--json]

Recommends a fine-tuning strategy from the number of labelled examples and of tasks:

  labelled examples   strategy
  < 1,000             head only or LoRA — freeze most of the model (risk of overfitting)
  1,000–10,000        LoRA / adapters, or top-k unfreezing
  10,000–100,000      gradual unfreezing, or full fine-tuning with discriminative learning rates
  > 100,000           full fine-tuning
  several tasks       multi-task: a shared backbone with dynamic loss weighting (or one adapter per task)
  far domain          more layers trainable (LoRA on every Linear layer, top-k instead of LoRA, full instead of gradual)

and prints the reasons (the numbers it used) and a finetune train command to start with.

FLAGS

Examples:
  finetune advise --train-file data/sst2/train-200.tsv --model bert-base-uncased
  finetune advise --examples 250000 --tasks 3
  finetune advise --fashion-mnist --domain far --model resnet18

EXIT`;

export function adviseHelp(): string {
  return HELP.replace('FLAGS', flagHelp(ADVISE_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

export type SizeBand = 'tiny' | 'small' | 'medium' | 'large';

export const BANDS: { band: SizeBand; range: string; below: number; strategy: string }[] = [
  { band: 'tiny', range: '< 1,000', below: 1_000, strategy: 'head only or LoRA (freeze most; risk of overfitting)' },
  { band: 'small', range: '1,000–10,000', below: 10_000, strategy: 'LoRA / adapters or top-k unfreezing' },
  {
    band: 'medium',
    range: '10,000–100,000',
    below: 100_001,
    strategy: 'gradual unfreezing or full fine-tuning with discriminative LRs',
  },
  { band: 'large', range: '> 100,000', below: Infinity, strategy: 'full fine-tuning' },
];

export function sizeBand(examples: number): SizeBand {
  return BANDS.find((b) => examples < b.below)!.band;
}

export interface Advice {
  examples: number;
  classes?: number;
  smallestClass?: number;
  tasks: number;
  domain: 'near' | 'far';
  band: SizeBand;
  method: MethodName;
  /** Extra train flags that go with the method. */
  flags: string[];
  alternatives: { method: string; flags: string[]; note: string }[];
  multiTask: boolean;
  reasons: string[];
  modelParams?: number;
}

/**
 * The recommendation for a dataset size, task count, domain and (optionally) model family and size.
 * A far domain keeps the band's kind of strategy but makes more layers trainable: LoRA on every
 * Linear layer instead of query/value, top-k unfreezing instead of LoRA, full fine-tuning with
 * discriminative rates instead of gradual unfreezing.
 */
export function advise(input: {
  examples: number;
  tasks: number;
  domain: 'near' | 'far';
  classes?: number;
  smallestClass?: number;
  cnn?: boolean;
  /** A decoder language model: no classification head to train alone, so IA3 is the smallest baseline. */
  causalLm?: boolean;
  modelParams?: number;
}): Advice {
  const { examples, tasks, domain, cnn = false } = input;
  const far = domain === 'far';
  const band = sizeBand(examples);
  const bandInfo = BANDS.find((b) => b.band === band)!;
  const reasons: string[] = [];
  const unit = input.causalLm ? 'training texts' : 'labelled examples';
  reasons.push(`${formatInteger(examples)} ${unit}: ${band} data (${bandInfo.range}) → ${bandInfo.strategy}`);
  if (input.classes !== undefined && input.classes > 0) {
    const perClass = examples / input.classes;
    reasons.push(
      `${input.classes} classes, about ${formatInteger(perClass)} examples per class${input.smallestClass !== undefined ? ` (the smallest has ${formatInteger(input.smallestClass)})` : ''}` +
        (perClass < 100 ? ': few per class, so keep the trainable part small' : ''),
    );
  }
  if (input.modelParams !== undefined) {
    const perExample = input.modelParams / Math.max(1, examples);
    reasons.push(
      `the model has ${formatInteger(input.modelParams)} parameters, ${perExample >= 1 ? `${formatInteger(perExample)} per ${unit.replace(/s$/, '')}` : `${(1 / perExample).toFixed(1)} examples per parameter`}` +
        (perExample > 1_000 && (band === 'tiny' || band === 'small')
          ? ': full fine-tuning would fit the training set long before it generalises'
          : ''),
    );
  }
  let method: MethodName;
  let flags: string[] = [];
  let farNote = '';
  const alternatives: Advice['alternatives'] = [];
  switch (band) {
    case 'tiny':
      if (far) {
        method = cnn ? 'top-k' : 'lora';
        flags = cnn ? [] : ['--target-modules', 'all-linear'];
        farNote = cnn
          ? 'the head and the top layer groups instead of the head alone'
          : 'LoRA on every Linear layer instead of query/value only';
        alternatives.push({
          method: 'head',
          flags: [],
          note: 'only the head: the fewest parameters, a baseline in seconds',
        });
      } else if (cnn) {
        method = 'head';
        alternatives.push({ method: 'lora', flags: [], note: 'LoRA on every conv layer, the head trained too' });
      } else {
        method = 'lora';
        alternatives.push({
          method: 'head',
          flags: [],
          note: 'only the head: the fewest parameters, a baseline in seconds',
        });
      }
      break;
    case 'small':
      if (far) {
        method = 'top-k';
        farNote = 'top-k unfreezing (whole layers) rather than low-rank updates';
        alternatives.push({
          method: 'lora',
          flags: cnn ? [] : ['--target-modules', 'all-linear'],
          note: cnn ? 'LoRA on every conv layer' : 'LoRA on every Linear layer',
        });
      } else {
        method = 'lora';
        alternatives.push({ method: 'houlsby', flags: [], note: 'bottleneck adapters (Houlsby), reduction 16' });
        alternatives.push({
          method: 'top-k',
          flags: [],
          note: 'unfreeze the head and the top quarter of the layer groups',
        });
      }
      break;
    case 'medium':
      if (far) {
        method = 'full';
        flags = ['--discriminative-lr', '2.6'];
        farNote =
          'every layer from the start (discriminative rates keep the lower ones gentle) rather than unfreezing gradually';
        alternatives.push({
          method: 'gradual',
          flags: [],
          note: 'gradual unfreezing, one layer group per epoch (ULMFiT)',
        });
      } else {
        method = 'gradual';
        alternatives.push({
          method: 'full',
          flags: ['--discriminative-lr', '2.6'],
          note: 'full fine-tuning with discriminative learning rates (÷2.6 per layer group, ULMFiT)',
        });
      }
      break;
    default:
      method = 'full';
      if (far) farNote = 'full fine-tuning already trains every layer';
      alternatives.push({
        method: 'lora',
        flags: [],
        note: 'LoRA, when memory or storage per task matters more than the last point of accuracy',
      });
  }
  if (input.causalLm)
    alternatives.forEach((alt, i) => {
      if (alt.method === 'head')
        alternatives[i] = {
          method: 'ia3',
          flags: [],
          note: 'IA3: the fewest trainable parameters (scalings of keys, values and the MLP), a baseline',
        };
    });
  if (far) reasons.push(`domain far from pretraining: more layers trainable → ${farNote}`);
  const multiTask = tasks > 1;
  if (multiTask) {
    reasons.push(
      `${tasks} tasks: a multi-task model — one shared backbone, a head per task, losses weighted dynamically (optim.MultiTaskLoss 'uncertainty' or 'dwa'; ` +
        `PCGrad for conflicting gradients) — or one adapter per task on a frozen shared backbone (finetune train --method ${getMethod(method).updatesPretrainedWeights ? 'houlsby' : method} per task)`,
    );
  }
  return {
    examples,
    classes: input.classes,
    smallestClass: input.smallestClass,
    tasks,
    domain,
    band,
    method,
    flags,
    alternatives,
    multiTask,
    reasons,
    modelParams: input.modelParams,
  };
}

/** Counts the labelled examples (and classes) of the data flags. */
async function countExamples(
  options: Options,
): Promise<{ examples: number; classes?: number; smallestClass?: number; source: string; dataFlags: string[] }> {
  const given = [
    options['train-file'],
    options['text-file'],
    options['image-folder'],
    options['fashion-mnist'] === true ? true : undefined,
    options.examples,
  ].filter((v) => v !== undefined);
  if (given.length === 0)
    throw new UsageError(
      'give the data: --train-file FILE, --text-file FILE, --image-folder DIR, --fashion-mnist or --examples N',
    );
  if (given.length > 1)
    throw new UsageError('give one of --train-file, --text-file, --image-folder, --fashion-mnist, --examples');
  const fromCounts = (counts: Map<string, number>) => {
    const values = [...counts.values()];
    return { classes: counts.size, smallestClass: values.length ? Math.min(...values) : undefined };
  };
  const examples = optNumber(options, 'examples');
  if (examples !== undefined) {
    if (!(Number.isInteger(examples) && examples >= 0))
      throw new UsageError(`--examples must be an integer ≥ 0, got ${examples}`);
    return { examples, source: '--examples', dataFlags: ['--train-file', '<file>'] };
  }
  const textFile = optString(options, 'text-file');
  if (textFile !== undefined) {
    if (!existsSync(textFile) || statSync(textFile).isDirectory())
      throw new UsageError(`--text-file: ${textFile} does not exist or is a folder`);
    // As finetune train reads it: a table's rows, else a plain text's lines.
    const table = /\.(csv|tsv|tab|jsonl|ndjson|json)$/i.test(textFile);
    const texts = table
      ? (await readTable(textFile, tableReading(options))).rows.length
      : splitText(await readTextFile(textFile, optString(options, 'encoding'))).length;
    return {
      examples: texts,
      source: `${textFile} (${table ? 'rows' : 'lines'})`,
      dataFlags: ['--text-file', textFile],
    };
  }
  const file = optString(options, 'train-file');
  if (file !== undefined) {
    if (!existsSync(file) || statSync(file).isDirectory())
      throw new UsageError(`--train-file: ${file} does not exist or is a folder`);
    const table = await readTable(file, tableReading(options));
    const columns = detectColumns(table, {
      label: optString(options, 'label-column'),
      text: optString(options, 'text-column'),
    });
    const counts = new Map<string, number>();
    let labelled = 0;
    for (const row of table.rows) {
      const value = row.values[columns.label];
      if (value === undefined || value === null || value === '') continue;
      labelled++;
      const key = typeof value === 'object' ? JSON.stringify(value) : String(value);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const unlabelled = table.rows.length - labelled;
    return {
      examples: labelled,
      ...fromCounts(counts),
      source: `${file} (label column '${columns.label}'${unlabelled ? `; ${unlabelled} rows without a label not counted` : ''})`,
      dataFlags: ['--train-file', file],
    };
  }
  const folder = optString(options, 'image-folder');
  if (folder !== undefined) {
    if (!existsSync(folder)) throw new UsageError(`--image-folder: ${folder} does not exist`);
    const root = existsSync(`${folder}/train`) ? `${folder}/train` : folder;
    const images = ImageFolderDataset.fromFolder(root, { verify: 'none' });
    const counts = new Map<string, number>();
    for (const s of images.samples)
      counts.set(images.classNames[s.label], (counts.get(images.classNames[s.label]) ?? 0) + 1);
    return { examples: images.length, ...fromCounts(counts), source: root, dataFlags: ['--image-folder', folder] };
  }
  const fm = fashionMnist({ split: 'train' });
  const counts = new Map<string, number>();
  for (const label of fm.targets) counts.set(String(label), (counts.get(String(label)) ?? 0) + 1);
  return { examples: fm.length, ...fromCounts(counts), source: 'Fashion-MNIST train', dataFlags: ['--fashion-mnist'] };
}

export async function runAdvise(argv: string[]): Promise<number> {
  return runCommand('advise', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, ADVISE_FLAGS);
    if (wantsHelp) {
      console.log(adviseHelp());
      return EXIT.ok;
    }
    const tasks = optNumber(options, 'tasks') ?? 1;
    if (!(Number.isInteger(tasks) && tasks >= 1))
      throw new UsageError(`--tasks must be a positive integer, got ${tasks}`);
    const domain = (optString(options, 'domain') ?? 'near') as 'near' | 'far';
    const counted = await countExamples(options);
    const modelArg = optString(options, 'model');
    let modelParams: number | undefined;
    let cnn = options['image-folder'] !== undefined || options['fashion-mnist'] === true;
    let causalLm = false;
    let modelLine = '';
    if (modelArg) {
      const source = await resolveModelSource(modelArg);
      cnn = source.modelType === 'resnet' || source.modelType === 'alexnet';
      // Counting needs the model's shapes only: build it from its config (random weights, nothing loaded).
      const architecture =
        source.modelType === 'bert'
          ? 'BertForSequenceClassification'
          : source.modelType === 'vit'
            ? 'ViTForImageClassification'
            : undefined;
      const numLabels = architecture ? (counted.classes ?? 2) : (counted.classes ?? undefined);
      const model = createModel(source.config, {
        architecture,
        numLabels,
        configSource: source.configFile ?? `--model ${modelArg}`,
      });
      modelParams = countParameters(model).total;
      causalLm = model instanceof PretrainedCausalLM;
      modelLine = `${modelArg}: ${model.constructor.name}, ${formatInteger(modelParams)} parameters${findPreset(modelArg) ? ' (preset)' : ''}`;
      model.dispose();
    }
    const advice = advise({
      examples: counted.examples,
      tasks,
      domain,
      classes: counted.classes,
      smallestClass: counted.smallestClass,
      cnn,
      causalLm,
      modelParams,
    });
    // A causal LM reads its text from --text-file (--train-file is the same there, but names a labelled table elsewhere).
    const dataFlags = causalLm
      ? counted.dataFlags.map((f) => (f === '--train-file' ? '--text-file' : f))
      : counted.dataFlags;
    const command = [
      'finetune train',
      '--model',
      modelArg ?? '<model>',
      ...dataFlags,
      '--method',
      advice.method,
      ...advice.flags,
    ].join(' ');
    if (options.json === true) {
      console.log(JSON.stringify({ ...advice, source: counted.source, model: modelArg ?? null, command }, null, 2));
      return EXIT.ok;
    }
    console.log(
      `data: ${formatInteger(counted.examples)} ${causalLm ? 'training texts' : 'labelled examples'} from ${counted.source}`,
    );
    if (modelLine) console.log(`model: ${modelLine}`);
    console.log(`tasks: ${tasks}; domain: ${domain}`);
    console.log('');
    const chosen = `${advice.method}${advice.flags.length ? ` (${advice.flags.join(' ')})` : ''}`;
    console.log(
      advice.multiTask
        ? `recommendation: multi-task — one shared backbone fine-tuned with ${chosen}, a head per task, dynamic loss weighting; or one adapter per task`
        : `recommendation: ${chosen}`,
    );
    for (const alt of advice.alternatives)
      console.log(`  or: ${alt.method}${alt.flags.length ? ` ${alt.flags.join(' ')}` : ''} — ${alt.note}`);
    console.log('');
    console.log('why:');
    for (const reason of advice.reasons) console.log(`  - ${reason}`);
    console.log('');
    console.log('the table (labelled examples → strategy):');
    for (const b of BANDS)
      console.log(`  ${b.range.padEnd(15)} ${b.strategy}${b.band === advice.band ? '   ← this data' : ''}`);
    console.log(
      `  ${'several tasks'.padEnd(15)} multi-task with shared backbone and dynamic loss weighting (or adapters per task)${advice.multiTask ? '   ← this task' : ''}`,
    );
    console.log(`  ${'far domain'.padEnd(15)} more layers trainable${domain === 'far' ? '   ← this data' : ''}`);
    console.log('');
    console.log(`start with:\n  ${command}`);
    const methods = [advice.method, ...advice.alternatives.map((a) => a.method)];
    console.log(
      `then compare a few with: finetune compare … --methods ${methods.join(',')}${causalLm ? ' (ranked by perplexity)' : ''}`,
    );
    return EXIT.ok;
  });
}
