/** Automatic mixed precision, after torch.amp: autocast regions and the GradScaler that float16 training needs. */
export { autocast, autocastState, type AutocastOptions } from '../tensor/index.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler.js';
