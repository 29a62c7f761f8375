#!/usr/bin/env node
/** The `finetune` command line. */
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { runInspect } from './inspect.js';
import { runSchedule } from './schedule.js';
import { version } from '../index.js';

const USAGE = `finetune ${version}: fine-tune pretrained neural networks on libtorch

Usage:
  finetune demo        Train a small MLP on synthetic data and print the loss falling
  finetune doctor      Print libtorch location and version, threads, devices and addon build facts
  finetune inspect     Trainable vs total parameters of each fine-tuning strategy for a model (--model <preset|dir>)
  finetune schedule    Print a learning-rate schedule's curve (--name cosine --steps 1000 --warmup 0.1 [--out curve.csv])
  finetune --version   Print the version

Examples:
  finetune doctor
  finetune demo --steps 200
  finetune inspect --model bert-base-uncased --method lora
  finetune schedule --name cosine --steps 1000 --warmup 0.1 --lr 2e-5`;

async function main(argv: string[]): Promise<number> {
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
    default:
      console.error(`finetune: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`finetune: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
