/**
 * The type every registered family's models share, after transformers' PreTrainedModel: a Module with
 * a typed config, the family it is registered in, config.json as savePretrained writes it, and the
 * facts of its classification head — so loaders, the Trainer and the CLI reach them without casts.
 */
import { isGradientCheckpointing, Module, setGradientCheckpointing } from '../nn/index.js';
import { defaultLabels, type HeadLabels, type LabelsConfig } from './pretrained-config.js';
import { familyOfModel, type HfConfig, type ModelFamily } from './registry.js';

/** Whether a config carries the shared label fields (BERT's and ViT's do; the torchvision families count classes instead). */
export function hasLabels(config: object): config is LabelsConfig {
  return 'numLabels' in config;
}

/**
 * A model of a registered family (BertModel, BertForSequenceClassification, ViTForImageClassification,
 * ResNet, AlexNet, …). Its class name is its architecture, as config.json's `architectures` names it.
 */
export abstract class PretrainedModel<Config extends object = object> extends Module {
  /** The family's typed config (BertConfig, ViTConfig, ResolvedResNetConfig, …). */
  abstract readonly config: Config;

  /** The family this architecture is registered in (throws for a subclass that is not registered). */
  get family(): ModelFamily {
    return familyOfModel(this).family;
  }

  /** config.json for this model, as savePretrained writes it (the family's configToHf). */
  toConfigJson(): HfConfig {
    const { family, architecture } = familyOfModel(this);
    return family.configToHf(this.config, architecture);
  }

  /** The head's size, class names and problem type, as the config says (the family's headLabels). */
  headLabels(): HeadLabels {
    const family = this.family;
    if (family.headLabels) return family.headLabels(this.config);
    if (!hasLabels(this.config))
      throw new Error(`${this.constructor.name}: its config has no numLabels and its family declares no headLabels`);
    const { numLabels, id2label, problemType } = this.config;
    return { numLabels, id2label: id2label ?? defaultLabels(numLabels), problemType };
  }

  /**
   * Gradient checkpointing (transformers' gradient_checkpointing_enable): each layer (BERT's and ViT's
   * encoder layers, ResNet's blocks) keeps only its input in forward and recomputes its activations in
   * backward, for less memory at the cost of one more forward per step. Throws for a model without such layers.
   */
  gradientCheckpointingEnable(): void {
    if (setGradientCheckpointing(this, true) === 0)
      throw new Error(
        `${this.constructor.name} does not support gradient checkpointing: it has no checkpointable layers`,
      );
  }

  gradientCheckpointingDisable(): void {
    setGradientCheckpointing(this, false);
  }

  /** Whether gradient checkpointing is on (transformers' is_gradient_checkpointing). */
  get isGradientCheckpointing(): boolean {
    return isGradientCheckpointing(this);
  }

  /**
   * Names the head's classes in the config (id2label / label2id, saved in config.json), when the
   * config has class names and `names` is one per output; otherwise leaves it as it is and returns false.
   */
  setLabelNames(names: readonly string[]): boolean {
    const config = this.config;
    if (!hasLabels(config) || Object.isFrozen(config) || config.numLabels !== names.length) return false;
    config.id2label = Object.fromEntries(names.map((name, i) => [i, name]));
    config.label2id = Object.fromEntries(names.map((name, i) => [name, i]));
    return true;
  }
}

/** Whether `model` is a PretrainedModel whose class is a registered architecture (so it can be saved and reloaded). */
export function isPretrainedModel(model: unknown): model is PretrainedModel {
  if (!(model instanceof PretrainedModel)) return false;
  try {
    familyOfModel(model);
    return true;
  } catch {
    return false;
  }
}
