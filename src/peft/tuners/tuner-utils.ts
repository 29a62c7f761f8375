/**
 * What every layer-injecting method shares, after PEFT's tuners_utils.py and utils/other.py:
 * which module names a config targets, replacing a submodule in place, the layer interface
 * the wrapping model drives (merge, enable, switch adapters), and ModulesToSaveWrapper.
 */
import { noGrad, tidy } from '../../tensor/index.js';
import { Module, ModuleDict, ParameterDict } from '../../nn/index.js';
import { peftPattern, type PatternField } from '../patterns.js';

/** The config fields that decide which modules a method wraps. */
export interface TargetSpec {
  /** list: exact name or name suffix after a dot; string: regex over the full name. */
  targetModules: string[] | string | null;
  /** Same forms as targetModules; matches are never wrapped. */
  excludeModules?: string[] | string | null;
  modulesToSave?: string[] | null;
  /** Layer indexes to wrap (the number after the layers pattern in the name); null for all. */
  layersToTransform?: number[] | number | null;
  /** The module-list name(s) before the layer index ('layer', 'layers', 'h', 'blocks'); null for any. */
  layersPattern?: string[] | string | null;
}

export type TargetMatch = 'target' | 'excluded' | false;

/** Whether the module named `key` is targeted (PEFT's check_target_module_exists). */
export function matchTarget(spec: TargetSpec, key: string): TargetMatch {
  const exclude = spec.excludeModules;
  if (
    exclude &&
    (typeof exclude === 'string'
      ? peftPattern('exclude_modules', exclude).fullMatch(key)
      : matchesNameList(exclude, key))
  )
    return 'excluded';
  // A module trained whole (modules_to_save) never also gets an adapter: the two would conflict.
  if (spec.modulesToSave?.some((m) => peftPattern('modules_to_save', m).test(key))) return 'excluded';
  const targets = spec.targetModules;
  if (targets === null) return false;
  if (typeof targets === 'string') return peftPattern('target_modules', targets).fullMatch(key) ? 'target' : false;
  if (targets.includes(key)) return 'target';
  if (!targets.some((t) => key.endsWith(`.${t}`))) return false;
  const wanted = spec.layersToTransform;
  if (wanted === null || wanted === undefined || (Array.isArray(wanted) && wanted.length === 0)) return 'target';
  const index = layerIndex(key, spec.layersPattern ?? null);
  if (index === null) return false;
  return (Array.isArray(wanted) ? wanted.includes(index) : wanted === index) ? 'target' : false;
}

/** The first layer index in a dotted name, after `pattern` if given ('encoder.layer.3.attention' → 3). */
export function layerIndex(key: string, pattern: string[] | string | null): number | null {
  const patterns = pattern === null || pattern.length === 0 ? [] : typeof pattern === 'string' ? [pattern] : pattern;
  if (patterns.length === 0) {
    const match = /^.*?\.[^.]*\.(\d+)\./.exec(key);
    return match ? Number(match[1]) : null;
  }
  for (const p of patterns) {
    const match = peftPattern('layers_pattern', p).match(key);
    if (match) return Number(match.named.idx);
  }
  return null;
}

/** The first of `patterns` (the keys of `field`) that matches the end of `key` after a dot. */
export function patternKey(
  field: Extract<PatternField, 'rank_pattern' | 'alpha_pattern'>,
  patterns: string[],
  key: string,
): string | undefined {
  return patterns.find((p) => peftPattern(field, p).test(key));
}

function matchesNameList(names: string[], key: string): boolean {
  return names.includes(key) || names.some((n) => key.endsWith(`.${n}`));
}

/** The parent module of a dotted path and the child's name in it. */
export function parentOf(root: Module, path: string): { parent: Module; name: string } {
  const dot = path.lastIndexOf('.');
  return { parent: root.getSubmodule(dot < 0 ? '' : path.slice(0, dot)), name: path.slice(dot + 1) };
}

/** Puts `module` at `path` in place of what was there (the model calls it by that attribute). */
export function replaceSubmodule(root: Module, path: string, module: Module): void {
  const { parent, name } = parentOf(root, path);
  (parent as unknown as Record<string, Module>)[name] = module;
}

/**
 * A layer that wraps a base layer (kept as `base_layer`, as in PEFT's keys) and holds one or
 * more named adapters. The wrapping model drives every such layer through this interface.
 */
export interface TunerLayer extends Module {
  readonly base_layer: Module;
  /** Adapters this layer holds, by name. */
  adapterNames(): string[];
  /** The adapters applied in forward. */
  activeAdapters: string[];
  /** When true, forward is the base layer alone. */
  disabled: boolean;
  /** Adapters currently folded into the base weights. */
  readonly mergedAdapters: string[];
  /** Folds adapters (default: the active ones) into the base weights. */
  merge(adapterNames?: string[]): void;
  /** Takes every merged adapter back out of the base weights. */
  unmerge(): void;
  deleteAdapter(name: string): void;
  /** The names of this layer's parameters (relative to it) that belong to adapter `name`. */
  adapterParameterNames(name: string): string[];
  /** Frees what the layer holds besides parameters when unloading drops it (DoRA's norms kept for unmerging). */
  release?(): void;
}

/**
 * PEFT's merge loop: folds each of `names` that the layer holds (`holds`) and has not merged yet into the
 * base weights (`mergeOne`, without autograd, its temporaries freed), recording it as merged.
 */
export function mergeAdapters(
  layer: TunerLayer,
  names: readonly string[],
  holds: (name: string) => boolean,
  mergeOne: (name: string) => void,
): void {
  noGrad(() => {
    for (const name of names) {
      if (!holds(name) || layer.mergedAdapters.includes(name)) continue;
      tidy(() => mergeOne(name));
      layer.mergedAdapters.push(name);
    }
  });
}

/**
 * Whether a layer's forward is its base layer alone (PEFT's forward prologue): when it is disabled — after
 * taking merged adapters out of the weights, so the base layer is the base model's — or when its adapters
 * are merged into the weights already.
 */
export function forwardsBaseOnly(layer: TunerLayer): boolean {
  if (layer.disabled && layer.mergedAdapters.length) layer.unmerge();
  return layer.disabled || layer.mergedAdapters.length > 0;
}

/** PEFT's unmerge loop: takes the merged adapters out again, last merged first (`unmergeOne` for those the layer still holds). */
export function unmergeAdapters(
  layer: TunerLayer,
  holds: (name: string) => boolean,
  unmergeOne: (name: string) => void,
): void {
  noGrad(() => {
    while (layer.mergedAdapters.length) {
      const name = layer.mergedAdapters.pop()!;
      if (holds(name)) tidy(() => unmergeOne(name));
    }
  });
}

/** Removes an adapter's entry from each of a layer's dicts, disposing the modules (a ParameterDict's tensors go with it). */
export function deleteAdapterEntries(dicts: readonly (ModuleDict | ParameterDict)[], name: string): void {
  for (const dict of dicts) {
    if (!dict.keys().includes(name)) continue;
    if (!(dict instanceof ParameterDict)) dict.get(name).dispose();
    dict.delete(name);
  }
}

/** The paths of the layer's parameters that `belongs` picks (an adapter's keys in the layer's state dict). */
export function parameterPaths(layer: Module, belongs: (path: string) => boolean): string[] {
  return layer
    .namedParameters()
    .map(([path]) => path)
    .filter(belongs);
}

export function isTunerLayer(module: Module): module is TunerLayer {
  return 'base_layer' in module && typeof (module as Partial<TunerLayer>).adapterNames === 'function';
}

/** Applies `fn` to a tuner layer's base layer, unwrapping nested wrappers. */
export function baseLayerOf(module: Module): Module {
  let layer = module;
  while (isTunerLayer(layer)) layer = layer.base_layer;
  return layer;
}

/**
 * A module trained and saved whole next to an adapter (a new classifier head): the original
 * stays as `original_module`, each adapter trains its own copy in `modules_to_save.<name>`.
 */
export class ModulesToSaveWrapper extends Module {
  readonly original_module: Module;
  readonly modules_to_save = new ModuleDict();
  activeAdapter: string | null = null;
  disabled = false;

  constructor(module: Module) {
    super();
    this.original_module = module;
  }

  addAdapter(name: string): void {
    if (this.adapterNames().includes(name)) return;
    const copy = this.original_module.clone();
    copy.requiresGrad_(true);
    this.modules_to_save.set(name, copy);
    this.activeAdapter = name;
  }

  adapterNames(): string[] {
    return this.modules_to_save.keys();
  }

  deleteAdapter(name: string): void {
    this.modules_to_save.get(name).dispose();
    this.modules_to_save.delete(name);
    if (this.activeAdapter === name) this.activeAdapter = this.adapterNames()[0] ?? null;
  }

  /** The module forward runs: the active adapter's copy, or the original when disabled. */
  get active(): Module {
    if (this.disabled || this.activeAdapter === null || !this.adapterNames().includes(this.activeAdapter))
      return this.original_module;
    return this.modules_to_save.get(this.activeAdapter);
  }

  forward(...args: unknown[]): unknown {
    return (this.active as unknown as { forward(...a: unknown[]): unknown }).forward(...args);
  }
}
