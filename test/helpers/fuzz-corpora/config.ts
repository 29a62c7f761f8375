/**
 * Fuzz corpus: mutated config.json (BERT and ViT checkpoints through loadPretrained) and
 * adapter_config.json (PEFT adapters of the tiny BERT through PeftModel.fromPretrained). What
 * loads must also run: a forward pass whose logits are not all finite is a silently wrong model.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { aten, loadPretrained, loadSafetensorsSync, nn, noGrad, PeftModel, Tensor, tensor, tidy } from 'finetune';

import { WrongResult, type Corpus } from '../fuzz.js';
import { mutateJson, Rng, type Json } from '../fuzz-mutate.js';

const TINY_BERT = 'test/fixtures/peft/tiny-bert';
const VIT = 'test/fixtures/vit/hf';
const ADAPTERS = ['lora_qv', 'ia3', 'dora', 'lora_options', 'lora_embedding', 'lora_regex_all_linear', 'prompt_tuning'].map((name) => `test/fixtures/peft/${name}`);

/** The config fields that size, select or shape something. */
const MODEL_KEYS = ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'vocab_size', 'max_position_embeddings', 'type_vocab_size', 'hidden_act', 'num_labels', 'id2label', 'label2id', 'architectures', 'model_type', 'layer_norm_eps', 'hidden_dropout_prob', 'pad_token_id', 'image_size', 'patch_size', 'num_channels', 'problem_type'];
const ADAPTER_KEYS = ['r', 'lora_alpha', 'lora_dropout', 'target_modules', 'modules_to_save', 'peft_type', 'task_type', 'rank_pattern', 'alpha_pattern', 'layers_to_transform', 'layers_pattern', 'exclude_modules', 'feedforward_modules', 'num_virtual_tokens', 'use_dora', 'use_rslora', 'bias', 'fan_in_fan_out', 'init_lora_weights'];

/** A config key as the library's option names spell it (target_modules → targetModules): naming either is naming the field. */
function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/** Runs the model on a fixed input and fails with WrongResult when the logits are not finite. */
function checkRuns(model: nn.Module, isVit: boolean): void {
  tidy(() =>
    noGrad(() => {
      model.eval();
      const input = isVit ? { pixelValues: loadSafetensorsSync('test/fixtures/vit/inputs.safetensors').tensors.get('pixel_values')! } : { inputIds: tensor([[2, 7, 9, 3]], { dtype: 'int64' }), attentionMask: tensor([[1, 1, 1, 1]], { dtype: 'int64' }) };
      const output = (model as unknown as { forward(input: object): Record<string, unknown> | Tensor }).forward(input);
      // A task head gives logits; a bare encoder (no architectures) its hidden states.
      const logits = output instanceof Tensor ? output : Object.values(output).find((value) => value instanceof Tensor);
      if (!logits) throw new WrongResult('accepted, but the forward pass returned no tensor');
      if (!aten.isfinite(logits).all().item()) throw new WrongResult('accepted, but the logits are not all finite');
    }),
  );
}

export const corpus: Corpus = {
  name: 'config',
  defaultCount: 300,
  timeoutMs: 5000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    if (index % 2 === 0) {
      const source = rng.chance(0.7) ? TINY_BERT : VIT;
      const { text, what, key } = mutateJson(rng, readJson(join(source, 'config.json')), MODEL_KEYS);
      writeFileSync(join(dir, 'config.json'), text);
      copyFileSync(join(source, 'model.safetensors'), join(dir, 'model.safetensors'));
      return {
        what: `${source === VIT ? 'ViT' : 'BERT'} config.json ${what}`,
        names: ['config.json', key, camelCase(key), 'model.safetensors'],
        run: async () => {
          const { model } = await loadPretrained(dir, { warn: () => {} });
          if (!(model instanceof nn.Module)) throw new WrongResult(`loadPretrained returned a non-nn.Module: ${String(model)}`);
          checkRuns(model, source === VIT);
          model.dispose();
        },
      };
    }
    const source = rng.pick(ADAPTERS);
    const { text, what, key } = mutateJson(rng, readJson(join(source, 'adapter_config.json')), ADAPTER_KEYS);
    writeFileSync(join(dir, 'adapter_config.json'), text);
    copyFileSync(join(source, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    return {
      what: `${source.split('/').pop()} adapter_config.json ${what}`,
      names: ['adapter_config.json', key, camelCase(key), 'adapter_model.safetensors'],
      run: async () => {
        const { model: base } = await loadPretrained(TINY_BERT, { warn: () => {} });
        const model = await PeftModel.fromPretrained(base, dir);
        checkRuns(model, false);
        model.dispose();
      },
    };
  },
};
