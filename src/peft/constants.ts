/**
 * Per model family constants of the fine-tuning methods, in one table (PEFT's utils/constants.py):
 * which modules an adapter wraps when none are given, and the family facts the default learning
 * rates depend on. Keys are config.json's model_type.
 */

/** Where a default comes from: PEFT's own mapping, or finetune's where PEFT has none. */
export type DefaultSource = 'peft' | 'finetune';

export interface DefaultTargets {
  /** The modules wrapped: names matched as a suffix after a dot, as a list of targetModules is. */
  targetModules: readonly string[];
  /** IA3: the targets whose input (not output) is scaled. */
  feedforwardModules?: readonly string[];
  source: DefaultSource;
}

/**
 * Default targets by peft_type and model_type. PEFT's entries are its
 * TRANSFORMERS_MODELS_TO_<METHOD>_TARGET_MODULES_MAPPING (and IA3's FEEDFORWARD mapping) for the
 * model types finetune has; PEFT 0.21 has none for vit, resnet or alexnet. finetune's entries fill in
 * where the layers are named as BERT's (ViT). Families without an entry get a method's structural
 * default where it has one (LoRA: every Conv2d; bottleneck adapters: see bottleneck/config.ts).
 */
export const DEFAULT_TARGET_MODULES: Readonly<Record<string, Readonly<Record<string, DefaultTargets>>>> = {
  LORA: {
    bert: { targetModules: ['query', 'value'], source: 'peft' },
    vit: { targetModules: ['query', 'value'], source: 'peft' },
    gpt2: { targetModules: ['c_attn'], source: 'peft' },
    llama: { targetModules: ['q_proj', 'v_proj'], source: 'peft' },
    qwen2: { targetModules: ['q_proj', 'v_proj'], source: 'peft' },
    mistral: { targetModules: ['q_proj', 'v_proj'], source: 'peft' },
  },
  IA3: {
    bert: { targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'], source: 'peft' },
    vit: { targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'], source: 'finetune' },
    gpt2: { targetModules: ['c_attn', 'mlp.c_proj'], feedforwardModules: ['mlp.c_proj'], source: 'peft' },
    llama: { targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'], source: 'peft' },
    qwen2: { targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'], source: 'peft' },
    mistral: { targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'], source: 'peft' },
  },
};

/** The default targets of `peftType` for `modelType` (only PEFT's own with `peftOnly`), or undefined. */
export function defaultTargets(
  peftType: string,
  modelType: string | null | undefined,
  peftOnly = false,
): DefaultTargets | undefined {
  const byModel = Object.hasOwn(DEFAULT_TARGET_MODULES, peftType) ? DEFAULT_TARGET_MODULES[peftType] : undefined;
  const found = byModel && modelType && Object.hasOwn(byModel, modelType) ? byModel[modelType] : undefined;
  return found && (!peftOnly || found.source === 'peft') ? found : undefined;
}

/** CNN families (torchvision-style training recipes); every other model_type is treated as a transformer. */
export const CNN_MODEL_TYPES: ReadonlySet<string> = new Set([
  'resnet',
  'alexnet',
  'vgg',
  'densenet',
  'mobilenet',
  'mobilenet_v2',
  'efficientnet',
  'convnext',
  'regnet',
]);

/** How plans and lr reasons name a family. */
export const FAMILY_NAMES: Readonly<Record<string, string>> = {
  bert: 'BERT',
  vit: 'ViT',
  resnet: 'ResNet',
  alexnet: 'AlexNet',
  roberta: 'RoBERTa',
  gpt2: 'GPT-2',
  llama: 'Llama',
  qwen2: 'Qwen2',
  mistral: 'Mistral',
};
