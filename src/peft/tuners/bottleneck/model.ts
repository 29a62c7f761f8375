/**
 * BottleneckModel: wraps each targeted module's output with bottleneck adapters (see
 * config.ts for the method, the default placements per model family and the file format).
 * Adapter parameters are named `adapter_down.<name>` / `adapter_up.<name>`, so the prefix
 * 'adapter_' marks what trains and what is saved.
 */
import { Conv2d, type Module } from '../../../nn/index.js';
import { familyOfModel } from '../../../models/registry.js';
import { LLAMA_MODEL_TYPES } from '../../../models/llama-config.js';
import { BasicBlock, Bottleneck } from '../../../models/resnet.js';
import { BaseTuner, baseClassName } from '../base-tuner.js';
import { baseLayerOf, layerIndex, replaceSubmodule } from '../tuner-utils.js';
import { BottleneckConfig, type BottleneckVariant } from './config.js';
import { BottleneckLayer, outputFeatures, SUPPORTED_BOTTLENECK_TARGETS } from './layer.js';

/** The transformer families whose layers follow BERT's naming (`encoder.layer.N.attention.output.dense`, `encoder.layer.N.output.dense`). */
const TRANSFORMER_FAMILIES = new Set(['bert', 'vit']);

const TRANSFORMER_TARGETS: Record<BottleneckVariant, RegExp> = {
  houlsby: /^(?:.*\.)?encoder\.layer\.\d+\.(?:attention\.output|output)\.dense$/,
  pfeiffer: /^(?:.*\.)?encoder\.layer\.\d+\.output\.dense$/,
};

/**
 * The decoders' output projections of attention and feed-forward, the same places in their naming:
 * GPT-2's `h.N.attn.c_proj` / `h.N.mlp.c_proj`, the Llama family's `layers.N.self_attn.o_proj` /
 * `layers.N.mlp.down_proj` (before the residual add, as for BERT).
 */
const DECODER_TARGETS: Record<string, Record<BottleneckVariant, RegExp>> = {
  gpt2: { houlsby: /^(?:.*\.)?h\.\d+\.(?:attn|mlp)\.c_proj$/, pfeiffer: /^(?:.*\.)?h\.\d+\.mlp\.c_proj$/ },
  llama: {
    houlsby: /^(?:.*\.)?layers\.\d+\.(?:self_attn\.o_proj|mlp\.down_proj)$/,
    pfeiffer: /^(?:.*\.)?layers\.\d+\.mlp\.down_proj$/,
  },
};

export class BottleneckModel extends BaseTuner<BottleneckConfig> {
  /** What its parameter names start with (adapter_down, adapter_up); PeftModel reserves it in adapter names. */
  static readonly prefix = 'adapter_';
  readonly prefix = BottleneckModel.prefix;

  constructor(model: Module, config: BottleneckConfig, adapterName = 'default') {
    super(model, config, adapterName);
    this.injectAdapter(adapterName, config);
  }

  /** targetModules null → the exact names of the family's default placement, filtered by layersToTransform. */
  protected override resolveConfig(config: BottleneckConfig): BottleneckConfig {
    const resolved = super.resolveConfig(config);
    if (resolved.targetModules !== null) return resolved;
    const defaults = defaultBottleneckTargets(this.model, this.candidateModules(), resolved.variant);
    const wanted = resolved.layersToTransform;
    const layers = wanted === null || wanted === undefined ? null : Array.isArray(wanted) ? wanted : [wanted];
    const names =
      layers === null || layers.length === 0
        ? defaults
        : defaults.filter((key) => {
            const index = layerIndex(key, resolved.layersPattern ?? null);
            return index !== null && layers.includes(index);
          });
    if (names.length === 0) {
      throw new Error(
        `BottleneckConfig: layersToTransform ${JSON.stringify(wanted)} leaves none of the default targets of ${this.model.constructor.name} ` +
          `(${defaults.join(', ')})`,
      );
    }
    return Object.assign(Object.create(Object.getPrototypeOf(resolved) as object) as BottleneckConfig, resolved, {
      targetModules: names,
    });
  }

  protected createAndReplace(config: BottleneckConfig, adapterName: string, target: Module, key: string): void {
    const out = outputFeatures(target instanceof BottleneckLayer ? target.base_layer : target);
    if (!out)
      throw new Error(
        `Target module '${key}' (${baseClassName(target)}) is not supported by bottleneck adapters; supported: ${SUPPORTED_BOTTLENECK_TARGETS}`,
      );
    const settings = {
      size: Math.max(1, Math.floor(out.features / config.reductionFactor)),
      nonLinearity: config.nonLinearity,
      initWeights: config.initWeights,
    };
    if (target instanceof BottleneckLayer) {
      target.updateLayer(adapterName, settings);
      return;
    }
    const layer = new BottleneckLayer(target);
    layer.updateLayer(adapterName, settings);
    replaceSubmodule(this.model, key, layer);
  }
}

/**
 * The module names finetune puts bottleneck adapters on by default (see config.ts): for
 * bert / vit / gpt2 / the Llama family by `variant`, for resnet the last BatchNorm of each residual block, for alexnet
 * each Conv2d of `features`. Throws for other models, which need targetModules.
 */
export function defaultBottleneckTargets(
  model: Module,
  candidates: [string, Module][],
  variant: BottleneckVariant,
): string[] {
  let modelType: string;
  try {
    modelType = familyOfModel(model).family.modelType;
  } catch {
    throw new Error(
      `BottleneckConfig: ${model.constructor.name} is not a registered model family, so there is no default placement; give targetModules`,
    );
  }
  const decoder =
    DECODER_TARGETS[modelType] ??
    ((LLAMA_MODEL_TYPES as readonly string[]).includes(modelType) ? DECODER_TARGETS.llama : undefined);
  if (TRANSFORMER_FAMILIES.has(modelType) || decoder) {
    const pattern = (decoder ?? TRANSFORMER_TARGETS)[variant];
    return candidates.filter(([key]) => pattern.test(key)).map(([key]) => key);
  }
  if (modelType === 'resnet') {
    const names: string[] = [];
    for (const [key, module] of candidates) {
      if (module instanceof Bottleneck) names.push(`${key}.bn3`);
      else if (module instanceof BasicBlock) names.push(`${key}.bn2`);
    }
    return names;
  }
  if (modelType === 'alexnet') {
    return candidates
      .filter(([key, module]) => /^features\.\d+$/.test(key) && baseLayerOf(module) instanceof Conv2d)
      .map(([key]) => key);
  }
  throw new Error(
    `BottleneckConfig: no default placement for ${model.constructor.name} (model_type '${modelType}'); give targetModules`,
  );
}
