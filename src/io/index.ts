/** The io layer: checkpoint files (safetensors, sharded safetensors) and fromPretrained / savePretrained, which join them with the hub client and the model registry. */
export {
  assertNotPickle,
  deserializeSafetensors,
  loadSafetensors,
  loadSafetensorsSync,
  MAX_HEADER_SIZE,
  readSafetensorsHeader,
  readSafetensorsHeaderSync,
  safetensorsByteLength,
  safetensorsDTypeOf,
  SafetensorsError,
  saveSafetensors,
  saveSafetensorsSync,
  serializeSafetensors,
  tensorDTypeOf,
  type LoadSafetensorsOptions,
  type NamedTensors,
  type SafetensorsContents,
  type SafetensorsDType,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './safetensors.js';
export {
  loadShardedSafetensors,
  parseByteSize,
  readSafetensorsIndex,
  SAFETENSORS_INDEX_NAME,
  saveShardedSafetensors,
  type SafetensorsIndex,
  type SaveShardedOptions,
  type ShardedSafetensorsContents,
  type ShardedSaveResult,
} from './sharded.js';
export {
  createModel,
  fromPretrained,
  isLocalCheckpoint,
  loadPretrained,
  loadedConfigOf,
  newlyInitializedModules,
  savePretrained,
  type CreateModelOptions,
  type FromPretrainedOptions,
  type LoadingInfo,
  type SavePretrainedOptions,
} from './pretrained.js';
export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, loadAdapter, loadPeftModel, savePeftModel, type LoadAdapterOptions } from './peft.js';
export { describeJsonValue } from './json.js';
