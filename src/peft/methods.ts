/**
 * The fine-tuning methods, one registration each (PEFT's `register_peft_method(name=…,
 * config_cls=…, model_cls=…)`): what a method is called on the command line (`--method`), what
 * its plans and tables call it, its default learning rate and why, and how it builds the strategy
 * TrainingArguments takes. PEFT methods add their peft_type, config class and tuner; freezing
 * methods (full, head, top-k, BitFit, LN, gradual unfreezing) the strategy `kind` they are.
 * peft, the Trainer, the lr rules, the CLI and the reports read this registry, so adding a method is
 * its folder plus one `registerMethod` call (docs/adding-a-method.md).
 *
 * A method builds a strategy: `{ kind: 'head' }`, a LoraConfig, … (TrainingArguments' `strategy`).
 */
import type { Module } from '../nn/index.js';
import { PeftConfig, registerPeftConfig, type PeftConfigOptions, type TaskType } from './config.js';
import type { FreezingStrategy } from './freeze.js';
import type { GradualUnfreezingStrategy } from './gradual-unfreezing.js';
import type { BaseTuner, TunerConfig } from './tuners/base-tuner.js';

/** A registered fine-tuning method's name: what `--method` takes ('lora'). */
export type MethodName = string;

/** What a method builds: TrainingArguments' `strategy`. */
export type MethodStrategy = FreezingStrategy | PeftConfig | GradualUnfreezingStrategy;

/** A default learning rate and where it comes from (printed with the plan). */
export interface LrDefault {
  lr: number;
  why: string;
}

/** What a method is built for: read off the model once (the CLI's model facts). */
export interface ModelFacts {
  /** config.json's model_type ('bert'), 'unknown' for a module of no registered family. */
  modelType: string;
  architecture: string;
  /** Number of layer groups (0: the family declares none). */
  groups: number;
  /** Paths of the head group's modules that hold parameters. */
  headPaths: string[];
  convNames: string[];
  hasQueryValue: boolean;
  hasWordEmbeddings: boolean;
  hasClassifier: boolean;
}

/** Everything a method's `build` reads: the model, the user's method settings, and how the head trains. */
export interface MethodContext {
  model: Module;
  facts: ModelFacts;
  /** A method setting as given, by its CLI flag ('lora-r', 'k', 'target-modules'); undefined when not given. */
  number(flag: string): number | undefined;
  list(flag: string): string[] | undefined;
  boolean(flag: string): boolean | undefined;
  /** For PEFT configs: the task type or modules to save that train the head, and the base model's path. */
  peftCommon: PeftConfigOptions & { taskType?: TaskType; modulesToSave?: string[] };
  /** ' + a trainable copy of the head', for a PEFT method's describe line. */
  headNote: string;
  /** Stops with a usage error naming what to change (the CLI exits 2). */
  refuse(message: string): never;
}

/** A method built for a model: the strategy and what trains, in words (the plan's line). */
export interface MethodPlan {
  method: MethodName;
  strategy: MethodStrategy;
  describe: string;
}

type TunerFactory = (model: Module, config: TunerConfig, adapterName: string) => BaseTuner;

/** A PEFT method's parts (PEFT's config_cls and model_cls). Methods sharing a peft_type (lora, dora) share one. */
export interface PeftMethodParts<Config extends PeftConfig = PeftConfig> {
  peftType: string;
  /** Reads adapter_config.json's options (camelCase). */
  config: new (options: never) => Config;
  /** A default config, whose fields tell which adapter_config.json keys are known (default: `new config({})`). */
  example?: () => Config;
  /**
   * The layer tuner; prompt learning has none (PeftModel learns the prompt itself). Its static
   * `prefix` ('lora_'), when it declares one, is reserved in adapter names (tunerKeyPrefixes).
   */
  tuner?: (new (model: Module, config: Config, adapterName: string) => BaseTuner) & { readonly prefix?: string };
  /** Whether a config of this peft_type is this method (dora: useDora); default: every config of the type. */
  owns?(config: Config): boolean;
}

export interface FineTuningMethod<Config extends PeftConfig = PeftConfig> {
  /** The `--method` name: 'lora'. */
  name: MethodName;
  /** Other names `--method` accepts ('adapters' for houlsby). An alias several methods list selects all of them in `finetune inspect`. */
  aliases?: readonly string[];
  /** The method's name in tables ('adapters (houlsby)'). */
  label: string;
  /** What trains, in one line (help and docs). */
  summary: string;
  /** Freezing methods: the `kind` of the strategy they build. */
  strategyKind?: string;
  /** PEFT methods: peft_type, config class and tuner. */
  peft?: PeftMethodParts<Config>;
  /** Whether the method updates the pretrained weights themselves (full, top-k, gradual): the pretraining lr ÷ 10 applies. */
  updatesPretrainedWeights?: boolean;
  /** The default lr for a model_type (undefined: unknown family). */
  defaultLr(modelType: string | undefined): LrDefault;
  /** A strategy it built, in a few words, for the plan and training_args.json ('LoRA (r=8, α=32)'); default: the method's name. */
  describeStrategy?(strategy: MethodStrategy): string;
  /** The strategy for a model from the user's settings. */
  build(context: MethodContext): Omit<MethodPlan, 'method'>;
}

const methods = new Map<string, FineTuningMethod>();
const aliases = new Map<string, string[]>();
const peftParts = new Map<string, PeftMethodParts>();

/**
 * Registers a fine-tuning method under its name and aliases (and its peft_type, so adapter_config.json
 * files of it are read and PeftModel wraps models with its tuner). A name already taken is an error.
 */
export function registerMethod<Config extends PeftConfig>(registration: FineTuningMethod<Config>): void {
  // Stored for every config type: `owns` is only ever called with a config of the method's peft_type.
  const method = registration as unknown as FineTuningMethod;
  for (const name of [method.name, ...(method.aliases ?? [])]) {
    if (methods.has(name)) throw new Error(`fine-tuning method '${name}' is already registered`);
  }
  if (aliases.has(method.name))
    throw new Error(
      `fine-tuning method '${method.name}' is already an alias of ${aliases.get(method.name)!.join(', ')}`,
    );
  const parts = method.peft;
  if (parts) {
    const known = peftParts.get(parts.peftType);
    if (known && known.config !== parts.config)
      throw new Error(`peft_type ${parts.peftType} is already registered with ${known.config.name}`);
    if (!known) {
      peftParts.set(parts.peftType, parts);
      const build = (options: Record<string, unknown>) => new parts.config(options as never);
      registerPeftConfig(parts.peftType, build, parts.example ?? (() => build({})));
    }
  }
  methods.set(method.name, method);
  for (const alias of method.aliases ?? []) aliases.set(alias, [...(aliases.get(alias) ?? []), method.name]);
}

/** The registered methods, in registration order (the order of tables and help). */
export function registeredMethods(): FineTuningMethod[] {
  return [...methods.values()];
}

export function methodNames(): string[] {
  return [...methods.keys()];
}

/** Aliases and the methods each stands for. */
export function methodAliases(): ReadonlyMap<string, readonly string[]> {
  return aliases;
}

/** The method named `name` or one of its aliases (the first registered that lists it); throws naming the registered ones. */
export function getMethod(name: string): FineTuningMethod {
  const found = methods.get(name) ?? methods.get(aliases.get(name)?.[0] ?? '');
  if (!found) throw new Error(`unknown fine-tuning method '${name}' (known: ${methodNames().join(', ')})`);
  return found;
}

/** Whether `name` is a registered method or alias. */
export function isMethodName(name: string): boolean {
  return methods.has(name) || aliases.has(name);
}

/** The method that built `strategy`: by peft_type (and `owns`) for PEFT configs, by `kind` for the others. */
export function methodOfStrategy(strategy: MethodStrategy): FineTuningMethod {
  if (strategy instanceof PeftConfig) {
    const candidates = registeredMethods().filter((m) => m.peft?.peftType === strategy.peftType);
    const found = candidates.find((m) => m.peft!.owns?.(strategy) ?? true);
    if (!found)
      throw new Error(
        `unknown PEFT type ${JSON.stringify(strategy.peftType)} (registered: ${[...peftParts.keys()].join(', ')})`,
      );
    return found;
  }
  const found = registeredMethods().find((m) => m.strategyKind === strategy.kind);
  if (!found)
    throw new Error(
      `unknown strategy kind ${JSON.stringify(strategy.kind)} (registered: ${strategyKinds().join(', ')})`,
    );
  return found;
}

/** The strategy kinds the registered freezing methods build ('full', 'head', …, 'gradual-unfreezing'), in registration order. */
export function strategyKinds(): string[] {
  return registeredMethods().flatMap((m) => m.strategyKind ?? []);
}

/** What the registered tuners' parameter names start with ('adapter_', 'lora_', 'ia3_'): no adapter name may. */
export function tunerKeyPrefixes(): string[] {
  return [...new Set([...peftParts.values()].flatMap((parts) => parts.tuner?.prefix ?? []))];
}

/** The tuner of a peft_type; throws naming the registered types. */
export function tunerOf(peftType: string): TunerFactory {
  const parts = peftParts.get(peftType);
  if (!parts)
    throw new Error(`unknown PEFT type ${JSON.stringify(peftType)} (registered: ${[...peftParts.keys()].join(', ')})`);
  const Tuner = parts.tuner;
  if (!Tuner) throw new Error(`PEFT method ${peftType} has no layer tuner`);
  return (model, config, adapterName) => new Tuner(model, config, adapterName);
}
