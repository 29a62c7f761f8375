/**
 * Parameter groups, as torch.optim's param_groups: each group's tensors share a learning rate,
 * weight decay and the optimizer's other hyperparameters. Schedules and param-group builders
 * work on this shape; optimizers own and update it.
 */
import type { Tensor } from '../tensor/index.js';

/** Hyperparameters a group may override (camelCase of PyTorch's names). */
export interface GroupOptions {
  lr?: number;
  weightDecay?: number;
  /** Adam/AdamW. */
  betas?: [number, number];
  eps?: number;
  amsgrad?: boolean;
  /** SGD. */
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/** What a caller gives an optimizer: tensors plus per-group overrides, and an optional name for reports. */
export interface ParamGroupSpec extends GroupOptions {
  params: Tensor[];
  /** A label for logs and reports ('encoder.layer.3', 'no_decay'). */
  name?: string;
  /** Parameter names, parallel to params, for reports and tests. */
  paramNames?: string[];
}

/** A group inside an optimizer: every hyperparameter filled in. Schedules write `lr`. */
export interface ParamGroup extends Required<
  Omit<GroupOptions, 'betas' | 'eps' | 'amsgrad' | 'momentum' | 'dampening' | 'nesterov'>
> {
  params: Tensor[];
  name?: string;
  paramNames?: string[];
  /** The lr the group started with; schedules scale from it (PyTorch's initial_lr). */
  initialLr: number;
  betas?: [number, number];
  eps?: number;
  amsgrad?: boolean;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** Anything else a method keeps per group. */
  [extra: string]: unknown;
}

/** What schedules and the LR finder need from an optimizer. */
export interface HasParamGroups {
  readonly paramGroups: ParamGroup[];
}
