/**
 * LoraModel (PEFT's tuners/lora/model.py): replaces each targeted Linear, Conv1D, Conv2d or Embedding
 * with its LoRA layer, with the rank and α of rankPattern / alphaPattern where they match.
 */
import { Conv1D, Conv2d, Embedding, Linear, type Module } from '../../../nn/index.js';
import { defaultTargets } from '../../constants.js';
import { BaseTuner, baseClassName, modelTypeOf } from '../base-tuner.js';
import { patternKey, replaceSubmodule } from '../tuner-utils.js';
import type { LoraConfig } from './config.js';
import { LoraConv1D, LoraConv2d, LoraEmbedding, LoraLayer, LoraLinear, type LoraAdapterSettings } from './layer.js';

export class LoraModel extends BaseTuner<LoraConfig> {
  /** What its parameter names start with (lora_A, lora_B); PeftModel reserves it in adapter names. */
  static readonly prefix = 'lora_';
  readonly prefix = LoraModel.prefix;

  constructor(model: Module, config: LoraConfig, adapterName = 'default') {
    super(model, config, adapterName);
    this.injectAdapter(adapterName, config);
  }

  /** PEFT's default targets for the model's type (c_attn for GPT-2, query/value for BERT) when none are given. */
  protected override resolveConfig(config: LoraConfig): LoraConfig {
    if (config.targetModules === null) {
      const defaults = defaultTargets('LORA', modelTypeOf(this.model), true);
      if (defaults) config.targetModules = [...defaults.targetModules];
    }
    return super.resolveConfig(config);
  }

  protected createAndReplace(config: LoraConfig, adapterName: string, target: Module, key: string): void {
    const rankKey = patternKey('rank_pattern', Object.keys(config.rankPattern), key);
    const alphaKey = patternKey('alpha_pattern', Object.keys(config.alphaPattern), key);
    const settings: LoraAdapterSettings = {
      r: rankKey !== undefined ? config.rankPattern[rankKey] : config.r,
      loraAlpha: alphaKey !== undefined ? config.alphaPattern[alphaKey] : config.loraAlpha,
      loraDropout: config.loraDropout,
      useRslora: config.useRslora,
      initLoraWeights: config.initLoraWeights,
      useDora: config.useDora,
    };
    if (target instanceof LoraLayer) {
      target.updateLayer(adapterName, settings);
      return;
    }
    if (config.fanInFanOut && target instanceof Linear) {
      // Linear stores W as [out, in]; fan_in_fan_out is for GPT-2's Conv1D. PEFT resets it the same way.
      console.warn(`fanInFanOut is set to true but '${key}' is a Linear layer; setting fanInFanOut to false`);
      config.fanInFanOut = false;
    } else if (!config.fanInFanOut && target instanceof Conv1D) {
      // Conv1D stores W as [in, out]: PEFT switches fan_in_fan_out on (and saves it so) with this warning.
      console.warn('fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.');
      config.fanInFanOut = true;
    }
    const layer = newLoraLayer(target, key);
    layer.updateLayer(adapterName, settings);
    replaceSubmodule(this.model, key, layer);
  }

  protected override markOnlyAdaptersAsTrainable(adapterName: string): void {
    super.markOnlyAdaptersAsTrainable(adapterName);
    const bias = this.peftConfig.get(adapterName)!.bias;
    if (bias === 'all') {
      for (const [name, p] of this.model.namedParameters())
        if (name.endsWith('bias') && !name.includes('.original_module.')) p.requiresGrad_(true);
    } else if (bias === 'lora_only') {
      for (const [, layer] of this.tunerLayers()) (layer.base_layer as Linear).bias?.requiresGrad_(true);
    }
  }
}

function newLoraLayer(target: Module, key: string): LoraLayer {
  if (target instanceof Linear) return new LoraLinear(target);
  if (target instanceof Conv1D) return new LoraConv1D(target);
  if (target instanceof Conv2d) return new LoraConv2d(target);
  if (target instanceof Embedding) return new LoraEmbedding(target);
  throw new Error(
    `Target module '${key}' (${baseClassName(target)}) is not supported by LoRA; supported: Linear, Conv1D, Conv2d, Embedding`,
  );
}
