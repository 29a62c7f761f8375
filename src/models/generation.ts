/**
 * Text generation for decoder language models, after transformers' GenerationMixin (5.17): greedy
 * search or sampling, one token per step through the model's KV cache, over any model with the
 * shared decoder forward (GPT2LMHeadModel, LlamaForCausalLM).
 *
 *   model.eval();
 *   const out = generate(model, promptIds, { maxNewTokens: 40, doSample: true, topP: 0.9, seed: 1 });
 *   // out: [batch, promptTokens + generated] int64, prompts included, as transformers returns them
 *
 * Logits go through transformers' processors in its order: repetition penalty, then (sampling only)
 * temperature, top-k and top-p (processLogits). Left-padded batches take an attentionMask; positions
 * then follow the mask's cumulative sum, as transformers does. A row that produced an end-of-text
 * token is finished: it gets padTokenId from then on, and generation stops when every row is.
 */
import {
  cat,
  dispose,
  functional as F,
  keep,
  manualSeed,
  noGrad,
  onesLike,
  tensor,
  tidy,
  zeros,
  aten,
  Tensor,
  type Device,
} from '../tensor/index.js';
import { KeyValueCache } from './kv-cache.js';

/**
 * What generate needs of a model: the shared decoder forward (see kv-cache.ts and causal-lm-loss.ts),
 * returning `{ logits }` — checked when called, so a PeftModel (whose forward returns its base's
 * output, typed unknown) generates too.
 */
export interface CausalLanguageModel {
  forward(inputs: {
    inputIds: Tensor;
    attentionMask?: Tensor | null;
    positionIds?: Tensor | null;
    pastKeyValues?: KeyValueCache;
    useCache?: boolean;
    logitsToKeep?: number;
  }): unknown;
}

function logitsOf(model: CausalLanguageModel, output: unknown): Tensor {
  const logits = (output as { logits?: unknown } | null)?.logits;
  if (!(logits instanceof Tensor) || logits.ndim !== 3)
    throw new Error(
      `generate: ${model.constructor.name}'s forward must return { logits: [batch, tokens, vocab] }, as a *ForCausalLM model does`,
    );
  return logits;
}

/** How logits become the next token: transformers' logits processors and warpers of the same names. */
export interface LogitsProcessing {
  /** Sample from the processed distribution (torch.multinomial) instead of taking the most likely token. */
  doSample?: boolean;
  /** Sampling only: logits divided by it (1 leaves them). Must be positive. */
  temperature?: number;
  /** Sampling only: keep the k most likely tokens; 0 keeps all. Default 50, transformers' default. */
  topK?: number;
  /** Sampling only: keep the smallest set of most likely tokens whose probability reaches p (at least one); 1 keeps all. */
  topP?: number;
  /**
   * CTRL's penalty (Keskar et al., 2019) on every token already in the sequence, prompt included: a
   * positive logit is divided by it, a negative one multiplied. 1 leaves them.
   */
  repetitionPenalty?: number;
}

export interface GenerateOptions extends LogitsProcessing {
  /** Tokens to add at most (default 20). */
  maxNewTokens?: number;
  /** Token id(s) that end a sequence. */
  eosTokenId?: number | number[];
  /** What finished rows get; defaults to the (first) eosTokenId, as transformers. */
  padTokenId?: number;
  /**
   * [batch, promptTokens], 1 = real, 0 = padding (left padding for batches of prompts of different
   * lengths). Default: real wherever the prompt is not padTokenId (when that is not an end token), else everywhere.
   */
  attentionMask?: Tensor;
  /** Seeds libtorch's global generator (manualSeed) before sampling, for a reproducible run. */
  seed?: number;
  /** Feed only the new token each step, with the model's KV cache (default true); false recomputes the whole sequence. */
  useCache?: boolean;
  /** Called after each step with each row's new token (padTokenId for finished rows) — for streaming. */
  onToken?: (tokens: number[], step: number) => void;
}

// ---- logits processors ------------------------------------------------------------------

function checkProcessing(options: LogitsProcessing): Required<LogitsProcessing> {
  const { doSample = false, temperature = 1, topK = 50, topP = 1, repetitionPenalty = 1 } = options;
  if (!(typeof temperature === 'number' && temperature > 0))
    throw new Error(`generate: temperature must be a positive number, got ${JSON.stringify(temperature)}`);
  if (!(Number.isInteger(topK) && topK >= 0))
    throw new Error(`generate: topK must be a non-negative integer, got ${JSON.stringify(topK)}`);
  if (!(typeof topP === 'number' && topP > 0 && topP <= 1))
    throw new Error(`generate: topP must be in (0, 1], got ${JSON.stringify(topP)}`);
  if (!(typeof repetitionPenalty === 'number' && repetitionPenalty > 0))
    throw new Error(`generate: repetitionPenalty must be a positive number, got ${JSON.stringify(repetitionPenalty)}`);
  return { doSample, temperature, topK, topP, repetitionPenalty };
}

/**
 * The next-token scores ([batch, vocab] float) after transformers' processors, in its order:
 * RepetitionPenaltyLogitsProcessor over `inputIds` ([batch, tokens], the sequence so far), then when
 * sampling TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper (min_tokens_to_keep 1).
 * Removed tokens get −∞.
 */
export function processLogits(scores: Tensor, inputIds: Tensor, options: LogitsProcessing = {}): Tensor {
  const { doSample, temperature, topK, topP, repetitionPenalty } = checkProcessing(options);
  let out = scores;
  if (repetitionPenalty !== 1) {
    const seen = out.gather(1, inputIds);
    const penalised = aten.where_self(seen.lt(0), seen.mul(repetitionPenalty), seen.div(repetitionPenalty));
    out = out.scatter(1, inputIds, penalised);
  }
  if (!doSample) return out;
  if (temperature !== 1) out = out.div(temperature);
  const vocab = out.shape[1];
  if (topK !== 0 && topK < vocab) {
    const [kth] = aten.topk(out, topK, -1);
    out = out.maskedFill(out.lt(kth.narrow(1, topK - 1, 1)), -Infinity);
  }
  if (topP < 1) {
    const [sorted, order] = aten.sort(out, -1, false);
    const cumulative = sorted.softmax(-1).cumsum(-1);
    // Never the most likely token (the last in ascending order): min_tokens_to_keep = 1.
    const keepsMostLikely = zeros([out.shape[0], 1], { dtype: 'bool', device: out.device as Device });
    const dropped = cat([cumulative.le(1 - topP).narrow(1, 0, vocab - 1), keepsMostLikely], 1);
    out = out.maskedFill(dropped.scatter(1, order, dropped), -Infinity);
  }
  return out;
}

/** The next token of each row: argmax, or a torch.multinomial draw from softmax(scores) when sampling. */
export function selectNextTokens(scores: Tensor, doSample: boolean): Tensor {
  if (!doSample) return scores.argmax(-1);
  return aten.multinomial(F.softmax(scores, -1), 1).squeeze(1);
}

// ---- generate ---------------------------------------------------------------------------

/**
 * Continues each row of `inputIds` ([batch, tokens] int64) by up to maxNewTokens tokens and returns
 * [batch, tokens + generated] int64. Runs without autograd; the caller sets eval() (dropout is the
 * model's mode, as in transformers).
 */
export function generate(model: CausalLanguageModel, inputIds: Tensor, options: GenerateOptions = {}): Tensor {
  const steps = generationSteps(model, inputIds, options);
  for (let step = 0; ; step++) {
    const next = steps.next();
    if (next.done) return next.value;
    options.onToken?.(next.value, step);
  }
}

/**
 * generate() one step at a time: yields each step's new token of every row (padTokenId for finished
 * rows) and returns the sequences as generate() does. For a caller that awaits between steps (the
 * CLI decodes and prints each token as it comes, with the tokenizer's asynchronous decode); leaving
 * the loop early (return()) frees the cache. onToken is not called: the yielded tokens are the same.
 */
export function* generationSteps(
  model: CausalLanguageModel,
  inputIds: Tensor,
  options: GenerateOptions = {},
): Generator<number[], Tensor, void> {
  const processing = checkProcessing(options);
  const { maxNewTokens = 20, useCache = true } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1))
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${JSON.stringify(maxNewTokens)}`);
  if (inputIds.ndim !== 2 || !['int64', 'int32'].includes(inputIds.dtype))
    throw new Error(
      `generate: inputIds must be [batch, tokens] integer token ids, got ${inputIds.dtype} [${inputIds.shape.join(', ')}]`,
    );
  const eos = options.eosTokenId === undefined ? [] : [options.eosTokenId].flat();
  const padTokenId = options.padTokenId ?? eos[0];
  if (options.attentionMask && options.attentionMask.shape.join() !== inputIds.shape.join())
    throw new Error(
      `generate: attentionMask must be the shape of inputIds [${inputIds.shape.join(', ')}], got [${options.attentionMask.shape.join(', ')}]`,
    );
  if (options.seed !== undefined) manualSeed(options.seed);

  const batch = inputIds.shape[0];
  let sequences = keep(inputIds.to('int64'));
  let mask = keep(tidy(() => promptMask(inputIds, options.attentionMask, padTokenId, eos)));
  // transformers' _prepare_position_ids_for_generation: cumsum of the mask − 1, padding at 0.
  let positions = keep(tidy(() => mask.cumsum(-1).sub(1).maskedFill(mask.eq(0), 0)));
  const cache = useCache ? new KeyValueCache() : undefined;
  const unfinished = new Array<boolean>(batch).fill(true);
  // A generator's body runs across next() calls, so each step (not the whole loop) runs without autograd.
  const step = (index: number): number[] =>
    noGrad(() => {
      const next = tidy(() => {
        const fresh = cache && index > 0;
        const output = model.forward({
          inputIds: fresh ? sequences.narrow(1, -1 + sequences.shape[1], 1) : sequences,
          attentionMask: mask,
          positionIds: fresh ? positions.narrow(1, positions.shape[1] - 1, 1) : positions,
          ...(cache ? { pastKeyValues: cache, useCache: true } : {}),
          logitsToKeep: 1,
        });
        const logits = logitsOf(model, output);
        const last = logits
          .narrow(1, logits.shape[1] - 1, 1)
          .squeeze(1)
          .to('float32');
        return selectNextTokens(processLogits(last, sequences, processing), processing.doSample);
      });
      const chosen = Array.from(next.data() as ArrayLike<number | bigint>, Number);
      next.dispose();
      const tokens = chosen.map((token, row) => (unfinished[row] ? token : padTokenId!));
      tokens.forEach((token, row) => {
        if (eos.includes(token)) unfinished[row] = false;
      });
      const grown = tidy(() => {
        const column = tensor(
          tokens.map((t) => [t]),
          { dtype: 'int64' },
        ).to({ device: sequences.device as Device });
        return [
          cat([sequences, column], 1),
          cat([mask, onesLike(column)], 1),
          cat([positions, positions.narrow(1, positions.shape[1] - 1, 1).add(1)], 1),
        ];
      });
      dispose([sequences, mask, positions]);
      [sequences, mask, positions] = grown.map((t) => keep(t));
      return tokens;
    });
  let done = false;
  try {
    for (let index = 0; index < maxNewTokens; index++) {
      yield step(index);
      if (eos.length && !unfinished.includes(true)) break;
    }
    done = true;
    return sequences;
  } finally {
    if (!done) sequences.dispose();
    cache?.dispose();
    dispose([mask, positions]);
  }
}

/** transformers' _prepare_attention_mask_for_generation: the given mask, else padding where the pad token is (unless it ends text), else all ones. */
function promptMask(
  inputIds: Tensor,
  given: Tensor | undefined,
  padTokenId: number | undefined,
  eos: number[],
): Tensor {
  if (given) return given.to({ dtype: 'int64', device: inputIds.device as Device });
  if (padTokenId !== undefined && !eos.includes(padTokenId) && inputIds.eq(padTokenId).any().item())
    return inputIds.ne(padTokenId).to('int64');
  return onesLike(inputIds, { dtype: 'int64' });
}
