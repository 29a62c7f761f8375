/**
 * TrainingArguments derives its options, fields, defaults, known keys and training_args.json from
 * one table (TRAINING_SETTINGS): the JSON keeps HF's names, order and defaults, derived defaults
 * follow the settings they come from, and a setting's flag carries its kind and default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TrainingArguments, TRAINING_SETTINGS } from '../src/train/training-args.js';
import { TRAIN_FLAGS } from '../src/cli/core/run-flags.js';

test("training_args.json: every setting under HF's snake_case name, in the table's order, with its default", () => {
  assert.deepEqual(Object.entries(new TrainingArguments().toJson()), [
    ['output_dir', 'trainer_output'],
    ['num_train_epochs', 3],
    ['max_steps', -1],
    ['per_device_train_batch_size', 8],
    ['per_device_eval_batch_size', 8],
    ['learning_rate', null],
    ['weight_decay', 0],
    ['adam_beta1', 0.9],
    ['adam_beta2', 0.999],
    ['adam_epsilon', 1e-8],
    ['sgd_momentum', 0],
    ['optim', 'adamw_torch'],
    ['lr_scheduler_type', 'linear'],
    ['lr_scheduler_kwargs', {}],
    ['warmup_steps', 0],
    ['warmup_ratio', 0],
    ['gradient_accumulation_steps', 1],
    ['max_grad_norm', 1],
    ['eval_strategy', 'no'],
    ['eval_steps', 500],
    ['save_strategy', 'steps'],
    ['save_steps', 500],
    ['save_total_limit', null],
    ['logging_strategy', 'steps'],
    ['logging_steps', 500],
    ['logging_first_step', false],
    ['device', 'auto'],
    ['seed', 42],
    ['data_seed', null],
    ['load_best_model_at_end', false],
    ['metric_for_best_model', null],
    ['greater_is_better', null],
    ['gradient_checkpointing', false],
    ['padding_free', true],
    ['sample_prompts', []],
    ['sample_max_new_tokens', 20],
    ['bf16', false],
    ['fp16', false],
    ['cache_frozen_features', false],
    ['label_smoothing_factor', 0],
    ['resume_from_checkpoint', null],
    ['dataloader_drop_last', false],
    ['dataloader_prefetch', 2],
    ['ddp_find_unused_parameters', false],
    ['ddp_bucket_cap_mb', null],
    ['ddp_broadcast_buffers', true],
    ['disable_tqdm', false],
    ['strategy', null],
    ['train_batch_norm', true],
    ['discriminative_lr', null],
    ['layerwise_lr_decay', null],
    ['weight_decay_rule', 'hf'],
    ['nan_policy', 'stop'],
    ['early_stopping_patience', null],
    ['early_stopping_threshold', 0],
    ['threads', null],
  ]);
  assert.deepEqual(Object.keys(new TrainingArguments()), Object.keys(TRAINING_SETTINGS));
});

test('derived defaults follow the settings they come from; given values and copies win', () => {
  const kwargs = { numCycles: 0.5 };
  const args = new TrainingArguments({
    loggingSteps: 7,
    earlyStoppingPatience: 2,
    evalStrategy: 'epoch',
    lrSchedulerKwargs: kwargs,
  });
  assert.equal(args.evalSteps, 7);
  assert.equal(args.metricForBestModel, 'loss');
  assert.equal(args.greaterIsBetter, false);
  assert.deepEqual(args.lrSchedulerKwargs, kwargs);
  assert.notEqual(args.lrSchedulerKwargs, kwargs);
  const accuracy = new TrainingArguments({ metricForBestModel: 'accuracy', evalSteps: null, loggingSteps: 9 });
  assert.equal(accuracy.greaterIsBetter, true);
  assert.equal(accuracy.evalSteps, 9);
  assert.equal(TrainingArguments.fromJson(accuracy.toJson()).evalSteps, 9);
});

test('the known-keys check and each setting check name the setting', () => {
  assert.throws(
    () => new TrainingArguments({ learningrate: 1 } as never),
    /^Error: TrainingArguments: unknown option\(s\) learningrate \(known: outputDir, numTrainEpochs, maxSteps, /,
  );
  assert.throws(
    () => new TrainingArguments({ perDeviceTrainBatchSize: 0 }),
    /TrainingArguments: perDeviceTrainBatchSize must be a positive integer, got 0/,
  );
  assert.throws(
    () => new TrainingArguments({ learningRate: null as never }),
    /learningRate must be a number > 0, got null \(leave it out for the strategy's default\)/,
  );
  assert.throws(
    () => new TrainingArguments({ maxSteps: 0 }),
    /maxSteps must be a positive integer, or -1 to train numTrainEpochs, got 0/,
  );
  assert.throws(
    () => new TrainingArguments({ warmupSteps: 2, warmupRatio: 0.1 }),
    /give warmupSteps \(2\) or warmupRatio \(0\.1\), not both/,
  );
});

test("a setting's flag: kind, choices and the setting it sets; CLI-only forms set none", () => {
  assert.deepEqual(TRAIN_FLAGS['per-device-train-batch-size'], {
    kind: 'integer',
    group: 'Training',
    help: 'batch size (default 8)',
    trainingArg: 'perDeviceTrainBatchSize',
  });
  assert.deepEqual(TRAIN_FLAGS.optim.choices, ['adamw_torch', 'adamw_torch_fused', 'adam', 'sgd']);
  assert.equal(TRAIN_FLAGS['train-bn'].trainingArg, 'trainBatchNorm');
  assert.equal(TRAIN_FLAGS['discriminative-lr'].trainingArg, undefined);
  assert.equal(TRAIN_FLAGS['dataloader-prefetch'], undefined);
  assert.match(TRAIN_FLAGS['data-seed'].help, /\(default: --seed\)$/);
});
