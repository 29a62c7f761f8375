/**
 * BaseTuner (PEFT's tuners_utils.BaseTuner): wraps a model as `model`, finds the modules a
 * config targets, replaces each with its method's tuner layer, marks only adapter parameters
 * trainable, and drives every tuner layer together: merge, unmerge, enable/disable, switch or
 * delete adapters, and unload back to a plain model.
 */
import { Module, type TensorModule } from '../../nn/index.js';
import { familyOfModel } from '../../models/registry.js';
import { SEQ_CLS_HEAD_NAMES, type PeftConfig } from '../config.js';
import {
  isTunerLayer,
  matchTarget,
  ModulesToSaveWrapper,
  replaceSubmodule,
  type TargetSpec,
  type TunerLayer,
} from './tuner-utils.js';

/** Where transformers' causal LMs keep their output embeddings (LlamaForCausalLM's and GPT2LMHeadModel's lm_head). */
const OUTPUT_EMBEDDINGS_NAME = 'lm_head';

/** The config fields every layer-injecting method has. */
export type TunerConfig = PeftConfig & TargetSpec;

export abstract class BaseTuner<Config extends TunerConfig = TunerConfig> extends Module {
  readonly model: Module;
  readonly peftConfig = new Map<string, Config>();
  activeAdapter: string;
  /**
   * Marks a method's parameter names ('lora_', 'ia3_'): what trains and what is saved. A tuner also
   * declares it as a static `prefix` (LoraModel.prefix), which the registry collects before any
   * tuner is built: adapter names may not start with it (checkAdapterName).
   */
  abstract readonly prefix: string;

  constructor(model: Module, config: Config, adapterName: string) {
    super();
    this.model = model;
    this.activeAdapter = adapterName;
  }

  /**
   * Wraps the modules `config` targets with adapter `adapterName` (a layer already wrapped
   * gets the adapter added), and the modulesToSave in ModulesToSaveWrapper.
   */
  injectAdapter(adapterName: string, config: Config): void {
    if (this.peftConfig.has(adapterName)) throw new Error(`an adapter named '${adapterName}' already exists`);
    const resolved = this.resolveConfig(config);
    this.peftConfig.set(adapterName, resolved);
    const targeted: string[] = [];
    const excluded: string[] = [];
    for (const [key, module] of this.candidateModules()) {
      const match = matchTarget(resolved, key);
      if (match === 'excluded') excluded.push(key);
      if (match !== 'target') continue;
      this.createAndReplace(resolved, adapterName, module, key);
      targeted.push(key);
    }
    if (targeted.length === 0) {
      this.peftConfig.delete(adapterName);
      throw new Error(this.noTargetMessage(resolved, excluded));
    }
    this.wrapModulesToSave(resolved, adapterName);
    this.markOnlyAdaptersAsTrainable(adapterName);
    if (resolved.inferenceMode) for (const [, p] of this.model.namedParameters()) p.requiresGrad_(false);
  }

  /** Method-specific defaults filled in (e.g. 'all-linear' expanded to names), given a config as the user wrote it. */
  protected resolveConfig(config: Config): Config {
    if (config.targetModules === 'all-linear') {
      // As PEFT: Conv1D counts as linear (GPT-2); never the output embeddings (get_output_embeddings: a
      // causal LM's lm_head), nor a SEQ_CLS head.
      const heads = [OUTPUT_EMBEDDINGS_NAME, ...(config.taskType === 'SEQ_CLS' ? SEQ_CLS_HEAD_NAMES : [])];
      const names = this.candidateModules()
        .filter(([key, m]) => ['Linear', 'Conv1D'].includes(baseClassName(m)) && !heads.includes(key))
        .map(([key]) => key);
      config = Object.assign(Object.create(Object.getPrototypeOf(config)), config, { targetModules: names });
    }
    return config;
  }

  /** Wraps `target` (or adds an adapter to it when it is already this method's layer) and puts it in place. */
  protected abstract createAndReplace(config: Config, adapterName: string, target: Module, key: string): void;

  /** Every module of the model by name, leaving out what sits inside a tuner layer or a modules-to-save wrapper. */
  protected candidateModules(): [string, Module][] {
    const inside: string[] = [];
    const out: [string, Module][] = [];
    for (const [key, module] of this.model.namedModules()) {
      if (!key || inside.some((prefix) => key.startsWith(`${prefix}.`))) continue;
      out.push([key, module]);
      if (isTunerLayer(module) || module instanceof ModulesToSaveWrapper) inside.push(key);
    }
    return out;
  }

  private noTargetMessage(config: Config, excluded: string[]): string {
    const names = new Map<string, string>();
    for (const [key, module] of this.candidateModules()) {
      // Sequential children are named by index: their full path is the useful name ('features.0').
      const last = key.slice(key.lastIndexOf('.') + 1);
      const leaf = /^\d+$/.test(last) ? key : last;
      if (module.namedChildren().length === 0) names.set(leaf, baseClassName(module));
    }
    const available = [...names].map(([name, kind]) => `${name} (${kind})`).join(', ');
    const why = excluded.length
      ? ` (${excluded.length} matching module(s) excluded by excludeModules / modulesToSave)`
      : '';
    return (
      `Target modules ${JSON.stringify(config.targetModules)} not found in the base model ${this.model.constructor.name}${why}; check target_modules. ` +
      `Module names available to target: ${available}`
    );
  }

  private wrapModulesToSave(config: Config, adapterName: string): void {
    for (const name of config.modulesToSave ?? []) {
      for (const [key, module] of this.candidateModules()) {
        if (!key.endsWith(name)) continue;
        const wrapper = module instanceof ModulesToSaveWrapper ? module : new ModulesToSaveWrapper(module);
        if (wrapper !== module) replaceSubmodule(this.model, key, wrapper);
        wrapper.original_module.requiresGrad_(false);
        wrapper.addAdapter(adapterName);
      }
    }
  }

  /** Freezes everything but this method's parameters (and biases as config.bias says, for LoRA). */
  protected markOnlyAdaptersAsTrainable(adapterName: string): void {
    for (const [name, p] of this.model.namedParameters()) {
      if (!name.includes(this.prefix) && !name.includes('.modules_to_save.')) p.requiresGrad_(false);
    }
    this.setAdapter(adapterName);
  }

  /** Every tuner layer in the model with its name. */
  tunerLayers(): [string, TunerLayer][] {
    return this.model.namedModules().filter((entry): entry is [string, TunerLayer] => isTunerLayer(entry[1]));
  }

  private wrappers(): ModulesToSaveWrapper[] {
    return this.model.modules().filter((m): m is ModulesToSaveWrapper => m instanceof ModulesToSaveWrapper);
  }

  /** Makes `adapterName` the one forward applies and the one that trains; the others are frozen. */
  setAdapter(adapterName: string): void {
    if (!this.peftConfig.has(adapterName))
      throw new Error(`adapter '${adapterName}' not found (adapters: ${[...this.peftConfig.keys()].join(', ')})`);
    const inference = this.peftConfig.get(adapterName)!.inferenceMode;
    for (const [, layer] of this.tunerLayers()) {
      if (layer.mergedAdapters.length) layer.unmerge();
      layer.activeAdapters = layer.adapterNames().includes(adapterName) ? [adapterName] : [];
      for (const name of layer.adapterNames()) {
        const params = new Set(layer.adapterParameterNames(name));
        for (const [path, p] of layer.namedParameters())
          if (params.has(path)) p.requiresGrad_(name === adapterName && !inference);
      }
    }
    // A wrapper without a copy for this adapter runs (and keeps frozen) its original module, as PEFT's does.
    for (const wrapper of this.wrappers()) {
      wrapper.activeAdapter = wrapper.adapterNames().includes(adapterName) ? adapterName : null;
      for (const name of wrapper.adapterNames())
        wrapper.modules_to_save.get(name).requiresGrad_(name === adapterName && !inference);
    }
    this.activeAdapter = adapterName;
  }

  /** Turns every adapter layer (and modules-to-save copy) off or back on. */
  setAdaptersEnabled(enabled: boolean): void {
    for (const [, layer] of this.tunerLayers()) layer.disabled = !enabled;
    for (const wrapper of this.wrappers()) wrapper.disabled = !enabled;
  }

  /** Removes adapter `adapterName` from every layer; another adapter becomes active if it was. */
  deleteAdapter(adapterName: string): void {
    if (!this.peftConfig.has(adapterName)) throw new Error(`adapter '${adapterName}' not found`);
    this.peftConfig.delete(adapterName);
    for (const [, layer] of this.tunerLayers()) layer.deleteAdapter(adapterName);
    for (const wrapper of this.wrappers())
      if (wrapper.adapterNames().includes(adapterName)) wrapper.deleteAdapter(adapterName);
    const next = [...this.peftConfig.keys()][0];
    if (this.activeAdapter === adapterName && next) this.setAdapter(next);
  }

  mergeAdapter(adapterNames?: string[]): void {
    for (const [, layer] of this.tunerLayers()) layer.merge(adapterNames ?? layer.activeAdapters);
  }

  unmergeAdapter(): void {
    for (const [, layer] of this.tunerLayers()) layer.unmerge();
  }

  /**
   * The plain model back: each tuner layer replaced by its base layer (with the adapters
   * merged in when `merge`), each modules-to-save wrapper by its active copy. Adapter tensors are freed.
   */
  unloadModel(merge: boolean, adapterNames?: string[]): Module {
    for (const [key, layer] of this.tunerLayers()) {
      if (merge) layer.merge(adapterNames ?? layer.activeAdapters);
      replaceSubmodule(this.model, key, layer.base_layer);
      for (const [path, p] of layer.namedParameters()) if (!path.startsWith('base_layer.')) p.dispose();
      layer.release?.();
    }
    for (const [key, module] of this.model.namedModules()) {
      if (!(module instanceof ModulesToSaveWrapper)) continue;
      const keepCopy = module.active === module.original_module ? null : module.active;
      replaceSubmodule(this.model, key, keepCopy ?? module.original_module);
      for (const name of module.adapterNames())
        if (module.modules_to_save.get(name) !== keepCopy) module.deleteAdapter(name);
      if (keepCopy) module.original_module.dispose();
    }
    this.peftConfig.clear();
    return this.model;
  }

  forward(...args: unknown[]): unknown {
    return (this.model as unknown as TensorModule).forward(...(args as [never]));
  }
}

/** The class name of a module, looking through tuner wrappers. */
export function baseClassName(module: Module): string {
  return (isTunerLayer(module) ? module.base_layer : module).constructor.name;
}

/** The model's model_type ('bert', 'gpt2'), or null for a module that is no registered architecture. */
export function modelTypeOf(model: Module): string | null {
  try {
    return familyOfModel(model).family.modelType;
  } catch {
    return null;
  }
}
