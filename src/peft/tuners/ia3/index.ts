/** (IA)³ as a fine-tuning method (PEFT's tuners/ia3/__init__.py: register_peft_method). */
import { defaultTargets } from '../../constants.js';
import { registerMethod } from '../../methods.js';
import { IA3Config } from './config.js';
import { IA3Model } from './model.js';

export { IA3Config, type IA3ConfigOptions } from './config.js';
export { IA3Conv2d, IA3Layer, IA3Linear, type IA3AdapterSettings } from './layer.js';
export { IA3Model, isFeedforward } from './model.js';

registerMethod({
  name: 'ia3',
  label: 'ia3',
  summary: 'learned vectors rescaling attention keys, values and feed-forward inputs ((IA)³)',
  peft: { peftType: 'IA3', config: IA3Config, tuner: IA3Model },
  // T-Few (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning") trains (IA)³ at 3e-3.
  defaultLr: () => ({ lr: 3e-3, why: 'IA3 default (T-Few, Liu et al. 2022)' }),
  describeStrategy: () => 'IA3',
  build: ({ facts, peftCommon, headNote, list, refuse }) => {
    const targets = list('target-modules');
    const defaults = defaultTargets('IA3', facts.modelType);
    let config: IA3Config;
    if (targets)
      config = new IA3Config({
        ...peftCommon,
        targetModules: targets,
        feedforwardModules: targets.filter((t) => /output\.dense|fc|mlp/.test(t)),
      });
    // PEFT's own defaults are filled in by the tuner (and so recorded as PEFT records them); finetune's are given.
    else if (defaults?.source === 'peft') config = new IA3Config({ ...peftCommon });
    else if (defaults)
      config = new IA3Config({
        ...peftCommon,
        targetModules: [...defaults.targetModules],
        feedforwardModules: [...(defaults.feedforwardModules ?? [])],
      });
    else return refuse(`--method ia3: PEFT has no default IA3 targets for ${facts.modelType}; give --target-modules`);
    return { strategy: config, describe: `IA3 scaling vectors on keys, values and feed-forward inputs${headNote}` };
  },
});
