/**
 * LoRA and DoRA as fine-tuning methods (PEFT's tuners/lora/__init__.py: register_peft_method): one
 * peft_type, LORA, with one config class and tuner; DoRA is the config's useDora.
 */
import { defaultTargets } from '../../constants.js';
import { registerMethod, type MethodContext, type ModelFacts, type PeftMethodParts } from '../../methods.js';
import { LoraConfig } from './config.js';
import { LoraModel } from './model.js';

export { LoraConfig, type LoraBias, type LoraConfigOptions } from './config.js';
export { LoraConv1D, LoraConv2d, LoraEmbedding, LoraLayer, LoraLinear } from './layer.js';
export { DoraMagnitude } from './dora.js';
export { LoraModel } from './model.js';

/**
 * The modules LoRA wraps when none are given: the model type's entry of the constants table
 * (query and value for BERT and ViT), else query / value projections where the model has them,
 * else every Conv2d (`everyConv2d`); undefined when it has neither.
 */
export function defaultLoraTargets(
  facts: Pick<ModelFacts, 'modelType' | 'hasQueryValue' | 'convNames'>,
): { targetModules: string[]; everyConv2d: boolean } | undefined {
  const listed = defaultTargets('LORA', facts.modelType);
  if (listed) return { targetModules: [...listed.targetModules], everyConv2d: false };
  if (facts.hasQueryValue) return { targetModules: ['query', 'value'], everyConv2d: false };
  if (facts.convNames.length) return { targetModules: facts.convNames, everyConv2d: true };
  return undefined;
}

function buildLora(context: MethodContext, method: 'lora' | 'dora') {
  const { facts, peftCommon, headNote } = context;
  const targetModules =
    context.list('target-modules') ??
    defaultLoraTargets(facts)?.targetModules ??
    context.refuse(
      `--method ${method}: ${facts.architecture} has no query/value projections or Conv2d layers; give --target-modules`,
    );
  const r = context.number('lora-r') ?? 8;
  const loraAlpha = context.number('lora-alpha') ?? 32;
  const loraDropout = context.number('lora-dropout') ?? 0.1;
  if (!(Number.isInteger(r) && r > 0)) context.refuse(`--lora-r must be a positive integer, got ${r}`);
  // 'all-linear' alone is PEFT's keyword (every Linear but the head), not a module name.
  const targetSpec: string[] | string =
    targetModules.length === 1 && targetModules[0] === 'all-linear' ? 'all-linear' : targetModules;
  const strategy = new LoraConfig({
    ...peftCommon,
    r,
    loraAlpha,
    loraDropout,
    targetModules: targetSpec,
    useDora: method === 'dora',
  });
  const shown =
    typeof targetSpec === 'string'
      ? 'every Linear layer but the head (all-linear)'
      : targetModules.length > 4
        ? `${targetModules.length} modules`
        : targetModules.join(', ');
  return {
    strategy,
    describe: `${method === 'dora' ? 'DoRA' : 'LoRA'} r=${r}, α=${loraAlpha}, dropout ${loraDropout} on ${shown}${headNote}`,
  };
}

const describeLora = (config: LoraConfig) =>
  `${config.useDora ? 'DoRA' : 'LoRA'} (r=${config.r}, α=${config.loraAlpha})`;

const LORA: PeftMethodParts<LoraConfig> = {
  peftType: 'LORA',
  config: LoraConfig,
  tuner: LoraModel,
  owns: (config) => !config.useDora,
};
const DORA: PeftMethodParts<LoraConfig> = { ...LORA, owns: (config) => config.useDora };

// lr: QLoRA (Dettmers et al. 2023) and the PEFT / Hugging Face LoRA guides train at 2e-4; Hu et al.
// 2021 used 4e-4–5e-4 for RoBERTa. DoRA trains the same factors plus a magnitude, at LoRA's rate.
registerMethod({
  name: 'lora',
  label: 'lora',
  summary: 'low-rank updates B·A of the targeted layers (--lora-r, --lora-alpha, --target-modules)',
  peft: LORA,
  defaultLr: () => ({ lr: 2e-4, why: 'LoRA default (QLoRA, Dettmers et al. 2023; PEFT guides)' }),
  describeStrategy: (strategy) => describeLora(strategy as LoraConfig),
  build: (context) => buildLora(context, 'lora'),
});

registerMethod({
  name: 'dora',
  label: 'dora',
  summary: 'LoRA plus a learned magnitude per output (DoRA, Liu et al. 2024)',
  peft: DORA,
  defaultLr: () => ({ lr: 2e-4, why: 'DoRA default (as LoRA: QLoRA, Dettmers et al. 2023; PEFT guides)' }),
  describeStrategy: (strategy) => describeLora(strategy as LoraConfig),
  build: (context) => buildLora(context, 'dora'),
});
