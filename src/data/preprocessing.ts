/**
 * What an image model expects of its input — side, channels, normalisation — as transformers' image
 * processors record it in preprocessor_config.json, and the transform that produces it from a
 * decoded image.
 */
import * as T from './transforms.js';

export interface ImagePreprocessing {
  /** Images are resized to size × size. */
  size: number;
  /** The model's input channels: 3, or 1 for a grayscale model (AlexNet in_channels, ViT num_channels). */
  channels: number;
  mean: number[];
  std: number[];
}

/** Decode → RGB or grayscale (the model's channels) → resize → normalise. */
export function imageTransform(pre: ImagePreprocessing): T.Transform<unknown, unknown> {
  return T.compose([T.toTensor(), pre.channels === 1 ? T.toGrayscale() : T.toRgb(), T.resize([pre.size, pre.size]), T.normalize(pre.mean, pre.std)]);
}

/** preprocessor_config.json as transformers' image processors write it. */
export function preprocessorJson(pre: ImagePreprocessing): Record<string, unknown> {
  return {
    do_resize: true,
    size: { height: pre.size, width: pre.size },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: pre.mean,
    image_std: pre.std,
    do_convert_rgb: pre.channels === 3,
  };
}
