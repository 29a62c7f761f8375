/** Minimal flag parsing shared by the CLI commands: --name value and --flag. */
export function parseFlags(argv: string[], known: Record<string, 'number' | 'boolean' | 'string'>): Record<string, number | boolean | string> {
  const flags: Record<string, number | boolean | string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const [name, inline] = arg.slice(2).split('=', 2);
    const kind = known[name];
    if (kind === undefined) throw new Error(`unknown flag --${name} (known: ${Object.keys(known).map((k) => `--${k}`).join(', ')})`);
    if (kind === 'boolean') {
      flags[name] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new Error(`--${name} needs a value`);
    if (kind === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Error(`--${name} expects a number, got '${raw}'`);
      flags[name] = value;
    } else {
      flags[name] = raw;
    }
  }
  return flags;
}
