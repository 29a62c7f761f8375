/**
 * Generates src/tensor/aten.ts: one typed function per ATen operator overload, read from
 * the schemas libtorch registers at run time. Rerun after changing the libtorch version:
 *   npm run gen:ops   (builds, then rewrites the file; the same libtorch writes it byte for byte the same)
 * Names are `${op}_${overload}` (`add_Tensor`, `max_dim`); the default overload is `${op}`.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { NativeAddon, OpArgInfo, OpInfo } from '../src/tensor/native.js';

const root = process.cwd();
const native = createRequire(import.meta.url)(join(root, 'build', 'Release', 'finetune.node')) as NativeAddon;
native.init(Symbol('handle'));

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await arguments eval'
  ).split(' '),
);

function safeName(name: string): string {
  return RESERVED.has(name) ? `${name}_` : name;
}

function argType(type: string): string | undefined {
  const optional = /^Optional\[(.*)\]$/.exec(type);
  if (optional) {
    const inner = argType(optional[1]);
    return inner === undefined ? undefined : inner === 'null' ? 'null' : `${inner} | null`;
  }
  switch (type) {
    case 'Tensor':
      return 'Tensor';
    case 'List[Tensor]':
      return 'readonly Tensor[]';
    case 'List[Optional[Tensor]]':
      return 'readonly (Tensor | null)[]';
    case 'int':
    case 'float':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'number':
      return 'Scalar';
    case 'str':
      return 'string';
    case 'List[int]':
      return 'Ints';
    case 'List[float]':
      return 'number | readonly number[]';
    case 'List[bool]':
      return 'readonly boolean[]';
    case 'List[number]':
      return 'readonly Scalar[]';
    case 'ScalarType':
      return 'DType';
    case 'Layout':
      return 'Layout';
    case 'Device':
      return 'Device';
    case 'MemoryFormat':
      return 'MemoryFormat';
    case 'Generator':
      return 'null';
    default:
      return undefined;
  }
}

function returnType(type: string): string | undefined {
  switch (type) {
    case 'Tensor':
      return 'Tensor';
    case 'Optional[Tensor]':
      return 'Tensor | null';
    case 'List[Tensor]':
      return 'Tensor[]';
    case 'int':
    case 'float':
    case 'number':
    case 'ScalarType':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'str':
      return 'string';
    case 'List[int]':
      return 'number[]';
    default:
      return undefined;
  }
}

const WRAP: Record<string, string> = {
  Tensor: 'asTensor',
  'Tensor | null': 'asTensorOrNull',
  'Tensor[]': 'asTensorList',
};

function returnExpression(info: OpInfo, index: number, raw: string, tsType: string): string {
  const aliased = info.returns[index].aliasedArg;
  if (aliased >= 0) {
    const arg = info.args[aliased];
    return arg.kwargOnly ? `options.${arg.name}` : safeName(arg.name);
  }
  return WRAP[tsType] ? `${WRAP[tsType]}(${raw})` : `${raw} as ${tsType}`;
}

interface Generated {
  params: string;
  body: (id: string) => string;
  result: string;
}

function generate(info: OpInfo): Generated | undefined {
  const positional: OpArgInfo[] = info.args.filter((a) => !a.kwargOnly);
  const keywords: OpArgInfo[] = info.args.filter((a) => a.kwargOnly);
  const params: string[] = [];
  const keywordsRequired = keywords.some((a) => !a.hasDefault && !a.optional);
  for (const [i, arg] of positional.entries()) {
    const type = argType(arg.type);
    if (type === undefined) return undefined;
    const optional = arg.hasDefault || type === 'null';
    const laterRequired =
      keywordsRequired || positional.slice(i + 1).some((a) => !a.hasDefault && argType(a.type) !== 'null');
    params.push(
      optional && laterRequired
        ? `${safeName(arg.name)}: ${type} | undefined`
        : `${safeName(arg.name)}${optional ? '?' : ''}: ${type}`,
    );
  }
  if (keywords.length > 0) {
    const fields: string[] = [];
    for (const arg of keywords) {
      const type = argType(arg.type);
      if (type === undefined) return undefined;
      fields.push(`${arg.name}${arg.hasDefault || arg.optional ? '?' : ''}: ${type}`);
    }
    params.push(`options${keywordsRequired ? '' : '?'}: { ${fields.join('; ')} }`);
  }
  const returns = info.returns.map((r) => returnType(r.type));
  if (returns.some((r) => r === undefined)) return undefined;
  const types = returns as string[];
  const result = types.length === 0 ? 'void' : types.length === 1 ? types[0] : `[${types.join(', ')}]`;
  const args = [keywords.length ? 'options' : 'undefined', ...positional.map((a) => safeName(a.name))].join(', ');
  const body = (id: string): string => {
    const call = `callNative(${id}, ${args})`;
    if (types.length === 0) return `${call};`;
    if (types.length === 1) {
      return info.returns[0].aliasedArg >= 0
        ? `${call}; return ${returnExpression(info, 0, '', types[0])};`
        : `return ${returnExpression(info, 0, call, types[0])};`;
    }
    const parts = types.map((t, i) => returnExpression(info, i, `r[${i}]`, t));
    return `const r = ${call} as RawResult[]; return [${parts.join(', ')}];`;
  };
  return { params: params.join(', '), body, result };
}

const ops = native
  .listOps()
  .filter(([name]) => name.startsWith('aten::'))
  .sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a.localeCompare(b)));

const used = new Set<string>();
const lines: string[] = [];
const names: string[] = [];
let skipped = 0;
for (const [qualified, overload] of ops) {
  const info = native.opInfo(native.resolveOp(qualified, overload));
  // out= overloads write into caller-provided tensors; JavaScript code uses the functional forms.
  if (info.args.some((a) => a.kwargOnly && a.writes)) continue;
  const generated = generate(info);
  if (!generated) {
    skipped++;
    continue;
  }
  const base = qualified.slice('aten::'.length);
  let name = overload ? `${base}_${overload}` : base;
  if (used.has(name)) name = `${base}__${overload}`;
  used.add(name);
  const fn = safeName(name);
  names.push(name === fn ? fn : `${name}: ${fn}`);
  const id = `id${names.length - 1}`;
  lines.push(
    `let ${id} = -1;`,
    `/** ${info.schema.replace(/\*\//g, '*\\/')} */`,
    `function ${fn}(${generated.params}): ${generated.result} {`,
    `  if (${id} < 0) ${id} = opId('${qualified}', '${overload}');`,
    `  ${generated.body(id)}`,
    `}`,
  );
}

const version = native.buildInfo().torchVersion;
const source = `// Generated by tools/gen-ops.ts from libtorch ${version}'s operator schemas. Do not edit.
/* eslint-disable */
import { asTensor, asTensorList, asTensorOrNull, callNative, opId } from './dispatch.js';
import type { RawResult } from './native.js';
import type { Tensor } from './tensor.js';
import type { DType, Device, Layout, MemoryFormat, Scalar } from './types.js';

/** An int list; a single number is accepted where PyTorch broadcasts it (e.g. int[2] stride). */
type Ints = number | readonly number[];

${lines.join('\n')}

/** Every ATen operator overload as a typed function, named \`op_overload\`; the schema is on each function. */
export const aten = {
  ${names.join(',\n  ')},
};
`;
writeFileSync(join(root, 'src', 'tensor', 'aten.ts'), source);
console.log(
  `wrote ${names.length} operators to src/tensor/aten.ts (${skipped} skipped: argument types JavaScript cannot pass)`,
);
