/**
 * Matching checkpoint keys to a model's, as transformers does when loading: legacy
 * LayerNorm names, and the backbone prefix added (a backbone checkpoint into a task model)
 * or removed (a task checkpoint into the backbone).
 */
import type { Tensor } from '../tensor/index.js';
import type { StateDict } from '../nn/index.js';

/** Old BERT checkpoints name LayerNorm parameters gamma/beta. */
export function renameLegacyKey(key: string): string {
  return key.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
}

/** The checkpoint's tensors under the model's key names (tensors shared, not copied). */
export function alignCheckpointKeys(
  checkpoint: StateDict | Record<string, Tensor>,
  modelKeys: Iterable<string>,
  prefix: string,
): StateDict {
  const entries = checkpoint instanceof Map ? [...checkpoint] : Object.entries(checkpoint);
  const renamed: [string, Tensor][] = entries.map(([k, t]) => [renameLegacyKey(k), t]);
  const withPrefix = `${prefix}.`;
  const checkpointHasPrefix = renamed.some(([k]) => k.startsWith(withPrefix));
  const modelHasPrefix = [...modelKeys].some((k) => k.startsWith(withPrefix));
  if (modelHasPrefix && !checkpointHasPrefix) return new Map(renamed.map(([k, t]) => [withPrefix + k, t]));
  if (!modelHasPrefix && checkpointHasPrefix) {
    return new Map(renamed.map(([k, t]) => [k.startsWith(withPrefix) ? k.slice(withPrefix.length) : k, t]));
  }
  return new Map(renamed);
}
