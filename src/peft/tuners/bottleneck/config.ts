/**
 * BottleneckConfig: bottleneck adapters (Houlsby et al., 2019, "Parameter-Efficient Transfer
 * Learning for NLP"; Pfeiffer et al., 2020, "AdapterFusion") as a PEFT-style method.
 *
 * An adapter wraps a module and transforms its output: h → h + up(act(down(h))), with
 * down: d → max(1, ⌊d / reductionFactor⌋) and up back to d (Linear layers over the last
 * dimension for Linear / LayerNorm outputs, 1×1 Conv2d layers over dim 1 for Conv2d /
 * BatchNorm2d / GroupNorm outputs). Several adapters on one layer are applied in sequence.
 *
 * Where adapters go by default (targetModules null), by model family:
 * - bert, vit, variant 'houlsby': after the attention output projection and after the
 *   feed-forward output projection of every layer (`encoder.layer.N.attention.output.dense`,
 *   `encoder.layer.N.output.dense`), i.e. before dropout, the residual add and (BERT) the
 *   LayerNorm — Houlsby's two adapters per layer.
 * - bert, vit, variant 'pfeiffer': after the feed-forward output projection only
 *   (`encoder.layer.N.output.dense`). Only the placement is Pfeiffer's: AdapterHub's
 *   Pfeiffer configuration also re-applies the layer's LayerNorm around the adapter, which
 *   finetune does not.
 * - gpt2, llama (qwen2, mistral): the same places in a decoder layer — houlsby after the attention
 *   and feed-forward output projections (`h.N.attn.c_proj`, `h.N.mlp.c_proj`; `layers.N.self_attn.o_proj`,
 *   `layers.N.mlp.down_proj`), pfeiffer after the feed-forward one only.
 * - resnet: after the last BatchNorm of every residual block (`layerK.M.bn3` in Bottleneck
 *   blocks, `layerK.M.bn2` in BasicBlocks), before the shortcut add; a 1×1-conv bottleneck.
 * - alexnet: after every Conv2d of `features` (before its ReLU); a 1×1-conv bottleneck.
 * The variant only changes the transformer defaults. Other models need targetModules.
 *
 * Initialisation ('near-identity', the default): down ~ N(0, 0.01²) truncated to ±0.02
 * (Houlsby's near-identity draw), up = 0, both biases 0, so every adapter is exactly the
 * identity at the start and training starts from the base model's outputs (as LoRA's B = 0).
 * 'houlsby' draws up the same way as down (the paper's: close to, not exactly, the identity);
 * false keeps PyTorch's default Linear / Conv2d initialisation (random; for tests).
 *
 * Bottleneck adapters put a nonlinearity between the layers, so they cannot be merged into
 * the base weights: mergeAdapter / mergeAndUnload throw.
 *
 * Files: Python PEFT has no bottleneck method, so the format is finetune's own, in PEFT's
 * layout. adapter_config.json holds `peft_type: "BOTTLENECK"` and, with AdapterHub's names
 * where AdapterHub has the field: `variant` ("houlsby" | "pfeiffer"), `reduction_factor`,
 * `non_linearity` ("relu" | "gelu" | "swish" | "silu" | "tanh"), `init_weights`
 * ("near-identity" | "houlsby" | false), and PEFT's `target_modules` (null: the family
 * defaults above), `exclude_modules`, `modules_to_save`, `layers_to_transform`,
 * `layers_pattern`, `task_type`, `base_model_name_or_path`, `revision`, `inference_mode`.
 * adapter_model.safetensors holds, per wrapped module, `base_model.model.<module>.adapter_down.weight`
 * / `.bias` and `base_model.model.<module>.adapter_up.weight` / `.bias` ([m, d] / [d, m] for
 * Linear adapters, [m, d, 1, 1] / [d, m, 1, 1] for conv adapters), plus modules-to-save copies
 * under the module's own name (`base_model.model.classifier.weight`), as PEFT writes them.
 *
 *   const model = getPeftModel(bert, new BottleneckConfig({ taskType: 'SEQ_CLS', variant: 'houlsby', reductionFactor: 16 }));
 */
import {
  PeftConfig,
  PeftConfigFieldError,
  peftField,
  type PeftConfigOptions,
  type PeftFieldsOf,
  type PeftOptionsOf,
} from '../../config.js';

export type BottleneckVariant = 'houlsby' | 'pfeiffer';
/** The adapter's activation; 'swish' and 'silu' are the same function (AdapterHub names it swish). */
export type BottleneckNonLinearity = 'relu' | 'gelu' | 'swish' | 'silu' | 'tanh';
export type BottleneckInit = 'near-identity' | 'houlsby' | false;

const VARIANTS: readonly BottleneckVariant[] = ['houlsby', 'pfeiffer'];
const NON_LINEARITIES: readonly BottleneckNonLinearity[] = ['relu', 'gelu', 'swish', 'silu', 'tanh'];
const INITS: readonly BottleneckInit[] = ['near-identity', 'houlsby', false];

/** BottleneckConfig's fields, in adapter_config.json's order (PeftConfig's come first). */
export const BOTTLENECK_FIELDS = {
  /** Default placement for transformers: 'houlsby' (after attention and FFN) or 'pfeiffer' (after FFN only). Default 'pfeiffer'. */
  variant: peftField<BottleneckVariant>({ default: 'pfeiffer' }),
  /** d / bottleneck size: the bottleneck has max(1, ⌊d / reductionFactor⌋) units. Default 16. */
  reductionFactor: peftField<number>({ kind: 'positiveNumber', default: 16 }),
  /** The bottleneck's activation. Default 'relu'. */
  nonLinearity: peftField<BottleneckNonLinearity>({ default: 'relu' }),
  /** Modules whose outputs get an adapter: list → exact name or suffix after a dot; string → full-match regex; null → the family defaults. */
  targetModules: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** Names never to wrap, same forms as targetModules. */
  excludeModules: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** Modules trained and saved whole besides the adapters (a new head). SEQ_CLS adds the classifier. */
  modulesToSave: peftField<string[] | null>({ kind: 'moduleNames', default: null }),
  /** Layer indexes to adapt (with the defaults or a list of targetModules); null for all. */
  layersToTransform: peftField<number[] | number | null>({ kind: 'layerIndices', default: null }),
  /** The name of the layer list that layersToTransform indexes ('layer'); null: found by PEFT's rule. */
  layersPattern: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** 'near-identity' (default): up = 0, exact identity at start; 'houlsby': both small normal; false: random. */
  initWeights: peftField<BottleneckInit>({ default: 'near-identity' }),
};

export type BottleneckConfigOptions = PeftConfigOptions & PeftOptionsOf<typeof BOTTLENECK_FIELDS>;

// The fields are BOTTLENECK_FIELDS', assigned by PeftConfig's constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface BottleneckConfig extends PeftFieldsOf<typeof BOTTLENECK_FIELDS> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class BottleneckConfig extends PeftConfig {
  readonly peftType = 'BOTTLENECK' as const;

  constructor(options: BottleneckConfigOptions = {}) {
    super(options, BOTTLENECK_FIELDS);
    if (!VARIANTS.includes(this.variant))
      throw new PeftConfigFieldError('BottleneckConfig', 'variant', "must be 'houlsby' or 'pfeiffer'", this.variant);
    if (!NON_LINEARITIES.includes(this.nonLinearity)) {
      throw new PeftConfigFieldError(
        'BottleneckConfig',
        'nonLinearity',
        `must be one of ${NON_LINEARITIES.join(', ')}`,
        this.nonLinearity,
      );
    }
    if (!INITS.includes(this.initWeights)) {
      throw new PeftConfigFieldError(
        'BottleneckConfig',
        'initWeights',
        "must be 'near-identity', 'houlsby' or false",
        this.initWeights,
      );
    }
    if (this.layersPattern !== null && this.layersToTransform === null) {
      throw new Error('BottleneckConfig: layersPattern only applies together with layersToTransform');
    }
    if (typeof this.targetModules === 'string' && this.layersToTransform !== null) {
      throw new Error(
        'BottleneckConfig: layersToTransform needs targetModules as a list (or null for the defaults), not a regex string',
      );
    }
  }

  /** The bottleneck size for a module with `features` features: max(1, ⌊features / reductionFactor⌋), as AdapterHub. */
  bottleneckSize(features: number): number {
    return Math.max(1, Math.floor(features / this.reductionFactor));
  }
}
