/**
 * What the distributed benchmark's driver (bench/compare-distributed.ts) and its workers
 * (bench/distributed.ts, bench/distributed_torch.py) share: the workloads and their sizes.
 */

/** Allreduce sizes in MB (10^6 bytes of float32) and how many timed allReduce calls one block makes. */
/**
 * groups: fresh process groups per engine, their calls pooled. A small allreduce's time depends on the
 * pair of processes: a group keeps a fast (~1.2 ms for 1 MB here) or a slow mode (~2.2 ms) for its
 * lifetime, on either engine, so one group per engine measures which mode each drew.
 */
export const ALLREDUCE = {
  full: { groups: 12, rounds: 3, warmupCalls: 300, callsPerBlock: { 1: 40, 16: 8, 100: 3 } as Record<number, number> },
  quick: { groups: 1, rounds: 2, warmupCalls: 20, callsPerBlock: { 1: 10, 16: 3, 100: 1 } as Record<number, number> },
  sizesMb: [1, 16, 100],
};

export const DDP_MODEL_NAMES = ['bert-base-lora', 'resnet50'] as const;
export type DdpModelName = (typeof DDP_MODEL_NAMES)[number];

/** One rank's share of a training step; the single-process layout runs world size × batch in one process. */
export interface DdpModelSpec {
  /** What both sides build, in words. */
  finetune: string;
  pytorch: string;
  /** Samples per rank, and the input's size. */
  batch: number;
  seqLen?: number;
  imageSize?: number;
  numLabels: number;
}

export const DDP_MODELS: Record<'full' | 'quick', Record<DdpModelName, DdpModelSpec>> = {
  full: {
    'bert-base-lora': {
      finetune:
        "getPeftModel(createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: 2 }), " +
        "new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }))",
      pytorch:
        "get_peft_model(BertForSequenceClassification(BertConfig(num_labels=2, attn_implementation='sdpa')), " +
        "LoraConfig(task_type='SEQ_CLS', r=8, lora_alpha=32, target_modules=['query', 'value']))",
      batch: 4,
      seqLen: 128,
      numLabels: 2,
    },
    resnet50: {
      finetune: "createModel('resnet50', { numLabels: 1000 })",
      pytorch: 'torchvision.models.resnet50(num_classes=1000)',
      batch: 4,
      imageSize: 224,
      numLabels: 1000,
    },
  },
  // --quick: the same models on smaller inputs, for development (not for the record).
  quick: {
    'bert-base-lora': { finetune: '(as full)', pytorch: '(as full)', batch: 2, seqLen: 32, numLabels: 2 },
    resnet50: { finetune: '(as full)', pytorch: '(as full)', batch: 2, imageSize: 64, numLabels: 1000 },
  },
};

/** Untimed steps after setup, and interleaved rounds of one timed step per engine. */
export const DDP_SCHEDULE = { full: { warmupSteps: 2, rounds: 6 }, quick: { warmupSteps: 1, rounds: 2 } };

/** What the driver sends with `setup`: the model, this rank's batch and the input's size. */
export interface DdpSetup {
  model: DdpModelName;
  batch: number;
  seqLen?: number;
  imageSize?: number;
  numLabels: number;
  warmupSteps: number;
  seed: number;
}
