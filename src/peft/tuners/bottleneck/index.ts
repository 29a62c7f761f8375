/** Bottleneck adapters as two fine-tuning methods, Houlsby's and Pfeiffer's placement (one peft_type, BOTTLENECK). */
import { registerMethod, type MethodContext, type PeftMethodParts } from '../../methods.js';
import { BottleneckConfig, type BottleneckVariant } from './config.js';
import { BottleneckModel } from './model.js';

export {
  BottleneckConfig,
  type BottleneckConfigOptions,
  type BottleneckInit,
  type BottleneckNonLinearity,
  type BottleneckVariant,
} from './config.js';
export { BottleneckLayer, type BottleneckAdapterSettings, type BottleneckFeatureAxis } from './layer.js';
export { BottleneckModel, defaultBottleneckTargets } from './model.js';

function buildBottleneck({ facts, peftCommon, headNote, number }: MethodContext, variant: BottleneckVariant) {
  const reductionFactor = number('reduction-factor') ?? 16;
  return {
    strategy: new BottleneckConfig({ ...peftCommon, variant, reductionFactor }),
    describe: !['resnet', 'alexnet'].includes(facts.modelType)
      ? `${variant === 'houlsby' ? 'Houlsby' : 'Pfeiffer'} bottleneck adapters, reduction ${reductionFactor}${headNote}`
      : `bottleneck adapters of 1×1 convolutions, reduction ${reductionFactor} (on a CNN houlsby and pfeiffer place them alike)${headNote}`,
  };
}

function parts(variant: BottleneckVariant): PeftMethodParts<BottleneckConfig> {
  return {
    peftType: 'BOTTLENECK',
    config: BottleneckConfig,
    tuner: BottleneckModel,
    owns: (config) => config.variant === variant,
  };
}

// lr: Houlsby et al. 2019 sweep {3e-5, 1e-4, 3e-4, 1e-3}; AdapterHub's Pfeiffer adapters train at 1e-4 (Pfeiffer et al. 2020).
const adapterLr = () => ({ lr: 1e-4, why: 'bottleneck adapter default (Houlsby et al. 2019; Pfeiffer et al. 2020)' });

registerMethod({
  name: 'houlsby',
  aliases: ['adapters', 'bottleneck'],
  label: 'adapters (houlsby)',
  summary: 'bottleneck adapters after the attention and feed-forward outputs (--reduction-factor)',
  peft: parts('houlsby'),
  defaultLr: adapterLr,
  describeStrategy: (strategy) => `bottleneck adapters (${(strategy as BottleneckConfig).variant})`,
  build: (context) => buildBottleneck(context, 'houlsby'),
});

registerMethod({
  name: 'pfeiffer',
  aliases: ['adapters', 'bottleneck'],
  label: 'adapters (pfeiffer)',
  summary: 'bottleneck adapters after the feed-forward output (--reduction-factor)',
  peft: parts('pfeiffer'),
  defaultLr: adapterLr,
  describeStrategy: (strategy) => `bottleneck adapters (${(strategy as BottleneckConfig).variant})`,
  build: (context) => buildBottleneck(context, 'pfeiffer'),
});
