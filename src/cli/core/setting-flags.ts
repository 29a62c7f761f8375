/**
 * The command-line flags of TrainingArguments settings, derived from the settings table (train/training-args.ts).
 * Apart from flags.ts so that the parser loads without the library (`finetune setup` runs before the addon exists).
 */
import { TRAINING_SETTINGS, type Setting, type TrainingSettingName } from '../../train/training-args.js';
import { kebabCase, type FlagTable } from './flags.js';

/** The flag name of a TrainingArguments setting: its own (`train-bn`), else the setting's name in kebab-case. */
function settingFlagName(name: TrainingSettingName): string {
  return TRAINING_SETTINGS[name].flag?.name ?? kebabCase(name);
}

/**
 * A setting's help on the command line: the flag's own help (where the CLI's default differs), else
 * the setting's with its default; the settings it names (`maxSteps`) become their flags (--max-steps).
 */
function settingFlagHelp(name: TrainingSettingName): string {
  const spec = TRAINING_SETTINGS[name] as Setting<unknown, unknown>;
  let help = spec.flag?.help;
  if (help === undefined) {
    const value = spec.default;
    const shown =
      spec.showDefault ?? (!spec.derive && (typeof value === 'number' || typeof value === 'string' || value === true));
    help = shown ? `${spec.help} (default ${String(value)})` : spec.help;
  }
  return help.replace(/`(\w+)`/g, (_, other: string) =>
    Object.hasOwn(TRAINING_SETTINGS, other) ? `--${settingFlagName(other as TrainingSettingName)}` : other,
  );
}

/**
 * The command-line flags of TrainingArguments settings (all that have one, in TRAINING_SETTINGS' order,
 * or those named): kind, group, choices and help from the settings table, and the setting each sets.
 */
export function settingFlags(
  names: readonly TrainingSettingName[] = Object.keys(TRAINING_SETTINGS) as TrainingSettingName[],
): FlagTable {
  const table: FlagTable = {};
  for (const name of names) {
    const flag = TRAINING_SETTINGS[name].flag;
    if (!flag) continue;
    table[settingFlagName(name)] = {
      kind: flag.kind,
      group: flag.group,
      help: settingFlagHelp(name),
      ...(flag.arg ? { arg: flag.arg } : {}),
      ...(flag.choices ? { choices: flag.choices } : {}),
      ...(flag.keywords ? { keywords: flag.keywords } : {}),
      ...(flag.parsedByCli ? {} : { trainingArg: name }),
    };
  }
  return table;
}
