/**
 * What the fine-tuning methods need to know of a model, read off one built copy: its family, layer
 * groups and head, the layers LoRA and IA3 look for, its norms and size. `finetune train`, compare,
 * lr-find (buildStrategy) and `finetune inspect` read it the same way.
 */
import { BatchNorm2d, Conv2d, Embedding, GroupNorm, LayerNorm, Linear, type Module } from '../../nn/index.js';
import {
  hasLayerGroups,
  layerGroupsOf,
  LlamaRMSNorm,
  parameterGroupsOf,
  PretrainedCausalLM,
} from '../../models/index.js';
import { familyOfModel } from '../../models/registry.js';
import { isPretrainedModel } from '../../models/pretrained-model.js';
import { summarizeTrainable, type ModelFacts as MethodModelFacts } from '../../peft/index.js';

/** What the methods' builds read (peft's ModelFacts), and what `finetune inspect` shows besides. */
export interface ModelFacts extends MethodModelFacts {
  /** Whether the model declares layer groups (the freezing methods need them). */
  hasGroups: boolean;
  /** The layer groups, input side first, with their parameter counts. */
  groupSizes: { name: string; total: number }[];
  hasNorm: boolean;
  hasBatchNorm: boolean;
  /** Parameters in all. */
  total: number;
  /** The head's classes (config.numLabels or numClasses), when the model says. */
  numLabels: number | null;
  /** A decoder that predicts the next token (GPT2LMHeadModel, LlamaForCausalLM, …): PEFT's CAUSAL_LM task. */
  causalLm: boolean;
}

export function readModelFacts(model: Module): ModelFacts {
  const named = model.namedModules();
  const pathOf = new Map(named.map(([path, m]) => [m, path] as const));
  const leaf = (path: string) => path.slice(path.lastIndexOf('.') + 1);
  let modelType = 'unknown';
  try {
    modelType = familyOfModel(model).family.modelType;
  } catch {
    /* not a registered family */
  }
  const hasGroups = hasLayerGroups(model);
  const groups = hasGroups ? layerGroupsOf(model) : [];
  const head = isPretrainedModel(model) ? model.headLabels() : undefined;
  return {
    modelType,
    architecture: model.constructor.name,
    hasGroups,
    groups: groups.length,
    groupSizes: hasGroups
      ? parameterGroupsOf(model).map(({ name, parameters }) => ({
          name,
          total: parameters.reduce((n, [, p]) => n + p.numel(), 0),
        }))
      : [],
    headPaths: hasGroups
      ? groups
          .at(-1)!
          .modules.filter((m) => m.parameters().length > 0)
          .map((m) => pathOf.get(m)!)
      : [],
    convNames: named.filter(([, m]) => m instanceof Conv2d).map(([path]) => path),
    hasQueryValue: ['query', 'value'].every((name) =>
      named.some(([path, m]) => leaf(path) === name && m instanceof Linear),
    ),
    // The token embedding table under each family's name: BERT's, the Llama family's, GPT-2's.
    hasWordEmbeddings: named.some(
      ([path, m]) => ['word_embeddings', 'embed_tokens', 'wte'].includes(leaf(path)) && m instanceof Embedding,
    ),
    hasClassifier: named.some(([path, m]) => path === 'classifier' && m instanceof Linear),
    hasNorm: named.some(([, m]) => m instanceof LayerNorm || m instanceof GroupNorm || m instanceof LlamaRMSNorm),
    hasBatchNorm: named.some(([, m]) => m instanceof BatchNorm2d),
    total: summarizeTrainable(model).total,
    // A causal LM predicts tokens: its config's num_labels (2 by default) is no head of classes.
    numLabels: model instanceof PretrainedCausalLM ? null : (head?.numLabels ?? null),
    causalLm: model instanceof PretrainedCausalLM,
  };
}
