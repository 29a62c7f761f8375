/**
 * The demo's pretraining as two tasks: classify the source classes, and reconstruct the image from
 * the features the classifier's head reads (AlexNet's fc7, the ViT's final [CLS] state) through a
 * linear decoder. Trained on the classes alone, a network keeps in those features only what tells
 * five classes apart, and a new head on them fits other classes badly (the CNN's head-only row lost
 * to training from scratch: 0.61 against 0.73); having to redraw the image from the same features
 * keeps them about the garment's shape, which is what the target classes need. It is the
 * self-supervised auxiliary task of semi-supervised learning (a decoder beside the classifier,
 * as in Rasmus et al.'s ladder networks or Zhang et al. 2016, "Augmenting supervised neural networks
 * with unsupervised objectives"), and the demo runs it through the library's multi-task training:
 * a MultiTaskLoss with fixed weights, the decoder dropped before saving.
 */
import { Tensor, tidy } from '../tensor/index.js';
import { adaptiveAvgPool2d, crossEntropy, mseLoss } from '../tensor/functional.js';
import { Linear, Module } from '../nn/index.js';
import { AlexNet, ViTForImageClassification } from '../models/index.js';
import { MultiTaskLoss, type TaskLosses } from '../optim/index.js';
import type { MultiTaskModelOutput } from '../train/index.js';
import type { ImageBatch } from './data.js';

/** The pretraining's task names: the batch's class label, and the image itself. */
export const PRETRAINING_TASKS = ['class', 'reconstruction'] as const;

/** The side the image is reconstructed at (average-pooled from the network's input). */
export const RECONSTRUCTION_SIDE = 16;

/** The demo's classifiers: AlexNet (the CNN) or ViTForImageClassification. */
export type DemoNetwork = AlexNet | ViTForImageClassification;

/** A classifier being pretrained and the decoder of its reconstruction task. */
export class PretrainingNetwork extends Module {
  readonly decoder: Linear;

  constructor(readonly network: DemoNetwork) {
    super();
    this.decoder = new Linear(headOf(network).inFeatures, RECONSTRUCTION_SIDE * RECONSTRUCTION_SIDE);
  }

  /** The class logits and the reconstruction (flattened RECONSTRUCTION_SIDE² pixels) of images [B, C, H, W]. */
  forward(image: Tensor): MultiTaskModelOutput {
    return tidy(() => {
      const features = headInput(this.network, image);
      return {
        logits: { class: headOf(this.network).forward(features), reconstruction: this.decoder.forward(features) },
      };
    });
  }
}

/** The head: the Linear layer that resetHead replaces. */
function headOf(network: DemoNetwork): Linear {
  const head = network instanceof AlexNet ? network.classifier.at(6) : network.classifier;
  if (!(head instanceof Linear)) throw new Error(`the ${network.constructor.name} has no Linear head to pretrain`);
  return head;
}

/** What the head reads: AlexNet's fc7 output (after its ReLU), the ViT's [CLS] state after the final layer norm. */
function headInput(network: DemoNetwork, image: Tensor): Tensor {
  if (network instanceof ViTForImageClassification)
    return network.vit.forward({ pixelValues: image }).lastHiddenState.select(1, 0);
  const belowHead = network.classifier.children().slice(0, 6) as Array<Module & { forward(x: Tensor): Tensor }>;
  return belowHead.reduce((x, layer) => layer.forward(x), network.forwardFeatures(image));
}

/** The reconstruction target: the (normalised) input image average-pooled to RECONSTRUCTION_SIDE², flattened. */
export function reconstructionTarget(image: Tensor): Tensor {
  return tidy(() => adaptiveAvgPool2d(image, [RECONSTRUCTION_SIDE, RECONSTRUCTION_SIDE]).flatten(1));
}

/** The two task losses of a batch: cross entropy on the source classes, MSE of the reconstruction. */
export function pretrainingTaskLosses(outputs: MultiTaskModelOutput, batch: unknown): TaskLosses {
  const { image, label } = batch as ImageBatch;
  return {
    class: crossEntropy(outputs.logits.class, label),
    reconstruction: tidy(() => mseLoss(outputs.logits.reconstruction, reconstructionTarget(image))),
  };
}

/** The weighting: the classification at 1, the reconstruction at `reconstructionWeight` (0: the classes alone). */
export function pretrainingWeighting(reconstructionWeight: number): MultiTaskLoss {
  return new MultiTaskLoss([...PRETRAINING_TASKS], {
    kind: 'fixed',
    weights: { class: 1, reconstruction: reconstructionWeight },
  });
}
