/**
 * The commands of `finetune`, one entry each: the name users type (and its aliases), the line of the
 * overview, the function that runs it and its --help (from its flag table). main.ts dispatches on it;
 * tools/gen-cli-docs.ts writes docs/cli-reference.md from it.
 */
import { adviseHelp, runAdvise } from './advise.js';
import { compareHelp, runCompare } from './compare.js';
import { demoHelp, runDemo } from './demo.js';
import { doctorHelp, runDoctor } from './doctor.js';
import { evalHelp, runEval } from './eval.js';
import { generateHelp, runGenerate } from './generate.js';
import { inspectHelp, runInspect } from './inspect.js';
import { launchHelp, runLaunch } from './launch.js';
import { lrFindHelp, runLrFind } from './lr-find.js';
import { mergeHelp, runMerge } from './merge.js';
import { predictHelp, runPredict } from './predict.js';
import { pretrainHelp, runPretrain } from './pretrain.js';
import { runSchedule, scheduleHelp } from './schedule.js';
import { runSetup, setupHelp } from './setup.js';
import { runTrain, trainHelp } from './train.js';
import { version } from '../install/package.js';

export interface Command {
  name: string;
  aliases?: readonly string[];
  /** One line for `finetune --help`. */
  summary: string;
  run: (argv: string[]) => Promise<number> | number;
  /** What `finetune <name> --help` prints. */
  help: () => string;
}

export const COMMANDS: readonly Command[] = [
  {
    name: 'demo',
    summary:
      'The main job: pretrain a small CNN and ViT on 5 Fashion-MNIST classes, fine-tune on 5 others with every strategy, compare',
    run: runDemo,
    help: demoHelp,
  },
  {
    name: 'doctor',
    summary: 'Print libtorch location and version, threads, devices and addon build facts',
    run: runDoctor,
    help: doctorHelp,
  },
  {
    name: 'setup',
    summary:
      'Find or install libtorch and put the native addon in place (npm install does it; --libtorch DIR | --cuda 12.8)',
    run: runSetup,
    help: setupHelp,
  },
  {
    name: 'inspect',
    summary: 'Trainable vs total parameters of each fine-tuning strategy for a model (--model <preset|dir>)',
    run: runInspect,
    help: inspectHelp,
  },
  {
    name: 'schedule',
    summary: "Print a learning-rate schedule's curve (--name cosine --steps 1000 --warmup 0.1 [--out curve.csv])",
    run: runSchedule,
    help: scheduleHelp,
  },
  {
    name: 'pretrain',
    summary:
      'Masked-language-model pretraining of a BERT on unlabelled text; saved in HF format (--model bert-mini --text-file FILE --output-dir DIR)',
    run: runPretrain,
    help: pretrainHelp,
  },
  {
    name: 'train',
    summary:
      'Fine-tune a model on a labelled file or image folder (--model --train-file --method …; TrainingArguments as flags)',
    run: runTrain,
    help: trainHelp,
  },
  {
    name: 'eval',
    aliases: ['evaluate'],
    summary: 'Metrics of a trained model (or base + adapter) on labelled data (--model DIR --eval-file FILE [--json])',
    run: runEval,
    help: evalHelp,
  },
  {
    name: 'predict',
    summary: 'Labels with scores for texts or images (--model DIR --text "…" | --file FILE | IMAGE…)',
    run: runPredict,
    help: predictHelp,
  },
  {
    name: 'generate',
    summary:
      'Continue a prompt with a decoder LM (GPT-2, Llama), streaming the text (--model DIR [--adapter DIR] --prompt "…")',
    run: runGenerate,
    help: generateHelp,
  },
  {
    name: 'merge',
    summary: 'Fold an adapter into its base model and save a plain checkpoint (--adapter DIR --output-dir DIR)',
    run: runMerge,
    help: mergeHelp,
  },
  {
    name: 'compare',
    summary:
      'Train several methods with the same budget and seed; print and chart the trade-offs (--methods full,head,lora)',
    run: runCompare,
    help: compareHelp,
  },
  {
    name: 'launch',
    summary:
      "Run your own script on several processes or machines with torchrun's variables (--nproc-per-node N script.js …)",
    run: runLaunch,
    help: launchHelp,
  },
  {
    name: 'advise',
    summary: 'Recommend a strategy from the number of labelled examples and tasks (--train-file FILE [--tasks N])',
    run: runAdvise,
    help: adviseHelp,
  },
  {
    name: 'lr-find',
    aliases: ['lr_find'],
    summary: "The learning-rate range test on train's model, method and data; suggestions + plot",
    run: runLrFind,
    help: lrFindHelp,
  },
];

/** The command a name (or alias) names, or undefined. */
export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((command) => command.name === name || command.aliases?.includes(name));
}

/** What `finetune --help` prints: every command's line, the exit codes and examples. */
export function overview(): string {
  return `finetune ${version}: fine-tune pretrained neural networks on libtorch

Usage:
${COMMANDS.map((command) => `  finetune ${command.name.padEnd(11)} ${command.summary}`).join('\n')}
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
  finetune lr-find --model bert-tiny --train-file data/sst2/train-200.tsv --method lora
  finetune launch --nproc-per-node 2 train.js`;
}
