/**
 * Chat templates: the Jinja template a chat model's tokenizer_config.json ships (`chat_template`)
 * turns a conversation into the text the model was trained on, as transformers'
 * `apply_chat_template(messages, tokenize=False)` does. Rendered with @huggingface/jinja, the Jinja
 * implementation transformers.js uses; the template sees `messages`, `add_generation_prompt` and
 * the tokenizer's special tokens (`bos_token`, `eos_token`, `pad_token`, `unk_token`), as in Python.
 */
import { Template } from '@huggingface/jinja';

import type { Tokenizer } from './tokenizer.js';

/** One turn of a conversation ('system', 'user', 'assistant', …). */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** End with the opening of an assistant turn, for generation (transformers' add_generation_prompt); default false. */
  addGenerationPrompt?: boolean;
  /** A template to use instead of the tokenizer's. */
  template?: string;
}

/** Parsed templates by source text (a dataset renders one template thousands of times). */
const parsed = new Map<string, Template>();

function template(source: string, what: string): Template {
  let compiled = parsed.get(source);
  if (!compiled) {
    try {
      compiled = new Template(source);
    } catch (error) {
      throw new Error(`${what}: the chat template cannot be parsed: ${(error as Error).message}`, { cause: error });
    }
    parsed.set(source, compiled);
  }
  return compiled;
}

/** The text of a conversation in the tokenizer's chat template (tokenise it without adding special tokens: the template writes them). */
export function applyChatTemplate(tokenizer: Tokenizer, messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  const source = options.template ?? tokenizer.chatTemplate;
  if (source === undefined) throw new Error(`${tokenizer.source}: the tokenizer has no chat template (no chat_template in tokenizer_config.json); give one`);
  const special = tokenizer.specialTokens;
  try {
    return template(source, tokenizer.source).render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: special.bos?.token ?? '',
      eos_token: special.eos?.token ?? '',
      pad_token: special.pad?.token ?? '',
      unk_token: special.unk?.token ?? '',
    });
  } catch (error) {
    if ((error as Error).message.includes('the chat template cannot be parsed')) throw error;
    throw new Error(`${tokenizer.source}: the chat template failed on this conversation: ${(error as Error).message}`, { cause: error });
  }
}
