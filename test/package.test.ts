// The package as a user gets it: `npm pack`, then `npm install ./finetune-<version>.tgz` into fresh projects outside
// the repository, with an empty per-user cache. The first install finds no libtorch, installs the pinned wheel with
// pip into the cache and builds the addon; the second reuses both; an install where libtorch cannot be found
// completes, and the first import says what to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.cwd();
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const devVersions = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

/** The environment of a user's shell: no LIBTORCH or addon override, no npm variables of the running `npm test`. */
function userEnv(cache: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|LIBTORCH|FINETUNE_)/i.test(key)) env[key] = value;
  }
  return { ...env, XDG_CACHE_HOME: cache, ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 900_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, all: result.stdout + result.stderr };
}

/** A fresh project folder with a package.json, as `npm init -y` makes it. */
function newProject(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  return dir;
}

function npmInstall(project: string, env: NodeJS.ProcessEnv, ...specs: string[]) {
  const install = run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', ...specs],
    project,
    env,
  );
  assert.equal(install.code, 0, `npm install in ${project}:\n${install.all}`);
  return install;
}

/** Every file under `dir` named `name`. */
function findFiles(dir: string, name: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name === name)
    .map((entry) => join(entry.parentPath, entry.name));
}

const TRAIN_SCRIPT = `
import { createModel, data, fromPretrained, savePretrained, tensor, LoraConfig, manualSeed, Trainer, TrainingArguments } from 'finetune';
manualSeed(0);
await savePretrained(createModel('bert-tiny', { architecture: 'BertForSequenceClassification', numLabels: 2 }), 'base');
const tokenizer = data.Tokenizer.fromFile('node_modules/finetune/data/bert-base-uncased/tokenizer.json');
const reviews = await data.TextClassificationDataset.fromFile('reviews.csv', { textColumn: 'text', labelColumn: 'label', tokenizer, maxLength: 16 });
const args = new TrainingArguments({ outputDir: 'run', maxSteps: 6, perDeviceTrainBatchSize: 4, learningRate: 1e-3,
  strategy: new LoraConfig({ taskType: 'SEQ_CLS', targetModules: ['query', 'value'] }) });
const trainer = new Trainer({ model: await fromPretrained('base', { numLabels: 2 }), args, trainDataset: reviews });
await trainer.train();
await trainer.model.savePretrained('adapter');
const ids = tensor([[101, 2307, 3185, 102]], { dtype: 'int64' });
console.log(JSON.stringify(trainer.model.eval().forward({ inputIds: ids }).logits.toArray()));
`;

// In a fresh process: the saved base + adapter give the trained model's outputs.
const RELOAD_SCRIPT = `
import { fromPretrained, loadPeftModel, tensor } from 'finetune';
const model = await loadPeftModel(await fromPretrained('base', { numLabels: 2 }), 'adapter');
const ids = tensor([[101, 2307, 3185, 102]], { dtype: 'int64' });
console.log(JSON.stringify(model.forward({ inputIds: ids }).logits.toArray()));
`;

const TYPED_CONSUMER = `
import { fromPretrained, getPeftModel, LoraConfig, Trainer, TrainingArguments, type TaskType } from 'finetune';

const taskType: TaskType = 'SEQ_CLS';
const model = await fromPretrained('base', { numLabels: 2 });
const peftModel = getPeftModel(model, new LoraConfig({ taskType, r: 4, targetModules: ['query', 'value'] }));
const trainer: Trainer = new Trainer({ model: peftModel, args: new TrainingArguments({ outputDir: 'out', maxSteps: 1 }) });
const steps: number = trainer.args.maxSteps;
console.log(steps);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: ['node'],
  },
};

test(
  'npm install of the packed tarball gives a working library, CLI and types, and shares libtorch',
  { timeout: 1_800_000 },
  () => {
    const work = mkdtempSync(join(tmpdir(), 'finetune-package-'));
    try {
      const cache = join(work, 'cache');
      // What the tarball carries: the library, the addon's sources, the install step and the tokenizer; no tests,
      // fixtures, benchmarks, tools, TypeScript sources or source maps.
      const dry = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root, userEnv(cache));
      assert.equal(dry.code, 0, dry.all);
      const files = (JSON.parse(dry.stdout) as { files: { path: string }[] }[])[0].files.map((file) => file.path);
      for (const needed of [
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'dist/install/install-script.js',
        'native/src/addon.cc',
        'binding.gyp',
        'scripts/install.mjs',
        'data/bert-base-uncased/tokenizer.json',
      ]) {
        assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
      }
      const unwanted = files.filter((path) =>
        /^(test|bench|tools|src|docs|examples|\.deps|build)\/|\.map$|^data\/sst2/.test(path),
      );
      assert.deepEqual(unwanted, []);

      const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root, userEnv(cache));
      assert.equal(pack.code, 0, pack.all);
      const tarball = join(work, `finetune-${version}.tgz`);
      assert.ok(existsSync(tarball), pack.all);

      // First project: nothing cached, so the install installs the pinned wheel with pip and builds the addon.
      const first = newProject(work, 'first');
      writeFileSync(
        join(first, 'reviews.csv'),
        'text,label\n' + 'a fine film,1\na dull mess,0\ngreat acting,1\nboring plot,0\n'.repeat(4),
      );
      const firstInstall = npmInstall(
        first,
        userEnv(cache),
        tarball,
        `typescript@${devVersions.devDependencies.typescript}`,
        `@types/node@${devVersions.devDependencies['@types/node']}`,
      );
      const wheel = join(cache, 'finetune', 'libtorch-2.13.0+cpu');
      assert.match(firstInstall.all, /installing torch==2\.13\.0\+cpu/);
      assert.match(firstInstall.all, /building the native addon against/);
      assert.ok(existsSync(join(wheel, 'torch', 'lib', 'libtorch_cpu.so')), firstInstall.all);

      const env = userEnv(cache);
      const versionRun = run('npx', ['finetune', '--version'], first, env);
      assert.equal(versionRun.code, 0, versionRun.all);
      assert.equal(versionRun.stdout.trim(), version);

      const doctor = run('npx', ['finetune', 'doctor', '--json'], first, env);
      assert.equal(doctor.code, 0, doctor.all);
      const facts = JSON.parse(doctor.stdout) as {
        libtorch: string;
        libtorchSource: string;
        addon: string;
        addonSource: string;
      };
      assert.equal(facts.libtorch, join(wheel, 'torch'));
      assert.equal(facts.libtorchSource, "installed with pip into finetune's shared cache");
      assert.equal(facts.addon, join(first, 'node_modules', 'finetune', 'build', 'Release', 'finetune.node'));
      assert.match(facts.addonSource, /^built from source at install/);

      const inspect = run('npx', ['finetune', 'inspect', '--model', 'bert-tiny', '--method', 'lora'], first, env);
      assert.equal(inspect.code, 0, inspect.all);
      assert.match(inspect.stdout, /trainable params: 8,450 \|\| all params: 4,394,628 \|\| trainable%: 0\.1923/);

      writeFileSync(join(first, 'train.mjs'), TRAIN_SCRIPT);
      const trained = run(process.execPath, ['train.mjs'], first, env);
      assert.equal(trained.code, 0, trained.all);
      assert.deepEqual(readdirSync(join(first, 'adapter')).sort(), [
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
      writeFileSync(join(first, 'reload.mjs'), RELOAD_SCRIPT);
      const reloaded = run(process.execPath, ['reload.mjs'], first, env);
      assert.equal(reloaded.code, 0, reloaded.all);
      const trainedLogits = JSON.parse(trained.stdout.trim().split('\n').at(-1)!) as number[][];
      assert.equal(trainedLogits[0].length, 2);
      assert.deepEqual(JSON.parse(reloaded.stdout.trim()), trainedLogits);

      // A TypeScript consumer: the package's types resolve and check; a wrong option type is an error.
      writeFileSync(join(first, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, include: ['consumer.ts'] }));
      writeFileSync(join(first, 'consumer.ts'), TYPED_CONSUMER);
      const tsc = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], first, env);
      assert.equal(tsc.code, 0, tsc.all);
      writeFileSync(join(first, 'consumer.ts'), TYPED_CONSUMER.replace('r: 4', "r: 'four'"));
      const wrong = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], first, env);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stdout, /consumer\.ts\(6,.*Type 'string' is not assignable to type 'number'/);

      // Second project: libtorch and the addon come from the cache — no pip, no compiler, no second copy.
      const second = newProject(work, 'second');
      const secondInstall = npmInstall(second, userEnv(cache), tarball);
      assert.doesNotMatch(secondInstall.all, /installing torch==|building the native addon/);
      assert.match(secondInstall.all, /reusing the native addon built earlier for this libtorch/);
      const secondDoctor = run('npx', ['finetune', 'doctor', '--json'], second, env);
      assert.equal(secondDoctor.code, 0, secondDoctor.all);
      const secondFacts = JSON.parse(secondDoctor.stdout) as typeof facts;
      assert.equal(secondFacts.libtorch, join(wheel, 'torch'));
      assert.equal(secondFacts.libtorchSource, "finetune's shared cache");
      assert.match(secondFacts.addonSource, /^copied from finetune's cache/);
      assert.deepEqual(findFiles(join(second, 'node_modules'), 'libtorch_cpu.so'), []);
      assert.deepEqual(
        readdirSync(join(cache, 'finetune')).filter((name) => name.startsWith('libtorch-')),
        ['libtorch-2.13.0+cpu'],
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'an install that cannot find libtorch completes, and the first import says what to run',
  { timeout: 600_000 },
  () => {
    const work = mkdtempSync(join(tmpdir(), 'finetune-package-'));
    try {
      const cache = join(work, 'empty-cache');
      const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root, userEnv(cache));
      assert.equal(pack.code, 0, pack.all);
      // No Python to ask for torch, pip forbidden, an empty cache.
      const env = userEnv(cache, { FINETUNE_NO_PIP: '1', FINETUNE_PYTHON: join(work, 'no-python') });
      const project = newProject(work, 'offline');
      const install = npmInstall(project, env, join(work, `finetune-${version}.tgz`));
      assert.match(install.all, /the install could not finish: libtorch 2\.13\.0 was not found/);

      const imported = run(process.execPath, ['-e', "await import('finetune')"], project, env);
      assert.equal(imported.code, 1);
      assert.match(
        imported.stderr,
        /finetune: the native addon is not installed: libtorch 2\.13\.0 was not found \(no LIBTORCH, no Python torch 2\.13\.0, nothing in .*empty-cache\/finetune\/libtorch-2\.13\.0\+cpu\/torch\) and FINETUNE_NO_PIP=1 forbids installing it\. To finish the install: set LIBTORCH to an unpacked libtorch 2\.13\.0, or unset FINETUNE_NO_PIP, then run `npx finetune setup`/,
      );
      // The CLI still answers --version and setup, and setup repeats the reason with exit code 1.
      assert.equal(run('npx', ['finetune', '--version'], project, env).stdout.trim(), version);
      const setup = run('npx', ['finetune', 'setup'], project, env);
      assert.equal(setup.code, 1, setup.all);
      assert.match(setup.stderr, /FINETUNE_NO_PIP=1 forbids installing it\nTo fix: set LIBTORCH/);
      const badFlag = run('npx', ['finetune', 'setup', '--cuda', 'twelve'], project, env);
      assert.equal(badFlag.code, 2);
      assert.match(badFlag.stderr, /--cuda twelve: expected a CUDA version such as 12\.8/);

      // An install with --ignore-scripts never ran the step: the import names `npx finetune setup`.
      const skipped = newProject(work, 'skipped');
      const quiet = run(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--ignore-scripts',
          join(work, `finetune-${version}.tgz`),
        ],
        skipped,
        env,
      );
      assert.equal(quiet.code, 0, quiet.all);
      const unset = run(process.execPath, ['-e', "await import('finetune')"], skipped, env);
      assert.equal(unset.code, 1);
      assert.match(
        unset.stderr,
        /the package's install step did not run \(npm --ignore-scripts, or a package manager that blocks install scripts\)\. Run `npx finetune setup`/,
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);
