/**
 * Parameter-group builders: which weights get weight decay (timm's and Hugging Face Trainer's
 * rules), fastai's discriminative learning rates (`slice(lo, hi)`, `slice(hi)`, ULMFiT's 2.6
 * factor) and timm's layer-wise learning-rate decay. Each returns ParamGroupSpec[] — tensors with
 * their names, a group name, `lr` and/or `weightDecay` — ready for an optimizer; only trainable
 * parameters (requiresGrad) are included, frozen ones are left out and counted (`frozen`).
 *
 *   const groups = layerwiseLrDecay(vit, { lr: 1e-3, decay: 0.75, weightDecay: 0.05 });
 *   // [{ name: 'layer_0_decay', lr: 1e-3·0.75³, weightDecay: 0.05, params, paramNames }, …]
 *
 * Layer groups come from the model family (models/registry.ts: input side first, the head last);
 * a PeftModel's are its inner model's, matched by tensor identity.
 */
import type { Tensor } from '../tensor/index.js';
import { BatchNorm2d, GroupNorm, LayerNorm, Module } from '../nn/index.js';
import { hasLayerGroups, parameterGroupsOf, type LayerGroup } from '../models/index.js';
import { PeftModel } from '../peft/index.js';
import type { ParamGroupSpec } from './param-group.js';

// ---- results -----------------------------------------------------------------------------------

/** A built group: a ParamGroupSpec with its name and parameter names always filled in. */
export interface BuiltParamGroup extends ParamGroupSpec {
  name: string;
  paramNames: string[];
  /** layerwiseLrDecay: timm's lr_scale (lr = base lr · lrScale); discriminativeLr: lr / hi. */
  lrScale?: number;
  /** The layer id (layerwiseLrDecay) or layer-group index (discriminativeLr). */
  layerId?: number;
}

/**
 * What the builders return: the groups, plus the frozen parameters they left out (by name) —
 * an array, so it goes straight to an optimizer.
 */
export type ParamGroups = BuiltParamGroup[] & {
  /** Names of the parameters left out because they do not require gradients. */
  readonly frozenNames: string[];
  /** frozenNames.length. */
  readonly frozen: number;
};

function withFrozen(groups: BuiltParamGroup[], frozenNames: string[]): ParamGroups {
  const out = groups.filter((g) => g.params.length > 0) as ParamGroups;
  Object.defineProperty(out, 'frozenNames', { value: frozenNames, enumerable: false });
  Object.defineProperty(out, 'frozen', { value: frozenNames.length, enumerable: false });
  return out;
}

// ---- weight decay ------------------------------------------------------------------------------

/**
 * Which parameters get no weight decay:
 *
 * - `'timm'` (default), timm's `param_groups_weight_decay` plus the models' `no_weight_decay()` names:
 *   every parameter with ≤ 1 dimension (all biases, LayerNorm / GroupNorm / BatchNorm weights, DoRA
 *   magnitudes), every name ending in `.bias`, every parameter of a norm layer, and the
 *   learned embeddings that stand for positions, types or special tokens — a dotted component of
 *   the name in NO_WEIGHT_DECAY_NAMES (`cls_token`, `pos_embed`, `position_embeddings`,
 *   `token_type_embeddings`, `dist_token`, `mask_token`, `relative_position_bias_table`). Word /
 *   patch embeddings and every other matrix decay.
 * - `'hf'`, Hugging Face Trainer's `get_decay_parameter_names` (transformers 5.x): no decay for
 *   parameters inside an `nn.LayerNorm` and for names whose lower-case form contains `bias`,
 *   `layernorm` or `rmsnorm`, or has a `norm` / `*_norm` component; everything else decays —
 *   including BatchNorm and GroupNorm weights, position / token-type embeddings, `cls_token` and
 *   other 1-D parameters (DoRA magnitudes).
 */
export type WeightDecayRule = 'timm' | 'hf';

/** Learned position / type / special-token embeddings that timm-style rules exempt from weight decay. */
export const NO_WEIGHT_DECAY_NAMES: readonly string[] = [
  'cls_token',
  'dist_token',
  'mask_token',
  'pos_embed',
  'position_embeddings',
  'position_embedding',
  'token_type_embeddings',
  'relative_position_bias_table',
];

/** A name in `noDecay`: a string matches the full name, a suffix after a dot, or one dotted component; a RegExp is tested on the full name. */
export type NamePattern = string | RegExp;

export interface WeightDecayRuleOptions {
  /** Default 'timm'. */
  rule?: WeightDecayRule;
  /** More parameters to exempt from weight decay (either rule). */
  noDecay?: NamePattern[];
}

export interface WeightDecayOptions extends WeightDecayRuleOptions {
  weightDecay: number;
}

const HF_FORBIDDEN_NAME_PATTERNS = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

function isNormLayer(module: Module): boolean {
  return (
    module instanceof LayerNorm ||
    module instanceof GroupNorm ||
    module instanceof BatchNorm2d ||
    /(Batch|Group|Layer|Instance|RMS)Norm(\dd)?$/.test(module.constructor.name)
  );
}

function matchesName(name: string, pattern: NamePattern): boolean {
  if (pattern instanceof RegExp) return pattern.test(name);
  return name === pattern || name.endsWith(`.${pattern}`) || name.split('.').includes(pattern);
}

/** The parameters (by identity) that sit inside a module matching `test`, at any depth. */
function parametersInside(model: Module, test: (module: Module) => boolean): Set<Tensor> {
  const inside = new Set<Tensor>();
  for (const module of model.modules()) if (test(module)) for (const p of module.parameters()) inside.add(p);
  return inside;
}

/**
 * The names of the model's parameters that get no weight decay under `rule` (every parameter,
 * trainable or not, in namedParameters order).
 */
export function noWeightDecayNames(model: Module, options: WeightDecayRuleOptions = {}): string[] {
  const exempt = noWeightDecayTest(model, options);
  return model
    .namedParameters()
    .filter(([name, p]) => exempt(name, p))
    .map(([name]) => name);
}

function noWeightDecayTest(
  model: Module,
  { rule = 'timm', noDecay = [] }: WeightDecayRuleOptions,
): (name: string, p: Tensor) => boolean {
  if (rule !== 'timm' && rule !== 'hf')
    throw new Error(`weight decay rule must be 'timm' or 'hf', got '${String(rule)}'`);
  const extra = (name: string) => noDecay.some((pattern) => matchesName(name, pattern));
  if (rule === 'hf') {
    const inLayerNorm = parametersInside(model, (m) => m instanceof LayerNorm);
    return (name, p) =>
      inLayerNorm.has(p) || HF_FORBIDDEN_NAME_PATTERNS.some((re) => re.test(name.toLowerCase())) || extra(name);
  }
  const inNorm = parametersInside(model, isNormLayer);
  return (name, p) =>
    p.dim() <= 1 ||
    name.endsWith('.bias') ||
    name === 'bias' ||
    inNorm.has(p) ||
    NO_WEIGHT_DECAY_NAMES.some((n) => name.split('.').includes(n)) ||
    extra(name);
}

/**
 * Two groups, `decay` (weightDecay) and `no_decay` (0), of the trainable parameters, by `rule`
 * (see WeightDecayRule), in this order for both rules (timm lists no_decay first; the order does
 * not change the optimisation). Frozen parameters are left out and counted in `frozen` / `frozenNames`.
 */
export function weightDecayGroups(model: Module, options: WeightDecayOptions): ParamGroups {
  checkNonNegative('weightDecay', options.weightDecay);
  const exempt = noWeightDecayTest(model, options);
  const decay: BuiltParamGroup = { name: 'decay', weightDecay: options.weightDecay, params: [], paramNames: [] };
  const noDecay: BuiltParamGroup = { name: 'no_decay', weightDecay: 0, params: [], paramNames: [] };
  const frozen: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) {
      frozen.push(name);
      continue;
    }
    const group = exempt(name, p) ? noDecay : decay;
    group.params.push(p);
    group.paramNames.push(name);
  }
  return withFrozen([decay, noDecay], frozen);
}

// ---- layer groups ------------------------------------------------------------------------------

export interface LayerGroupOptions {
  /**
   * The layer groups to use instead of the model family's (models/registry.ts), input side first,
   * the head last; every parameter must be in one (the first that holds it).
   */
  layerGroups?: LayerGroup[];
}

interface ResolvedParameter {
  name: string;
  param: Tensor;
  group: number;
}

/**
 * Every parameter of `model` (namedParameters order, with its name in `model`) and the index of its
 * layer group. A PeftModel's groups are its inner model's, matched by identity; parameters outside
 * the inner model (prompt tuning's virtual-token embeddings) count as input-side, group 0.
 */
function resolveLayerGroups(
  model: Module,
  options: LayerGroupOptions,
): { groupNames: string[]; parameters: ResolvedParameter[] } {
  let groupNames: string[];
  const index = new Map<Tensor, number>();
  let fallback: number | undefined;
  if (options.layerGroups) {
    groupNames = options.layerGroups.map((g) => g.name);
    options.layerGroups.forEach((group, i) => {
      for (const module of group.modules) for (const p of module.parameters()) if (!index.has(p)) index.set(p, i);
    });
  } else {
    const inner = !hasLayerGroups(model) && model instanceof PeftModel ? model.model : model;
    if (!hasLayerGroups(inner)) {
      throw new Error(
        `${model.constructor.name} declares no layer groups: give options.layerGroups (input side first, the head last)`,
      );
    }
    const groups = parameterGroupsOf(inner);
    groupNames = groups.map((g) => g.name);
    groups.forEach((group, i) => group.parameters.forEach(([, p]) => index.set(p, i)));
    if (inner !== model) fallback = 0;
  }
  if (groupNames.length === 0) throw new Error('no layer groups');
  const parameters: ResolvedParameter[] = [];
  const ungrouped: string[] = [];
  for (const [name, param] of model.namedParameters()) {
    const group = index.get(param) ?? fallback;
    if (group === undefined) ungrouped.push(name);
    else parameters.push({ name, param, group });
  }
  if (ungrouped.length) throw new Error(`parameter(s) in no layer group: ${ungrouped.join(', ')}`);
  return { groupNames, parameters };
}

// ---- discriminative learning rates (fastai) ----------------------------------------------------

/**
 * Learning rates per layer group, as fastai's `Learner.lr_range`:
 *
 * - a number: that lr for every group;
 * - `[hi]` or `{ hi }` — fastai's `slice(hi)`: hi/10 for every group but the last (the head), which gets hi;
 * - `[lo, hi]` or `{ lo, hi }` — `slice(lo, hi)`: `even_mults(lo, hi, n)`, a geometric spread from lo
 *   (first group) to hi (last): lo·((hi/lo)^(1/(n−1)))^i, the last exactly hi;
 * - `{ hi, factor }` — ULMFiT (Howard & Ruder 2018, factor 2.6): hi / factor^(n−1−i).
 */
export type DiscriminativeLr = number | [number] | [number, number] | { hi: number; lo?: number; factor?: number };

export interface DiscriminativeLrOptions extends LayerGroupOptions, WeightDecayRuleOptions {
  /** When given, each layer group is split into `<group>:decay` and `<group>:no_decay` by `rule`. */
  weightDecay?: number;
}

/** The learning rate of each of `n` layer groups (input side first) for `lr`; see DiscriminativeLr. */
export function lrRange(lr: DiscriminativeLr, n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`lrRange: need at least one group, got ${n}`);
  if (typeof lr === 'number') {
    checkPositive('lr', lr);
    return new Array<number>(n).fill(lr);
  }
  let lo: number | undefined;
  let hi: number;
  let factor: number | undefined;
  if (Array.isArray(lr)) {
    const values = lr as number[];
    if (values.length === 1) [hi] = values;
    else if (values.length === 2) [lo, hi] = values;
    else throw new Error(`discriminative lr: give [hi] or [lo, hi], got ${values.length} numbers`);
  } else ({ lo, hi, factor } = lr);
  checkPositive('hi', hi);
  if (factor !== undefined) {
    if (lo !== undefined) throw new Error('discriminative lr: give lo or factor, not both');
    checkPositive('factor', factor);
    return Array.from({ length: n }, (_, i) => hi / factor ** (n - 1 - i));
  }
  // fastai: `if lr.start: even_mults(...)` — slice(0, hi) is slice(hi).
  if (lo) {
    checkPositive('lo', lo);
    if (n === 1) return [hi];
    // even_mults: start·step^i; the last is set to hi exactly (start·step^(n−1) can be off by an ulp).
    const step = (hi / lo) ** (1 / (n - 1));
    return Array.from({ length: n }, (_, i) => (i === n - 1 ? hi : lo! * step ** i));
  }
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? hi : hi / 10));
}

/**
 * One group per layer group (input side first), with fastai's discriminative learning rates
 * (see DiscriminativeLr). Groups are named as the layer groups (`embeddings`, `encoder.layer.0`, …,
 * `head`); with `weightDecay` each is split into `<group>:decay` / `<group>:no_decay`. Layer groups
 * whose parameters are all frozen are left out.
 */
export function discriminativeLr(
  model: Module,
  lr: DiscriminativeLr,
  options: DiscriminativeLrOptions = {},
): ParamGroups {
  const { groupNames, parameters } = resolveLayerGroups(model, options);
  const lrs = lrRange(lr, groupNames.length);
  const top = lrs[lrs.length - 1];
  const split = options.weightDecay !== undefined;
  if (split) checkNonNegative('weightDecay', options.weightDecay!);
  const exempt = split ? noWeightDecayTest(model, options) : null;
  const groups: BuiltParamGroup[][] = groupNames.map((name, i) => {
    const base = { lr: lrs[i], lrScale: lrs[i] / top, layerId: i };
    if (!split) return [{ name, ...base, params: [], paramNames: [] }];
    return [
      { name: `${name}:decay`, ...base, weightDecay: options.weightDecay, params: [], paramNames: [] },
      { name: `${name}:no_decay`, ...base, weightDecay: 0, params: [], paramNames: [] },
    ];
  });
  const frozen: string[] = [];
  for (const { name, param, group } of parameters) {
    if (!param.requiresGrad) {
      frozen.push(name);
      continue;
    }
    const target = groups[group][exempt && exempt(name, param) ? 1 : 0];
    target.params.push(param);
    target.paramNames.push(name);
  }
  return withFrozen(groups.flat(), frozen);
}

// ---- layer-wise lr decay (timm / BEiT) -----------------------------------------------------------

export interface LayerwiseLrDecayOptions extends LayerGroupOptions, WeightDecayRuleOptions {
  /** The head's learning rate (lr_scale 1). */
  lr: number;
  /** timm's layer_decay, e.g. 0.65–0.75 for ViT-B. */
  decay: number;
  /** For the `decay` groups; `no_decay` groups get 0. Default 0. */
  weightDecay?: number;
}

/**
 * timm's `param_groups_layer_decay` (after BEiT / MAE): layer id = layer-group index — 0 for the
 * stem / embeddings (ViT's patch embeddings, cls_token and position embeddings; BERT's embeddings),
 * i + 1 for block i, numLayers − 1 for the head, numLayers = number of layer groups (blocks + 2 for
 * BERT and ViT); lr = lr · decay^(numLayers − 1 − layerId). Each layer is split by the weight-decay
 * rule into timm's groups `layer_<id>_decay` / `layer_<id>_no_decay`, created in the order of the
 * model's parameters, as timm does; `lrScale` is timm's lr_scale (the lr is already scaled).
 *
 * ViT's final LayerNorm is in the head group here (as BEiT's and MAE's rule puts it); timm's
 * group_matcher puts it with the last block instead (one decay factor lower).
 */
export function layerwiseLrDecay(model: Module, options: LayerwiseLrDecayOptions): ParamGroups {
  const { lr, decay, weightDecay = 0 } = options;
  checkPositive('lr', lr);
  if (!(decay > 0 && decay <= 1)) throw new Error(`layerwiseLrDecay: decay must be in (0, 1], got ${decay}`);
  checkNonNegative('weightDecay', weightDecay);
  const { groupNames, parameters } = resolveLayerGroups(model, options);
  const numLayers = groupNames.length;
  const exempt = noWeightDecayTest(model, options);
  const groups = new Map<string, BuiltParamGroup>();
  const frozen: string[] = [];
  for (const { name, param, group: layerId } of parameters) {
    if (!param.requiresGrad) {
      frozen.push(name);
      continue;
    }
    const noDecay = exempt(name, param);
    const groupName = `layer_${layerId}_${noDecay ? 'no_decay' : 'decay'}`;
    let group = groups.get(groupName);
    if (!group) {
      const lrScale = decay ** (numLayers - 1 - layerId);
      group = {
        name: groupName,
        lr: lr * lrScale,
        weightDecay: noDecay ? 0 : weightDecay,
        lrScale,
        layerId,
        params: [],
        paramNames: [],
      };
      groups.set(groupName, group);
    }
    group.params.push(param);
    group.paramNames.push(name);
  }
  return withFrozen([...groups.values()], frozen);
}

// ---- checks ------------------------------------------------------------------------------------

function checkPositive(what: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0))
    throw new Error(`${what} must be a positive number, got ${String(value)}`);
}

function checkNonNegative(what: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0))
    throw new Error(`${what} must be a non-negative number, got ${String(value)}`);
}
