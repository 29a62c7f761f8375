#!/usr/bin/env node
/**
 * The `finetune` command line. `main(argv)` runs one command in-process, for scripts that register a
 * fine-tuning method first (docs/adding-a-method.md); run as a program, this file runs process.argv's.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { runInspect } from './inspect.js';
import { runSchedule } from './schedule.js';
import { runPretrain } from './pretrain.js';
import { runTrain } from './train.js';
import { runEval } from './eval.js';
import { runPredict } from './predict.js';
import { runMerge } from './merge.js';
import { runCompare } from './compare.js';
import { runAdvise } from './advise.js';
import { runLrFind } from './lr-find.js';
import { version } from '../index.js';

const USAGE = `finetune ${version}: fine-tune pretrained neural networks on libtorch

Usage:
  finetune demo        The main job: pretrain a small CNN and ViT on 5 Fashion-MNIST classes, fine-tune on 5 others with every strategy, compare
  finetune doctor      Print libtorch location and version, threads, devices and addon build facts
  finetune inspect     Trainable vs total parameters of each fine-tuning strategy for a model (--model <preset|dir>)
  finetune schedule    Print a learning-rate schedule's curve (--name cosine --steps 1000 --warmup 0.1 [--out curve.csv])
  finetune pretrain    Masked-language-model pretraining of a BERT on unlabelled text; saved in HF format (--model bert-mini --text-file FILE --output-dir DIR)
  finetune train       Fine-tune a model on a labelled file or image folder (--model --train-file --method …; TrainingArguments as flags)
  finetune eval        Metrics of a trained model (or base + adapter) on labelled data (--model DIR --eval-file FILE [--json])
  finetune predict     Labels with scores for texts or images (--model DIR --text "…" | --file FILE | IMAGE…)
  finetune merge       Fold an adapter into its base model and save a plain checkpoint (--adapter DIR --output-dir DIR)
  finetune compare     Train several methods with the same budget and seed; print and chart the trade-offs (--methods full,head,lora)
  finetune advise      Recommend a strategy from the number of labelled examples and tasks (--train-file FILE [--tasks N])
  finetune lr-find     The learning-rate range test on train's model, method and data; suggestions + plot
  finetune --version   Print the version

Each command's --help lists its flags. train, eval, predict, merge, compare and lr-find take --config run.yaml
(the flags as keys). Exit codes: 0 ok, 1 runtime error (a bad data file names file:line), 2 usage error,
3 training stopped on a NaN/Inf loss.

Examples:
  finetune doctor
  finetune demo --quick --models vit
  finetune inspect --model bert-base-uncased --method lora
  finetune schedule --name cosine --steps 1000 --warmup 0.1 --lr 2e-5
  finetune train --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv --method lora --output-dir runs/lora
  finetune eval --model runs/lora --eval-file data/sst2/dev.tsv
  finetune predict --model runs/lora --text "a gripping, beautifully acted film"
  finetune merge --adapter runs/lora --output-dir runs/lora-merged
  finetune compare --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv --methods full,head,lora --max-steps 50
  finetune advise --train-file data/sst2/train-200.tsv --model bert-base-uncased
  finetune lr-find --model bert-tiny --train-file data/sst2/train-200.tsv --method lora`;

/** Runs the command `argv` names (without 'finetune': ['train', '--model', …]); resolves to its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case '--version':
    case '-v':
      console.log(version);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return 0;
    case 'doctor':
      return runDoctor(rest);
    case 'demo':
      return runDemo(rest);
    case 'inspect':
      return runInspect(rest);
    case 'schedule':
      return runSchedule(rest);
    case 'pretrain':
      return runPretrain(rest);
    case 'train':
      return runTrain(rest);
    case 'eval':
    case 'evaluate':
      return runEval(rest);
    case 'predict':
      return runPredict(rest);
    case 'merge':
      return runMerge(rest);
    case 'compare':
      return runCompare(rest);
    case 'advise':
      return runAdvise(rest);
    case 'lr-find':
    case 'lr_find':
      return runLrFind(rest);
    default:
      console.error(`finetune: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

/** Whether this file is the program node runs (`finetune …`, `node dist/cli/main.js …`), not a module a script imported. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  const self = fileURLToPath(import.meta.url);
  // node resolves `node dist/cli/main` to main.js, and the npm bin is a link to it.
  return [script, `${script}.js`].some((path) => {
    try {
      return realpathSync(path) === self;
    } catch {
      return false;
    }
  });
}

if (isProgram()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`finetune: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
