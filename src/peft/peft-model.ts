/**
 * PeftModel and getPeftModel (PEFT's peft_model.py): a model with one or more named adapters
 * of one PEFT method. Layer methods (LoRA, IA3, bottleneck adapters) wrap the model in their
 * tuner as `base_model` (so parameter names read `base_model.model.bert.…`, PEFT's); prompt
 * learning keeps the model as `base_model` and learns `prompt_encoder.<name>`.
 *
 *   const model = getPeftModel(bert, new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }));
 *   model.printTrainableParameters();
 *   // trainable params: 296,450 || all params: 109,780,228 || trainable%: 0.2700
 */
import { arange, cat, full, noGrad, ones, zeros, type Device, type Tensor } from '../tensor/index.js';
import { Embedding, Module, ModuleDict, type StateDict } from '../nn/index.js';
import {
  generate,
  PretrainedCausalLM,
  withGenerationDefaults,
  type CausalLanguageModel,
  type GenerateOptions,
  type KeyValueCache,
} from '../models/index.js';
import { SEQ_CLS_HEAD_NAMES, type PeftConfig } from './config.js';
import { tunerKeyPrefixes, tunerOf } from './methods.js';
import type { BaseTuner, TunerConfig } from './tuners/base-tuner.js';
import { ModulesToSaveWrapper } from './tuners/tuner-utils.js';
import type { LoraConfig } from './tuners/lora/config.js';
import { PromptEmbedding } from './tuners/prompt-tuning/model.js';
import type { PromptTuningConfig } from './tuners/prompt-tuning/config.js';

/**
 * Key segments of finetune's PEFT layers and wrappers. adapterStateDict drops the adapter's name
 * from every key, so an adapter named like one of these would lose part of the keys it saves.
 */
const RESERVED_ADAPTER_NAMES = new Set([
  'base_model',
  'model',
  'base_layer',
  'modules_to_save',
  'original_module',
  'prompt_encoder',
  'embedding',
]);

/**
 * Checks an adapter name as PEFT and PyTorch's add_module do, before it names a module or a folder:
 * a non-empty string without '.', '/', '\\' or control characters (so it is one key segment and,
 * saved, one subfolder of the save folder: '../x' cannot escape it, '' cannot overwrite the default
 * adapter's files), none of Object's property names, and no key segment the adapted model or
 * finetune's PEFT layers already use (its name is cut out of each saved key). `model` is the model
 * the adapter goes on, whose parameter paths are checked.
 */
export function checkAdapterName(name: unknown, model?: Module): asserts name is string {
  const refuse = (why: string): never => {
    throw new Error(`adapter name ${JSON.stringify(name) ?? String(name)} ${why}`);
  };
  if (typeof name !== 'string' || name === '') refuse('must be a non-empty string');
  const text = name as string;
  if (/[./\\\u0000-\u001f\u007f]/.test(text))
    refuse(
      "may not contain '.', '/', '\\' or control characters: it becomes a module key segment and a subfolder of the save folder",
    );
  if (text in Object.prototype) refuse("is one of Object's property names (constructor, toString, …)");
  const prefixes = tunerKeyPrefixes();
  if (RESERVED_ADAPTER_NAMES.has(text) || prefixes.some((prefix) => text.startsWith(prefix))) {
    refuse(
      `is reserved: finetune's PEFT layers use it in their keys (${[...RESERVED_ADAPTER_NAMES].join(', ')}, ${prefixes.map((p) => `${p}…`).join(', ')})`,
    );
  }
  if (model) {
    const used = model.namedParameters().find(([path]) => path.split('.').includes(text));
    if (used) refuse(`is already a key segment of the model (${used[0]}); saved keys would lose it`);
  }
}

/** How a PeftModel's adapters reach files; provided by finetune's io layer (see io/peft.ts). */
export interface AdapterFiles {
  save(model: PeftModel, dir: string, options: SavePeftOptions): Promise<void>;
  load(base: Module, dir: string, options: LoadPeftOptions): Promise<PeftModel>;
  loadInto(model: PeftModel, dir: string, adapterName: string, options: LoadPeftOptions): Promise<AdapterLoadResult>;
}

export interface SavePeftOptions {
  /** Adapters to save (default: all). The 'default' adapter goes in `dir`, others in `dir/<name>`. */
  selectedAdapters?: string[];
}

export interface LoadPeftOptions {
  adapterName?: string;
  /** Loads the adapter for further training (default false: inference mode, nothing trainable). */
  isTrainable?: boolean;
  /** Where missing / unexpected key warnings go (default console.warn). */
  warn?: (message: string) => void;
}

export interface AdapterLoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

let adapterFiles: AdapterFiles | null = null;

export function registerAdapterFiles(files: AdapterFiles): void {
  adapterFiles = files;
}

function files(): AdapterFiles {
  if (!adapterFiles)
    throw new Error("saving and loading adapters needs finetune's io layer: import from 'finetune' (or 'finetune/io')");
  return adapterFiles;
}

export class PeftModel extends Module {
  readonly base_model: Module;
  readonly prompt_encoder: ModuleDict<PromptEmbedding> | null = null;
  readonly peftConfig = new Map<string, PeftConfig>();
  activeAdapter: string;
  /** Prompt learning: virtual tokens are left out while this is true (disableAdapter). */
  #promptsDisabled = false;

  constructor(model: Module, config: PeftConfig, adapterName = 'default') {
    checkAdapterName(adapterName, model);
    super();
    this.activeAdapter = adapterName;
    const resolved = withTaskDefaults(config);
    this.peftConfig.set(adapterName, resolved);
    if (resolved.isPromptLearning) {
      this.base_model = model;
      this.prompt_encoder = new ModuleDict();
      model.requiresGrad_(false);
      this.addPromptEncoder(adapterName, resolved as PromptTuningConfig);
      this.setAdapter(adapterName);
    } else {
      this.base_model = tunerOf(resolved.peftType)(model, resolved as TunerConfig, adapterName);
    }
  }

  /** The model being adapted (inside the tuner for layer methods). */
  get model(): Module {
    return this.tuner ? this.tuner.model : this.base_model;
  }

  private get tuner(): BaseTuner | null {
    return this.prompt_encoder ? null : (this.base_model as BaseTuner);
  }

  private requireTuner(what: string): BaseTuner {
    const tuner = this.tuner;
    if (!tuner)
      throw new Error(
        `${what} is not available for prompt learning (${this.peftConfig.get(this.activeAdapter)!.peftType})`,
      );
    return tuner;
  }

  private addPromptEncoder(adapterName: string, config: PromptTuningConfig): void {
    const embeddings = inputEmbeddings(this.base_model);
    const encoder = new PromptEmbedding(config, embeddings);
    // Beside the word embeddings, as PEFT puts it (a model moved before getPeftModel).
    const device = embeddings.weight.device as Device;
    if (device !== 'cpu') encoder.to(device);
    this.prompt_encoder!.set(adapterName, encoder);
    for (const name of config.modulesToSave ?? []) wrapForPrompt(this.base_model, name, adapterName);
  }

  // ---- forward --------------------------------------------------------------------

  /**
   * Runs the adapted model on the same inputs the base model takes. With prompt tuning the
   * inputs must be a transformers-style object ({ inputIds, attentionMask, tokenTypeIds, … }):
   * the virtual tokens go first, the attention mask is extended with ones and token types with zeros.
   */
  forward(inputs: unknown, ...rest: unknown[]): unknown {
    const base = this.base_model as unknown as { forward(...args: unknown[]): unknown };
    if (!this.prompt_encoder || this.#promptsDisabled) return base.forward(inputs, ...rest);
    return base.forward(this.withVirtualTokens(inputs as TextInputs));
  }

  /**
   * Continues prompts with the adapted model, as PEFT's PeftModelForCausalLM.generate: models.generate
   * through this model's forward, with the base model's end and padding tokens as defaults. With prompt
   * tuning the virtual tokens go in front at the first step and stay in the KV cache after it.
   */
  generate(inputIds: Tensor, options: GenerateOptions = {}): Tensor {
    const base = this.model;
    if (!(base instanceof PretrainedCausalLM))
      throw new Error(`generate: the adapted model (${base.constructor.name}) is not a causal language model`);
    return generate(this as CausalLanguageModel, inputIds, withGenerationDefaults(base.generationConfig, options));
  }

  private withVirtualTokens(inputs: TextInputs): TextInputs {
    const config = this.peftConfig.get(this.activeAdapter) as PromptTuningConfig;
    const past = inputs.pastKeyValues?.length ?? 0;
    if (past > 0) return this.afterVirtualTokens(inputs, config.totalVirtualTokens, past);
    const { inputIds, inputsEmbeds, attentionMask, tokenTypeIds, labels } = inputs;
    const embeds = inputsEmbeds ?? (inputIds ? inputEmbeddings(this.base_model).forward(inputIds) : null);
    if (!embeds) throw new Error('prompt tuning: give inputIds or inputsEmbeds');
    // The virtual tokens get mask ones in front, which a 3-d or 4-d mask has no single place for (PEFT: 2-d only too).
    if (attentionMask && attentionMask.ndim !== 2)
      throw new Error(`prompt tuning: the attention mask must be [batch, length], got shape [${attentionMask.shape}]`);
    const [batch] = embeds.shape;
    const n = config.totalVirtualTokens;
    const causalLm = config.taskType === 'CAUSAL_LM';
    // Made on the inputs' device: a CPU index or mask beside a GPU model fails there.
    const device = embeds.device as Device;
    const prompts = this.prompt_encoder!.get(this.activeAdapter)
      .forward(arange(n, undefined, 1, { device }))
      .unsqueeze(0)
      .expand(batch, -1, -1);
    return {
      ...inputs,
      inputIds: null,
      // transformers would offset positions for the virtual tokens; PEFT drops given ones, and so do we.
      // A decoder then numbers virtual and real tokens 0, 1, … as transformers does, whatever the mask.
      positionIds: causalLm ? arange(n + embeds.shape[1], undefined, 1, { dtype: 'int64', device }).unsqueeze(0) : null,
      inputsEmbeds: cat([prompts.to({ dtype: embeds.dtype }), embeds], 1),
      attentionMask: attentionMask
        ? cat([ones([batch, n], { dtype: attentionMask.dtype, device }), attentionMask], 1)
        : attentionMask,
      tokenTypeIds: tokenTypeIds
        ? cat([zeros([batch, n], { dtype: tokenTypeIds.dtype, device }), tokenTypeIds], 1)
        : tokenTypeIds,
      // A causal LM's labels are per token, so the virtual tokens get ignored (-100) ones in front,
      // as PeftModelForCausalLM does; a classifier's labels are per sequence and stay as they are.
      labels: labels && causalLm ? cat([full([batch, n], -100, { dtype: labels.dtype, device }), labels], 1) : labels,
    };
  }

  /**
   * A generation step after the first: the KV cache already holds the virtual tokens, so only the
   * mask gets their ones in front (the generation loop's mask covers the real tokens) and positions
   * go on from the cache, as PEFT's prepare_inputs_for_generation.
   */
  private afterVirtualTokens(inputs: TextInputs, virtualTokens: number, past: number): TextInputs {
    const { attentionMask } = inputs;
    const tokens = (inputs.inputIds ?? inputs.inputsEmbeds)!.shape[1];
    const device = (inputs.inputIds ?? inputs.inputsEmbeds)!.device as Device;
    return {
      ...inputs,
      positionIds: arange(past, past + tokens, 1, { dtype: 'int64', device }).unsqueeze(0),
      attentionMask: attentionMask
        ? cat([ones([attentionMask.shape[0], virtualTokens], { dtype: attentionMask.dtype, device }), attentionMask], 1)
        : attentionMask,
    };
  }

  // ---- parameters -----------------------------------------------------------------

  /** [trainable, all] parameter counts, as PEFT's get_nb_trainable_parameters. */
  getNbTrainableParameters(): [number, number] {
    let trainable = 0;
    let all = 0;
    for (const [, p] of this.namedParameters()) {
      all += p.numel();
      if (p.requiresGrad) trainable += p.numel();
    }
    return [trainable, all];
  }

  /** PEFT's line: `trainable params: 296,450 || all params: 109,780,228 || trainable%: 0.2700`. */
  trainableParametersLine(): string {
    const [trainable, all] = this.getNbTrainableParameters();
    const group = (n: number) => n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return `trainable params: ${group(trainable)} || all params: ${group(all)} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
  }

  /** Prints trainableParametersLine() (to `log`, default console.log). */
  printTrainableParameters(log: (line: string) => void = console.log): void {
    log(this.trainableParametersLine());
  }

  // ---- adapters -------------------------------------------------------------------

  /** Adds another adapter of the same method under `adapterName` (not made active; see setAdapter). */
  addAdapter(adapterName: string, config: PeftConfig): void {
    const current = this.peftConfig.get(this.activeAdapter)!;
    if (config.peftType !== current.peftType) {
      throw new Error(
        `cannot add a ${config.peftType} adapter to a ${current.peftType} model: one method per PeftModel`,
      );
    }
    if (this.peftConfig.has(adapterName)) throw new Error(`an adapter named '${adapterName}' already exists`);
    checkAdapterName(adapterName, this.model);
    const resolved = withTaskDefaults(config);
    if (this.prompt_encoder) this.addPromptEncoder(adapterName, resolved as PromptTuningConfig);
    else {
      const tuner = this.requireTuner('addAdapter');
      tuner.injectAdapter(adapterName, resolved as TunerConfig);
      tuner.setAdapter(this.activeAdapter);
    }
    this.peftConfig.set(adapterName, resolved);
    // Adding does not activate: the active adapter's prompt and head copies stay the ones used and trained.
    if (this.prompt_encoder) this.setAdapter(this.activeAdapter);
  }

  /** Makes `adapterName` the adapter forward uses and training updates. */
  setAdapter(adapterName: string): void {
    checkAdapterName(adapterName);
    if (!this.peftConfig.has(adapterName))
      throw new Error(`adapter '${adapterName}' not found (adapters: ${[...this.peftConfig.keys()].join(', ')})`);
    if (this.prompt_encoder) {
      const trains = (name: string) => name === adapterName && !this.peftConfig.get(adapterName)!.inferenceMode;
      for (const name of this.prompt_encoder.keys()) this.prompt_encoder.get(name).requiresGrad_(trains(name));
      for (const wrapper of this.base_model.modules()) {
        if (!(wrapper instanceof ModulesToSaveWrapper)) continue;
        if (wrapper.adapterNames().includes(adapterName)) wrapper.activeAdapter = adapterName;
        for (const name of wrapper.adapterNames()) wrapper.modules_to_save.get(name).requiresGrad_(trains(name));
      }
    } else this.requireTuner('setAdapter').setAdapter(adapterName);
    this.activeAdapter = adapterName;
  }

  deleteAdapter(adapterName: string): void {
    if (!this.peftConfig.has(adapterName)) throw new Error(`adapter '${adapterName}' not found`);
    if (this.peftConfig.size === 1)
      throw new Error(`cannot delete '${adapterName}', the only adapter; use unload() to get the base model back`);
    if (this.prompt_encoder) {
      this.prompt_encoder.get(adapterName).dispose();
      this.prompt_encoder.delete(adapterName);
      for (const wrapper of this.base_model.modules())
        if (wrapper instanceof ModulesToSaveWrapper && wrapper.adapterNames().includes(adapterName))
          wrapper.deleteAdapter(adapterName);
    } else this.requireTuner('deleteAdapter').deleteAdapter(adapterName);
    this.peftConfig.delete(adapterName);
    if (this.activeAdapter === adapterName) this.setAdapter([...this.peftConfig.keys()][0]);
  }

  /** Runs `fn` with every adapter off (the base model's outputs), then turns them back on, also when fn throws. */
  disableAdapter<T>(fn: () => T): T {
    this.setAdaptersEnabled(false);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.setAdaptersEnabled(true);
      throw error;
    }
    if (result instanceof Promise) return result.finally(() => this.setAdaptersEnabled(true)) as T;
    this.setAdaptersEnabled(true);
    return result;
  }

  private setAdaptersEnabled(enabled: boolean): void {
    if (this.prompt_encoder) {
      this.#promptsDisabled = !enabled;
      for (const wrapper of this.base_model.modules())
        if (wrapper instanceof ModulesToSaveWrapper) wrapper.disabled = !enabled;
    } else this.requireTuner('disableAdapter').setAdaptersEnabled(enabled);
  }

  /** Folds adapters (default: the active one) into the base weights: same outputs, no adapter cost. */
  mergeAdapter(adapterNames?: string[]): void {
    this.requireTuner('mergeAdapter').mergeAdapter(adapterNames);
  }

  unmergeAdapter(): void {
    this.requireTuner('unmergeAdapter').unmergeAdapter();
  }

  /** Merges the adapters into the weights and returns the plain base model (PEFT's merge_and_unload). */
  mergeAndUnload(adapterNames?: string[]): Module {
    return this.requireTuner('mergeAndUnload').unloadModel(true, adapterNames);
  }

  /** Returns the plain base model without merging (adapters dropped). */
  unload(): Module {
    return this.requireTuner('unload').unloadModel(false);
  }

  // ---- state ----------------------------------------------------------------------

  /**
   * The adapter's tensors under PEFT's file keys (get_peft_model_state_dict): full parameter
   * paths with the adapter name taken out, modules-to-save copies under the module's own name,
   * and the biases LoRA's `bias` setting trains (with 'all', PEFT's quirk of also listing the
   * wrapped head's original and copy biases is kept, so files compare equal).
   */
  adapterStateDict(adapterName = this.activeAdapter): StateDict {
    const config = this.peftConfig.get(adapterName);
    if (!config) throw new Error(`adapter '${adapterName}' not found`);
    const others = new Set([...this.peftConfig.keys()].filter((n) => n !== adapterName));
    const state = [...this.stateDict()].filter(([key]) => !key.split('.').some((part) => others.has(part)));
    const selected: StateDict = new Map();
    if (this.prompt_encoder) selected.set('prompt_embeddings', this.prompt_encoder.get(adapterName).embedding.weight);
    const tuner = this.tuner;
    if (tuner) {
      const layerPrefixes = tuner.tunerLayers().map(([key]) => `base_model.model.${key}.`);
      const bias = (config as Partial<LoraConfig>).bias ?? 'none';
      for (const [key, tensor] of state) {
        const inLayer = layerPrefixes.some(
          (prefix) => key.startsWith(prefix) && !key.startsWith(`${prefix}base_layer.`),
        );
        const learnableBias =
          (bias === 'all' && key.endsWith('.bias')) ||
          (bias === 'lora_only' && layerPrefixes.some((prefix) => key === `${prefix}base_layer.bias`));
        if (inLayer || learnableBias) selected.set(key, tensor);
      }
    }
    const wrapperCopy = `.modules_to_save.${adapterName}.`;
    for (const [key, tensor] of state)
      if (key.includes(wrapperCopy)) selected.set(key.replace(wrapperCopy, '.'), tensor);
    const out: StateDict = new Map();
    for (const [key, tensor] of selected) {
      const fileKey = key
        .split('.')
        .filter((part) => part !== adapterName)
        .join('.');
      // PEFT stores DoRA's magnitude without its '.weight'.
      out.set(
        fileKey.endsWith('.lora_magnitude_vector.weight') ? fileKey.slice(0, -'.weight'.length) : fileKey,
        tensor,
      );
    }
    return out;
  }

  /**
   * Loads tensors saved under PEFT's file keys into adapter `adapterName` (set_peft_model_state_dict);
   * keys that fit nothing come back as unexpected, adapter tensors not given as missing.
   */
  loadAdapterStateDict(state: StateDict, adapterName = this.activeAdapter): AdapterLoadResult {
    const expected = this.adapterStateDict(adapterName);
    const unexpectedKeys = [...state.keys()].filter((k) => !expected.has(k));
    const missingKeys = [...expected.keys()].filter((k) => !state.has(k));
    const mismatched: string[] = [];
    for (const [key, target] of expected) {
      const source = state.get(key);
      if (source && source.shape.join() !== target.shape.join())
        mismatched.push(`${key}: file [${source.shape}] vs model [${target.shape}]`);
    }
    if (mismatched.length)
      throw new Error(`size mismatch loading adapter '${adapterName}':\n  ${mismatched.join('\n  ')}`);
    noGrad(() => {
      for (const [key, target] of expected) {
        const source = state.get(key);
        if (source) target.copy_(source);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Writes adapter_config.json + adapter_model.safetensors per adapter, as PEFT's save_pretrained. */
  async savePretrained(dir: string, options: SavePeftOptions = {}): Promise<void> {
    await files().save(this, dir, options);
  }

  /** Loads an adapter saved by PEFT or finetune onto `base` (PEFT's PeftModel.from_pretrained). */
  static async fromPretrained(base: Module, dir: string, options: LoadPeftOptions = {}): Promise<PeftModel> {
    return files().load(base, dir, options);
  }

  /** Loads another saved adapter into this model under `adapterName` (PEFT's load_adapter). */
  async loadAdapter(dir: string, adapterName: string, options: LoadPeftOptions = {}): Promise<AdapterLoadResult> {
    return files().loadInto(this, dir, adapterName, options);
  }

  override toString(): string {
    return `PeftModel(${[...this.peftConfig].map(([n, c]) => `${n}: ${c.peftType}`).join(', ')})\n${super.toString()}`;
  }
}

/** Wraps `model` for `config` under adapter 'default' (PEFT's get_peft_model). */
export function getPeftModel(model: Module, config: PeftConfig, adapterName = 'default'): PeftModel {
  return new PeftModel(model, config, adapterName);
}

/** SEQ_CLS trains the classifier head too: PEFT adds 'classifier' and 'score' to modulesToSave. */
function withTaskDefaults(config: PeftConfig): PeftConfig {
  if (config.taskType !== 'SEQ_CLS' || !('modulesToSave' in config)) return config;
  const own = (config as { modulesToSave: string[] | null }).modulesToSave ?? [];
  (config as { modulesToSave: string[] | null }).modulesToSave = [...new Set([...own, ...SEQ_CLS_HEAD_NAMES])];
  return config;
}

function wrapForPrompt(model: Module, name: string, adapterName: string): void {
  for (const [key, module] of model.namedModules()) {
    if (!key || !key.endsWith(name) || key.includes('.modules_to_save.') || key.includes('.original_module')) continue;
    const wrapper = module instanceof ModulesToSaveWrapper ? module : new ModulesToSaveWrapper(module);
    if (wrapper !== module) {
      const dot = key.lastIndexOf('.');
      (model.getSubmodule(dot < 0 ? '' : key.slice(0, dot)) as unknown as Record<string, Module>)[key.slice(dot + 1)] =
        wrapper;
    }
    wrapper.addAdapter(adapterName);
  }
}

/** The model's token embedding table (transformers' get_input_embeddings). */
function inputEmbeddings(model: Module): Embedding {
  const found = model
    .namedModules()
    .find(([key, m]) => /(^|\.)(word_embeddings|embed_tokens|wte)$/.test(key) && m instanceof Embedding);
  if (!found)
    throw new Error(
      `${model.constructor.name} has no word embedding table (word_embeddings); prompt tuning needs a text model`,
    );
  return found[1] as Embedding;
}

interface TextInputs {
  inputIds?: Tensor | null;
  inputsEmbeds?: Tensor | null;
  attentionMask?: Tensor | null;
  tokenTypeIds?: Tensor | null;
  positionIds?: Tensor | null;
  labels?: Tensor | null;
  pastKeyValues?: KeyValueCache;
}
