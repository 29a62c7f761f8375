/**
 * The config fields PEFT reads as Python regular expressions, matched as PEFT matches them
 * (tuners_utils.check_target_module_exists, utils/other.get_pattern_key) but by the linear-time
 * matcher: a JS RegExp backtracks, and `"target_modules": "(.|.)*Z"` took minutes per module.
 */
import { Pattern, PatternError } from '../pattern/index.js';

/** Each field's entry, as PEFT embeds it in the pattern it matches a module name with. */
const PEFT_PATTERNS = {
  target_modules: (entry: string) => entry,
  exclude_modules: (entry: string) => entry,
  feedforward_modules: (entry: string) => entry,
  modules_to_save: (entry: string) => `(^|.*\\.)${entry}($|\\..*)`,
  layers_pattern: (entry: string) => `(?:^|.*?\\.)${entry}\\.(?P<idx>\\d+)\\.`,
  rank_pattern: (entry: string) => `(.*\\.)?(${entry})$`,
  alpha_pattern: (entry: string) => `(.*\\.)?(${entry})$`,
};

export type PatternField = keyof typeof PEFT_PATTERNS;

const compiled = new Map<string, Pattern>();

/** The pattern PEFT matches for `entry` of `field`; one the matcher cannot run throws naming the field and the construct. */
export function peftPattern(field: PatternField, entry: string): Pattern {
  const source = PEFT_PATTERNS[field](entry);
  let pattern = compiled.get(source);
  if (!pattern) {
    try {
      pattern = new Pattern(source);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      const built = source === entry ? '' : ` (matched as ${quoted(source)}, as PEFT does)`;
      throw new Error(`${field} ${quoted(entry)}: ${error.message}${built}`, { cause: error });
    }
    compiled.set(source, pattern);
  }
  return pattern;
}

/** A pattern for a message, shortened when long. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 79)}…` : text);
}

/**
 * Compiles every pattern a config holds, so a bad one is refused when the config is read (naming
 * its file there) rather than when the adapter is added. Fields of other types are left alone.
 */
export function checkPeftPatterns(config: object): void {
  const fields = config as Record<string, unknown>;
  const camel = (field: string) => field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const field of Object.keys(PEFT_PATTERNS) as PatternField[]) {
    const value = Object.hasOwn(fields, camel(field)) ? fields[camel(field)] : undefined;
    // A list of target/exclude/feedforward modules holds plain names; rank and alpha patterns are the keys of a map.
    const listed = field === 'modules_to_save' || field === 'layers_pattern';
    const keyed = field === 'rank_pattern' || field === 'alpha_pattern';
    const entries =
      typeof value === 'string'
        ? [value]
        : Array.isArray(value) && listed
          ? value
          : value !== null && typeof value === 'object' && keyed
            ? Object.keys(value)
            : [];
    for (const entry of entries) if (typeof entry === 'string') peftPattern(field, entry);
  }
}
