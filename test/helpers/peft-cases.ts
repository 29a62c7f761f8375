/**
 * The table of test/peft-cases.test.ts (PEFT's tests/test_custom_models.py TEST_CASES): tiny
 * models × PEFT configs, with what each case must train. Shared with the fresh process that loads
 * saved adapters (peft-cases-child.ts), which rebuilds the same base models from the same seeds.
 */
import { manualSeed, models, nn, noGrad, peft, randn, Tensor, tidy } from 'finetune';

import { tinyBertInputs } from './peft-tiny.js';

const { BottleneckConfig, IA3Config, LoraConfig, PromptTuningConfig } = peft;

/** PEFT's MLP of test_custom_models.py: lin0 → ReLU → dropout → lin1 → ReLU → lin2. */
class MLP extends nn.Module {
  lin0 = new nn.Linear(10, 20);
  relu = new nn.ReLU();
  drop = new nn.Dropout(0.5);
  lin1 = new nn.Linear(20, 20);
  lin2 = new nn.Linear(20, 2);

  forward(x: Tensor): Tensor {
    const h = this.drop.forward(this.relu.forward(this.lin0.forward(x)));
    return this.lin2.forward(this.relu.forward(this.lin1.forward(h)));
  }
}

/** Two 3×3 convolutions and a linear head over a 5×5 image (PEFT's ModelConv2D, smaller). */
class ConvNet extends nn.Module {
  conv0 = new nn.Conv2d(3, 4, 3, { padding: 1 });
  relu = new nn.ReLU();
  conv1 = new nn.Conv2d(4, 6, 3, { padding: 1 });
  lin = new nn.Linear(6 * 5 * 5, 2);

  forward(x: Tensor): Tensor {
    const h = this.relu.forward(this.conv1.forward(this.relu.forward(this.conv0.forward(x))));
    return this.lin.forward(h.flatten(1));
  }
}

/** A model of the table: how to build it (seeded) and what it is fed. */
export interface ModelSpec {
  build(): nn.Module;
  /** The input batch, the same in every process. */
  inputs(): unknown;
  /** The part of the logits compared (default: all of them). */
  logits?(logits: Tensor): Tensor;
}

const image = (shape: number[]) => () => {
  manualSeed(100);
  return randn(shape);
};

export const MODELS = {
  bert: {
    build: () =>
      new models.BertForSequenceClassification({
        vocabSize: 50,
        hiddenSize: 16,
        numHiddenLayers: 2,
        numAttentionHeads: 2,
        intermediateSize: 32,
        maxPositionEmbeddings: 32,
        numLabels: 3,
        initializerRange: 0.2,
      }),
    inputs: tinyBertInputs,
  },
  vit: {
    build: () =>
      new models.ViTForImageClassification({
        hiddenSize: 16,
        numHiddenLayers: 2,
        numAttentionHeads: 2,
        intermediateSize: 32,
        imageSize: 16,
        patchSize: 8,
        numLabels: 3,
        initializerRange: 0.2,
      }),
    inputs: () => ({ pixelValues: image([2, 3, 16, 16])() }),
  },
  resnet: {
    build: () => new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 3 }),
    inputs: image([2, 3, 32, 32]),
  },
  alexnet: {
    build: () => new models.AlexNet({ numClasses: 3, convChannels: [4, 8, 8, 8, 8], hiddenSize: 16 }),
    inputs: image([2, 3, 64, 64]),
  },
  mlp: { build: () => new MLP(), inputs: image([2, 10]) },
  cnn: { build: () => new ConvNet(), inputs: image([2, 3, 5, 5]) },
  llama: {
    build: () =>
      new models.LlamaForCausalLM({
        vocabSize: 32,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        maxPositionEmbeddings: 32,
        padTokenId: 0,
        initializerRange: 0.2,
      }),
    inputs: tinyBertInputs,
    // The input tokens' logits: prompt tuning puts its virtual tokens' first.
    logits: (logits: Tensor) => logits.narrow(1, logits.shape[1] - 5, 5),
  },
} satisfies Record<string, ModelSpec>;

export type ModelName = keyof typeof MODELS;

/** The base model of `name` in eval mode, seeded, with random biases (zero biases would hide IA3's bias scaling and LoRA's bias training). */
export function buildModel(name: ModelName): nn.Module {
  manualSeed(0);
  const model = MODELS[name].build().eval();
  noGrad(() =>
    tidy(() => {
      for (const [key, p] of model.namedParameters()) if (key.endsWith('.bias')) p.copy_(randn(p.shape).mul(0.1));
    }),
  );
  return model;
}

/** The model's output on its inputs: the logits, or the output tensor. */
export function logitsOf(model: nn.Module, name: ModelName): Tensor {
  const out = (model as unknown as { forward(inputs: unknown): unknown }).forward(MODELS[name].inputs());
  if (out instanceof Tensor) return out;
  const { logits } = out as { logits: Tensor };
  const spec: ModelSpec = MODELS[name];
  return spec.logits ? spec.logits(logits) : logits;
}

/** logitsOf as plain numbers (float32 values, exact in JSON). */
export function outputsOf(model: nn.Module, name: ModelName): number[] {
  return noGrad(() => tidy(() => [...(logitsOf(model, name).contiguous().data() as Float32Array)]));
}

export interface PeftCase {
  name: string;
  model: ModelName;
  /** A fresh config (a second adapter of the same kind is added with another one). */
  config: () => peft.PeftConfig;
  /** The trainable parameters' full names; `{a,b}` expands to both. */
  trainable: string[];
  /** The number of trainable parameters, worked out from the shapes. */
  trainableCount: number;
  /** PEFT's print_trainable_parameters line. */
  line: string;
  /** Whether the adapter folds into the base weights (bottleneck adapters and prompt tuning do not). */
  mergeable: boolean;
  /** Outputs at initialisation: 'exact' (identity-initialised), a tolerance (DoRA's norm ratio), or false (prompt tuning changes them). */
  identityAtInit: 'exact' | number | false;
  /** Trainable parameters whose gradient is zero up to rounding by construction, so a step may or may not move them; `{a,b}` expands. */
  zeroGradient?: string[];
  /** What getPeftModel warns, if anything. */
  warnings?: string[];
}

/** `{a,b}` alternatives expanded, left to right: 'x.{0,1}.{q,v}' → x.0.q, x.0.v, x.1.q, x.1.v. */
export function expandBraces(pattern: string): string[] {
  const match = /\{([^{}]*)\}/.exec(pattern);
  if (!match) return [pattern];
  const [before, after] = [pattern.slice(0, match.index), pattern.slice(match.index + match[0].length)];
  return match[1].split(',').flatMap((option) => expandBraces(before + option + after));
}

/** Parameter names inside a layer tuner (`base_model.model.<path>`). */
const tuned = (...patterns: string[]) => patterns.map((p) => `base_model.model.${p}`);
const bertLayers = 'bert.encoder.layer.{0,1}';
const vitLayers = 'vit.encoder.layer.{0,1}';
const llamaLayers = 'model.layers.{0,1}';
/** A LoRA pair on a Linear: A [r, in] + B [out, r]. */
const loraLinear = (inFeatures: number, outFeatures: number, r: number) => r * (inFeatures + outFeatures);
/** A LoRA pair on a k×k Conv2d: A [r, in, k, k] + B [out, r, 1, 1]. */
const loraConv = (inChannels: number, outChannels: number, k: number, r: number) =>
  r * inChannels * k * k + outChannels * r;
/** A bottleneck adapter on d features with m units: down [m, d] + m, up [d, m] + d. */
const bottleneck = (d: number, m: number) => 2 * d * m + m + d;
/** A Linear's weight and bias. */
const linear = (inFeatures: number, outFeatures: number) => inFeatures * outFeatures + outFeatures;

const FAN_IN_FAN_OUT_WARNING =
  "fanInFanOut is set to true but 'bert.encoder.layer.0.attention.self.query' is a Linear layer; setting fanInFanOut to false";

export const CASES: PeftCase[] = [
  // ---- BERT (hidden 16, intermediate 32, 2 layers, 3 labels) ----
  {
    name: 'bert LoRA query,value SEQ_CLS',
    model: 'bert',
    config: () => new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'] }),
    trainable: tuned(
      `${bertLayers}.attention.self.{query,value}.lora_{A,B}.default.weight`,
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    trainableCount: 4 * loraLinear(16, 16, 4) + linear(16, 3),
    line: 'trainable params: 563 || all params: 6,710 || trainable%: 8.3905',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert LoRA all-linear, dropout, bias=all',
    model: 'bert',
    config: () =>
      new LoraConfig({
        taskType: 'SEQ_CLS',
        r: 2,
        loraAlpha: 4,
        loraDropout: 0.1,
        bias: 'all',
        targetModules: 'all-linear',
      }),
    trainable: tuned(
      `${bertLayers}.attention.{self.query,self.key,self.value,output.dense}.{lora_A.default.weight,lora_B.default.weight,base_layer.bias}`,
      `${bertLayers}.{intermediate,output}.dense.{lora_A.default.weight,lora_B.default.weight,base_layer.bias}`,
      'bert.pooler.dense.{lora_A.default.weight,lora_B.default.weight,base_layer.bias}',
      `${bertLayers}.{attention.output,output}.LayerNorm.bias`,
      'bert.embeddings.LayerNorm.bias',
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    // per layer: 4 attention linears 16→16, intermediate 16→32, output 32→16; the pooler 16→16; biases of all of them and of 5 LayerNorms
    trainableCount:
      2 * (4 * loraLinear(16, 16, 2) + 2 * loraLinear(16, 32, 2)) +
      loraLinear(16, 16, 2) +
      2 * (4 * 16 + 32 + 16) +
      16 +
      5 * 16 +
      linear(16, 3),
    // softmax(q·(k + b)) does not depend on the key bias b
    zeroGradient: tuned(`${bertLayers}.attention.self.key.base_layer.bias`),
    line: 'trainable params: 1,331 || all params: 7,158 || trainable%: 18.5946',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert rsLoRA, rank and alpha patterns, layersToTransform',
    model: 'bert',
    config: () =>
      new LoraConfig({
        r: 4,
        loraAlpha: 16,
        useRslora: true,
        targetModules: ['query', 'key', 'value'],
        layersToTransform: [1],
        rankPattern: { value: 2 },
        alphaPattern: { key: 4 },
      }),
    trainable: tuned('bert.encoder.layer.1.attention.self.{query,key,value}.lora_{A,B}.default.weight'),
    trainableCount: 2 * loraLinear(16, 16, 4) + loraLinear(16, 16, 2),
    line: 'trainable params: 320 || all params: 6,467 || trainable%: 4.9482',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert DoRA query,key,value,dense',
    model: 'bert',
    config: () =>
      new LoraConfig({ r: 4, loraAlpha: 16, targetModules: ['query', 'key', 'value', 'dense'], useDora: true }),
    trainable: tuned(
      `${bertLayers}.attention.{self.query,self.key,self.value,output.dense}.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}`,
      `${bertLayers}.{intermediate,output}.dense.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}`,
      'bert.pooler.dense.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}',
    ),
    // magnitudes: one per output feature
    trainableCount:
      2 * (4 * (loraLinear(16, 16, 4) + 16) + loraLinear(16, 32, 4) + 32 + loraLinear(32, 16, 4) + 16) +
      loraLinear(16, 16, 4) +
      16,
    line: 'trainable params: 2,160 || all params: 8,307 || trainable%: 26.0022',
    mergeable: true,
    identityAtInit: 1e-6,
  },
  {
    name: 'bert LoRA word_embeddings',
    model: 'bert',
    config: () => new LoraConfig({ r: 4, targetModules: ['word_embeddings'] }),
    trainable: tuned('bert.embeddings.word_embeddings.lora_embedding_{A,B}.default'),
    // A [r, vocab], B [hidden, r]
    trainableCount: 4 * 50 + 16 * 4,
    line: 'trainable params: 264 || all params: 6,411 || trainable%: 4.1179',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert LoRA bias=lora_only SEQ_CLS',
    model: 'bert',
    config: () => new LoraConfig({ taskType: 'SEQ_CLS', r: 4, targetModules: ['query', 'value'], bias: 'lora_only' }),
    trainable: tuned(
      `${bertLayers}.attention.self.{query,value}.{lora_A.default.weight,lora_B.default.weight,base_layer.bias}`,
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    trainableCount: 4 * (loraLinear(16, 16, 4) + 16) + linear(16, 3),
    line: 'trainable params: 627 || all params: 6,710 || trainable%: 9.3443',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert LoRA fan_in_fan_out on a Linear (turned off, as PEFT does)',
    model: 'bert',
    config: () => new LoraConfig({ r: 2, fanInFanOut: true, targetModules: ['query'], layersToTransform: 0 }),
    trainable: tuned('bert.encoder.layer.0.attention.self.query.lora_{A,B}.default.weight'),
    trainableCount: loraLinear(16, 16, 2),
    line: 'trainable params: 64 || all params: 6,211 || trainable%: 1.0304',
    mergeable: true,
    identityAtInit: 'exact',
    warnings: [FAN_IN_FAN_OUT_WARNING],
  },
  {
    name: 'bert IA3 SEQ_CLS (PEFT bert defaults)',
    model: 'bert',
    config: () => new IA3Config({ taskType: 'SEQ_CLS' }),
    trainable: tuned(
      `${bertLayers}.{attention.self.key,attention.self.value,attention.output.dense,output.dense}.ia3_l.default`,
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    // per layer: key, value [16, 1]; attention.output.dense [1, 16]; output.dense (feedforward) [1, 32]
    trainableCount: 2 * (16 + 16 + 16 + 32) + linear(16, 3),
    line: 'trainable params: 211 || all params: 6,358 || trainable%: 3.3187',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert IA3 regex targets and feedforward',
    model: 'bert',
    config: () =>
      new IA3Config({
        targetModules: '.*\\.(key|value|intermediate\\.dense)',
        feedforwardModules: '.*intermediate\\.dense',
      }),
    trainable: tuned(`${bertLayers}.{attention.self.key,attention.self.value,intermediate.dense}.ia3_l.default`),
    trainableCount: 2 * (16 + 16 + 16),
    line: 'trainable params: 96 || all params: 6,243 || trainable%: 1.5377',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'bert prompt tuning SEQ_CLS',
    model: 'bert',
    config: () => new PromptTuningConfig({ taskType: 'SEQ_CLS', numVirtualTokens: 4 }),
    trainable: [
      'base_model.classifier.modules_to_save.default.{weight,bias}',
      'prompt_encoder.default.embedding.weight',
    ],
    trainableCount: 4 * 16 + linear(16, 3),
    line: 'trainable params: 115 || all params: 6,262 || trainable%: 1.8365',
    mergeable: false,
    identityAtInit: false,
  },
  {
    name: 'bert Houlsby SEQ_CLS gelu',
    model: 'bert',
    config: () =>
      new BottleneckConfig({ taskType: 'SEQ_CLS', variant: 'houlsby', reductionFactor: 4, nonLinearity: 'gelu' }),
    trainable: tuned(
      `${bertLayers}.{attention.output,output}.dense.adapter_{down,up}.default.{weight,bias}`,
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    trainableCount: 4 * bottleneck(16, 4) + linear(16, 3),
    line: 'trainable params: 643 || all params: 6,790 || trainable%: 9.4698',
    mergeable: false,
    identityAtInit: 'exact',
  },
  {
    name: 'bert Pfeiffer swish',
    model: 'bert',
    config: () => new BottleneckConfig({ variant: 'pfeiffer', reductionFactor: 8, nonLinearity: 'swish' }),
    trainable: tuned(`${bertLayers}.output.dense.adapter_{down,up}.default.{weight,bias}`),
    trainableCount: 2 * bottleneck(16, 2),
    line: 'trainable params: 164 || all params: 6,311 || trainable%: 2.5986',
    mergeable: false,
    identityAtInit: 'exact',
  },
  // ---- ViT (hidden 16, intermediate 32, 2 layers, 16×16 images in 8×8 patches) ----
  {
    name: 'vit LoRA query,value, modules_to_save classifier',
    model: 'vit',
    config: () =>
      new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['query', 'value'], modulesToSave: ['classifier'] }),
    trainable: tuned(
      `${vitLayers}.attention.attention.{query,value}.lora_{A,B}.default.weight`,
      'classifier.modules_to_save.default.{weight,bias}',
    ),
    trainableCount: 4 * loraLinear(16, 16, 4) + linear(16, 3),
    line: 'trainable params: 563 || all params: 8,278 || trainable%: 6.8012',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'vit DoRA query,value',
    model: 'vit',
    config: () => new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['query', 'value'], useDora: true }),
    trainable: tuned(
      `${vitLayers}.attention.attention.{query,value}.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}`,
    ),
    trainableCount: 4 * (loraLinear(16, 16, 2) + 16),
    line: 'trainable params: 320 || all params: 8,035 || trainable%: 3.9826',
    mergeable: true,
    identityAtInit: 1e-6,
  },
  {
    name: 'vit IA3 key,value,output.dense',
    model: 'vit',
    config: () =>
      new IA3Config({ targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'] }),
    trainable: tuned(
      `${vitLayers}.{attention.attention.key,attention.attention.value,attention.output.dense,output.dense}.ia3_l.default`,
    ),
    trainableCount: 2 * (16 + 16 + 16 + 32),
    line: 'trainable params: 160 || all params: 7,875 || trainable%: 2.0317',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'vit Houlsby',
    model: 'vit',
    config: () => new BottleneckConfig({ variant: 'houlsby', reductionFactor: 4 }),
    trainable: tuned(`${vitLayers}.{attention.output,output}.dense.adapter_{down,up}.default.{weight,bias}`),
    trainableCount: 4 * bottleneck(16, 4),
    line: 'trainable params: 592 || all params: 8,307 || trainable%: 7.1265',
    mergeable: false,
    identityAtInit: 'exact',
  },
  {
    name: 'vit Pfeiffer',
    model: 'vit',
    config: () => new BottleneckConfig({ variant: 'pfeiffer', reductionFactor: 4 }),
    trainable: tuned(`${vitLayers}.output.dense.adapter_{down,up}.default.{weight,bias}`),
    trainableCount: 2 * bottleneck(16, 4),
    line: 'trainable params: 296 || all params: 8,011 || trainable%: 3.6949',
    mergeable: false,
    identityAtInit: 'exact',
  },
  // ---- ResNet (BasicBlocks, one per stage: 64, 128, 256, 512 channels) ----
  {
    name: 'resnet LoRA on convs, modules_to_save fc',
    model: 'resnet',
    config: () =>
      new LoraConfig({
        r: 2,
        loraAlpha: 4,
        targetModules: ['layer1.0.conv1', 'layer4.0.conv2'],
        modulesToSave: ['fc'],
      }),
    trainable: tuned(
      'layer1.0.conv1.lora_{A,B}.default.weight',
      'layer4.0.conv2.lora_{A,B}.default.weight',
      'fc.modules_to_save.default.{weight,bias}',
    ),
    trainableCount: loraConv(64, 64, 3, 2) + loraConv(512, 512, 3, 2) + linear(512, 3),
    line: 'trainable params: 13,059 || all params: 4,920,390 || trainable%: 0.2654',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'resnet bottleneck defaults (after each block bn2)',
    model: 'resnet',
    config: () => new BottleneckConfig(),
    trainable: tuned('layer{1,2,3,4}.0.bn2.adapter_{down,up}.default.{weight,bias}'),
    trainableCount: [64, 128, 256, 512].reduce((sum, c) => sum + bottleneck(c, c / 16), 0),
    line: 'trainable params: 44,540 || all params: 4,951,871 || trainable%: 0.8995',
    mergeable: false,
    identityAtInit: 'exact',
  },
  {
    name: 'resnet IA3 on conv2 (output scaling)',
    model: 'resnet',
    config: () => new IA3Config({ targetModules: ['conv2'], feedforwardModules: [] }),
    trainable: tuned('layer{1,2,3,4}.0.conv2.ia3_l.default'),
    trainableCount: 64 + 128 + 256 + 512,
    line: 'trainable params: 960 || all params: 4,908,291 || trainable%: 0.0196',
    mergeable: true,
    identityAtInit: 'exact',
  },
  // ---- AlexNet (conv channels 4, 8, 8, 8, 8; hidden 16) ----
  {
    name: 'alexnet LoRA features.0,features.3, modules_to_save classifier.6',
    model: 'alexnet',
    config: () =>
      new LoraConfig({ r: 2, targetModules: ['features.0', 'features.3'], modulesToSave: ['classifier.6'] }),
    trainable: tuned('features.{0,3}.lora_{A,B}.default.weight', 'classifier.6.modules_to_save.default.{weight,bias}'),
    // features.0: 3 → 4, 11×11; features.3: 4 → 8, 5×5
    trainableCount: loraConv(3, 4, 11, 2) + loraConv(4, 8, 5, 2) + linear(16, 3),
    line: 'trainable params: 1,001 || all params: 9,964 || trainable%: 10.0462',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'alexnet bottleneck defaults (after each conv), gelu',
    model: 'alexnet',
    config: () => new BottleneckConfig({ reductionFactor: 4, nonLinearity: 'gelu' }),
    trainable: tuned('features.{0,3,6,8,10}.adapter_{down,up}.default.{weight,bias}'),
    trainableCount: bottleneck(4, 1) + 4 * bottleneck(8, 2),
    line: 'trainable params: 181 || all params: 9,144 || trainable%: 1.9794',
    mergeable: false,
    identityAtInit: 'exact',
  },
  // ---- custom MLP (10 → 20 → 20 → 2) ----
  {
    name: 'mlp LoRA lin0',
    model: 'mlp',
    config: () => new LoraConfig({ targetModules: ['lin0'] }),
    trainable: tuned('lin0.lora_{A,B}.default.weight'),
    trainableCount: loraLinear(10, 20, 8),
    line: 'trainable params: 240 || all params: 922 || trainable%: 26.0304',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'mlp LoRA lin0,lin1, modules_to_save lin2',
    model: 'mlp',
    config: () => new LoraConfig({ r: 4, loraAlpha: 16, targetModules: ['lin0', 'lin1'], modulesToSave: ['lin2'] }),
    trainable: tuned('lin{0,1}.lora_{A,B}.default.weight', 'lin2.modules_to_save.default.{weight,bias}'),
    trainableCount: loraLinear(10, 20, 4) + loraLinear(20, 20, 4) + linear(20, 2),
    line: 'trainable params: 322 || all params: 1,004 || trainable%: 32.0717',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'mlp rsLoRA with dropout, regex target',
    model: 'mlp',
    config: () => new LoraConfig({ r: 4, loraAlpha: 8, useRslora: true, loraDropout: 0.2, targetModules: 'lin[12]' }),
    trainable: tuned('lin{1,2}.lora_{A,B}.default.weight'),
    trainableCount: loraLinear(20, 20, 4) + loraLinear(20, 2, 4),
    line: 'trainable params: 248 || all params: 930 || trainable%: 26.6667',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'mlp DoRA lin0,lin1',
    model: 'mlp',
    config: () => new LoraConfig({ r: 4, targetModules: ['lin0', 'lin1'], useDora: true }),
    trainable: tuned('lin{0,1}.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}'),
    trainableCount: loraLinear(10, 20, 4) + 20 + loraLinear(20, 20, 4) + 20,
    line: 'trainable params: 320 || all params: 1,002 || trainable%: 31.9361',
    mergeable: true,
    identityAtInit: 1e-6,
  },
  {
    name: 'mlp IA3 lin0 (feedforward), lin1',
    model: 'mlp',
    config: () => new IA3Config({ targetModules: ['lin0', 'lin1'], feedforwardModules: ['lin0'] }),
    trainable: tuned('lin{0,1}.ia3_l.default'),
    // lin0 feedforward: [1, 10] (inputs); lin1: [20, 1] (outputs)
    trainableCount: 10 + 20,
    line: 'trainable params: 30 || all params: 712 || trainable%: 4.2135',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'mlp bottleneck lin0,lin1',
    model: 'mlp',
    config: () => new BottleneckConfig({ targetModules: ['lin0', 'lin1'], reductionFactor: 4, nonLinearity: 'tanh' }),
    trainable: tuned('lin{0,1}.adapter_{down,up}.default.{weight,bias}'),
    trainableCount: 2 * bottleneck(20, 5),
    line: 'trainable params: 450 || all params: 1,132 || trainable%: 39.7527',
    mergeable: false,
    identityAtInit: 'exact',
  },
  // ---- custom CNN (3 → 4 → 6 channels, 3×3, then Linear 150 → 2) ----
  {
    name: 'cnn LoRA conv0,conv1, modules_to_save lin',
    model: 'cnn',
    config: () => new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['conv0', 'conv1'], modulesToSave: ['lin'] }),
    trainable: tuned('conv{0,1}.lora_{A,B}.default.weight', 'lin.modules_to_save.default.{weight,bias}'),
    trainableCount: loraConv(3, 4, 3, 2) + loraConv(4, 6, 3, 2) + linear(150, 2),
    line: 'trainable params: 448 || all params: 1,084 || trainable%: 41.3284',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'cnn DoRA conv0,conv1 with dropout',
    model: 'cnn',
    config: () =>
      new LoraConfig({ r: 2, loraAlpha: 4, loraDropout: 0.3, targetModules: ['conv0', 'conv1'], useDora: true }),
    trainable: tuned('conv{0,1}.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}'),
    // magnitudes [1, out, 1, 1]
    trainableCount: loraConv(3, 4, 3, 2) + 4 + loraConv(4, 6, 3, 2) + 6,
    line: 'trainable params: 156 || all params: 792 || trainable%: 19.6970',
    mergeable: true,
    identityAtInit: 1e-6,
  },
  {
    name: 'cnn IA3 conv0 (feedforward), conv1',
    model: 'cnn',
    config: () => new IA3Config({ targetModules: ['conv0', 'conv1'], feedforwardModules: ['conv0'] }),
    trainable: tuned('conv{0,1}.ia3_l.default'),
    // conv0 feedforward: [1, 3, 1, 1] (input channels); conv1: [1, 6, 1, 1]
    trainableCount: 3 + 6,
    line: 'trainable params: 9 || all params: 645 || trainable%: 1.3953',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'cnn bottleneck conv1',
    model: 'cnn',
    config: () => new BottleneckConfig({ targetModules: ['conv1'], reductionFactor: 2 }),
    trainable: tuned('conv1.adapter_{down,up}.default.{weight,bias}'),
    trainableCount: bottleneck(6, 3),
    line: 'trainable params: 45 || all params: 681 || trainable%: 6.6079',
    mergeable: false,
    identityAtInit: 'exact',
  },
  // ---- Llama (hidden 16, 4 heads over 2 key/value heads of 4, MLP 32, 2 layers, untied lm_head; lines from PEFT 0.21) ----
  {
    name: 'llama LoRA q_proj,v_proj CAUSAL_LM (PEFT llama defaults)',
    model: 'llama',
    config: () => new LoraConfig({ taskType: 'CAUSAL_LM', r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'] }),
    trainable: tuned(`${llamaLayers}.self_attn.{q_proj,v_proj}.lora_{A,B}.default.weight`),
    trainableCount: 2 * (loraLinear(16, 16, 4) + loraLinear(16, 8, 4)),
    line: 'trainable params: 448 || all params: 6,160 || trainable%: 7.2727',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'llama DoRA q,k,v,o_proj',
    model: 'llama',
    config: () =>
      new LoraConfig({
        taskType: 'CAUSAL_LM',
        r: 2,
        loraAlpha: 4,
        useDora: true,
        targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      }),
    trainable: tuned(
      `${llamaLayers}.self_attn.{q_proj,k_proj,v_proj,o_proj}.{lora_A.default.weight,lora_B.default.weight,lora_magnitude_vector.default.weight}`,
    ),
    // q, o 16→16; k, v 16→8; magnitudes: one per output feature
    trainableCount: 2 * (2 * (loraLinear(16, 16, 2) + 16) + 2 * (loraLinear(16, 8, 2) + 8)),
    line: 'trainable params: 544 || all params: 6,256 || trainable%: 8.6957',
    mergeable: true,
    identityAtInit: 1e-6,
  },
  {
    name: 'llama LoRA all-linear (every projection, not lm_head)',
    model: 'llama',
    config: () => new LoraConfig({ taskType: 'CAUSAL_LM', r: 2, loraAlpha: 4, targetModules: 'all-linear' }),
    trainable: tuned(
      `${llamaLayers}.{self_attn.q_proj,self_attn.k_proj,self_attn.v_proj,self_attn.o_proj,mlp.gate_proj,mlp.up_proj,mlp.down_proj}.lora_{A,B}.default.weight`,
    ),
    trainableCount:
      2 * (2 * loraLinear(16, 16, 2) + 2 * loraLinear(16, 8, 2) + 2 * loraLinear(16, 32, 2) + loraLinear(32, 16, 2)),
    line: 'trainable params: 1,024 || all params: 6,736 || trainable%: 15.2019',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'llama IA3 k_proj,v_proj,down_proj (PEFT llama defaults)',
    model: 'llama',
    config: () =>
      new IA3Config({
        taskType: 'CAUSAL_LM',
        targetModules: ['k_proj', 'v_proj', 'down_proj'],
        feedforwardModules: ['down_proj'],
      }),
    trainable: tuned(`${llamaLayers}.{self_attn.k_proj,self_attn.v_proj,mlp.down_proj}.ia3_l.default`),
    // per layer: k, v [8, 1]; down_proj (feedforward) [1, 32]
    trainableCount: 2 * (8 + 8 + 32),
    line: 'trainable params: 96 || all params: 5,808 || trainable%: 1.6529',
    mergeable: true,
    identityAtInit: 'exact',
  },
  {
    name: 'llama prompt tuning CAUSAL_LM',
    model: 'llama',
    config: () => new PromptTuningConfig({ taskType: 'CAUSAL_LM', numVirtualTokens: 4 }),
    trainable: ['prompt_encoder.default.embedding.weight'],
    trainableCount: 4 * 16,
    line: 'trainable params: 64 || all params: 5,776 || trainable%: 1.1080',
    mergeable: false,
    identityAtInit: false,
  },
  {
    name: 'llama Pfeiffer after mlp.down_proj',
    model: 'llama',
    config: () => new BottleneckConfig({ targetModules: ['down_proj'], reductionFactor: 4 }),
    trainable: tuned(`${llamaLayers}.mlp.down_proj.adapter_{down,up}.default.{weight,bias}`),
    trainableCount: 2 * bottleneck(16, 4),
    line: 'trainable params: 296 || all params: 6,008 || trainable%: 4.9268',
    mergeable: false,
    identityAtInit: 'exact',
  },
];

/** One saved adapter for the fresh process to load (peft-cases-child.ts). */
export interface LoadJob {
  name: string;
  /** The folder savePretrained wrote (copied elsewhere). */
  dir: string;
  /** Where the loaded adapter is saved again. */
  resaveDir: string;
}

/** What the fresh process saw for one job. */
export interface LoadResult {
  base: number[];
  loaded: number[];
  trainable: number;
  warnings: string[];
}
