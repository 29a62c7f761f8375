/**
 * IA3Model (PEFT's tuners/ia3/model.py): replaces each targeted Linear or Conv2d with its (IA)³
 * layer, a feedforward one (input scaled) where the name matches feedforwardModules. With
 * targetModules / feedforwardModules left null, PEFT's defaults for the model type are used
 * and written into the config (so adapter_config.json records them, as PEFT's does).
 */
import { Conv1D, Conv2d, Linear, type Module } from '../../../nn/index.js';
import { defaultTargets } from '../../constants.js';
import { BaseTuner, baseClassName, modelTypeOf } from '../base-tuner.js';
import { peftPattern } from '../../patterns.js';
import { replaceSubmodule } from '../tuner-utils.js';
import type { IA3Config } from './config.js';
import { IA3Conv2d, IA3Layer, IA3Linear } from './layer.js';

export class IA3Model extends BaseTuner<IA3Config> {
  /** What its parameter names start with (ia3_l); PeftModel reserves it in adapter names. */
  static readonly prefix = 'ia3_';
  readonly prefix = IA3Model.prefix;

  constructor(model: Module, config: IA3Config, adapterName = 'default') {
    super(model, config, adapterName);
    this.injectAdapter(adapterName, config);
  }

  /**
   * PEFT's _prepare_adapter_config: null targetModules / feedforwardModules get PEFT's defaults for
   * the model type (constants.ts; only PEFT's own, as PEFT has them), in place.
   */
  protected override resolveConfig(config: IA3Config): IA3Config {
    if (config.targetModules === null || config.feedforwardModules === null) {
      const modelType = modelTypeOf(this.model);
      const defaults = defaultTargets('IA3', modelType, true);
      const what = `${this.model.constructor.name}${modelType !== null ? ` (model_type '${modelType}')` : ''}`;
      if (config.targetModules === null) {
        if (!defaults) {
          throw new Error(
            `IA3: no default target modules for ${what}; give IA3Config targetModules (and feedforwardModules), ` +
              `e.g. new IA3Config({ targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'] })`,
          );
        }
        config.targetModules = [...defaults.targetModules];
      }
      if (config.feedforwardModules === null) {
        if (!defaults?.feedforwardModules) {
          throw new Error(
            `IA3: no default feedforward modules for ${what}; give IA3Config feedforwardModules ([] for none)`,
          );
        }
        config.feedforwardModules = [...defaults.feedforwardModules];
      }
    }
    return super.resolveConfig(config);
  }

  protected createAndReplace(config: IA3Config, adapterName: string, target: Module, key: string): void {
    const settings = { initIa3Weights: config.initIa3Weights };
    if (target instanceof IA3Layer) {
      target.updateLayer(adapterName, settings);
      return;
    }
    const layer = newIa3Layer(target, key, isFeedforward(config, key), config);
    layer.updateLayer(adapterName, settings);
    replaceSubmodule(this.model, key, layer);
  }
}

/**
 * Whether the module named `key` is a feedforward layer for `config` (PEFT's
 * _check_target_module_feedforward): a regex must match the whole name; a list entry is a
 * plain suffix, without a dot boundary ('output.dense' also matches 'attention.output.dense').
 */
export function isFeedforward(config: Pick<IA3Config, 'feedforwardModules'>, key: string): boolean {
  const modules = config.feedforwardModules;
  if (modules === null) return false;
  if (typeof modules === 'string') return peftPattern('feedforward_modules', modules).fullMatch(key);
  return modules.some((m) => key.endsWith(m));
}

function newIa3Layer(target: Module, key: string, feedforward: boolean, config: IA3Config): IA3Layer {
  if (target instanceof Linear) {
    if (config.fanInFanOut) {
      // As PEFT does for torch.nn.Linear (once: the config is changed); fan_in_fan_out is for Conv1D ([in, out]).
      console.warn(
        'fanInFanOut is set to true but the target module is a Linear (weights stored [out, in]); setting fanInFanOut to false.',
      );
      config.fanInFanOut = false;
    }
    return new IA3Linear(target, feedforward);
  }
  if (target instanceof Conv1D) {
    if (!config.fanInFanOut) {
      // Conv1D stores W as [in, out]: PEFT switches fan_in_fan_out on (and saves it so) with this warning.
      console.warn('fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.');
      config.fanInFanOut = true;
    }
    return new IA3Linear(target, feedforward);
  }
  if (target instanceof Conv2d) return new IA3Conv2d(target, feedforward);
  throw new Error(
    `Target module '${key}' (${baseClassName(target)}) is not supported by IA3; supported: Linear, Conv1D, Conv2d`,
  );
}
