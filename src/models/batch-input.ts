/**
 * How a model takes a batch — what transformers declares with `main_input_name`. A model class
 * declares it as `static readonly batchInput: BatchInput`; the Trainer, evaluation and predict feed
 * every model the way its class declares, so that no caller tests a model's class.
 *
 * - 'tensor': `forward(x)` gets the batch's input tensor (`pixelValues`, `image` or `input`): the CNNs.
 * - 'inputs': `forward({ inputIds, attentionMask, …, pixelValues, labels? })` gets the batch's
 *   tensors by name (an `image` as `pixelValues`): BERT, ViT.
 *
 * A module that declares nothing (a user's own) gets the tensor when the batch holds one input
 * tensor besides its labels, and the named inputs when it holds several.
 */
export type BatchInput = 'tensor' | 'inputs';

/** What a model's class declares (see BatchInput), or null when it declares nothing. */
export function batchInputOf(model: object): BatchInput | null {
  const declared = (model.constructor as { batchInput?: unknown }).batchInput;
  return declared === 'tensor' || declared === 'inputs' ? declared : null;
}
