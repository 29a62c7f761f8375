/** `finetune doctor`: where libtorch is and what this build can do. */
import { runtimeInfo, version } from '../index.js';
import { parseFlags } from './args.js';

export const DOCTOR_FLAGS = { json: 'boolean', config: 'boolean' } as const;

export function runDoctor(argv: string[]): number {
  const flags = parseFlags(argv, DOCTOR_FLAGS);
  const info = runtimeInfo();
  if (flags.json) {
    console.log(JSON.stringify({ version, ...info }, null, 2));
    return 0;
  }
  const rows: [string, string][] = [
    ['finetune', version],
    ['node', process.version],
    ['libtorch', `${info.torchVersion} at ${info.libtorch}`],
    ['addon', info.addon],
    ['compiler', `${info.compiler}, C++11 ABI ${info.cxx11Abi ? 'on' : 'off'}`],
    ['threads', String(info.threads)],
    ['devices', info.devices.join(', ')],
    ['nnpack', info.nnpack.enabled ? 'on (CPU convolutions may use it)' : info.nnpack.available ? 'off' : "off: NNPACK cannot initialise on this CPU, so libtorch's own convolution kernels run (and its warning is not printed)"],
    ['cuda', info.cuda ? `yes (${info.cudaDevices} device${info.cudaDevices === 1 ? '' : 's'})` : 'no (CPU build)'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) console.log(`${key.padEnd(width)}  ${value}`);
  console.log('\n' + info.parallelInfo.trim());
  if (flags.config) console.log('\n' + info.config.trim());
  return 0;
}
