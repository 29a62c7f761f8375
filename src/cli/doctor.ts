/** `finetune doctor`: where libtorch is and what this build can do. */
import { runtimeInfo, version, type RuntimeInfo } from '../index.js';
import { resolveDevice } from '../train/index.js';
import { flagHelp, parseCommandLine, UsageError, type FlagTable } from './core/flags.js';

export const DOCTOR_FLAGS: FlagTable = {
  json: { kind: 'boolean', help: 'print the facts as JSON' },
  config: { kind: 'boolean', help: "also print libtorch's build configuration" },
};

export function doctorHelp(): string {
  return `Usage: finetune doctor [--json] [--config]

Prints where libtorch is, its version and where it came from, the addon's build and origin, threads, devices,
NNPACK and CUDA. \`finetune setup\` changes the libtorch in use.

${flagHelp(DOCTOR_FLAGS)}`;
}

/** The c10d backends this build has (nccl listed as yes only when compiled in), and what gives the missing ones. */
function distributedRow(info: RuntimeInfo): string {
  const gloo = info.distributedBackends.includes('gloo');
  const glooPart = gloo ? 'gloo yes' : 'gloo no (install libgloo-dev, then `npx finetune setup --force`)';
  const ncclPart = info.distributedBackends.includes('nccl')
    ? 'nccl yes'
    : !info.cudaBuild
      ? 'nccl no (CPU build: `npx finetune setup --cuda 12.8` for the CUDA one)'
      : !gloo
        ? 'nccl no (it comes with the distributed part, which needs the Gloo headers)'
        : `nccl no (the CUDA and NCCL headers were missing at build time: \`LIBTORCH=${info.libtorch} node native/src/nccl-build.cjs why\`)`;
  return `${glooPart}, ${ncclPart}`;
}

export function runDoctor(argv: string[]): number {
  let flags;
  try {
    const parsed = parseCommandLine(argv, DOCTOR_FLAGS);
    if (parsed.help) {
      console.log(doctorHelp());
      return 0;
    }
    flags = parsed.flags;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`finetune doctor: ${error.message}\n(finetune doctor --help lists the flags)`);
    return 2;
  }
  const info = runtimeInfo();
  if (flags.json) {
    console.log(JSON.stringify({ version, ...info }, null, 2));
    return 0;
  }
  const rows: [string, string][] = [
    ['finetune', version],
    ['node', process.version],
    ['libtorch', `${info.torchVersion} at ${info.libtorch}`],
    ['  from', info.libtorchSource],
    ['addon', info.addon],
    ['  from', info.addonSource],
    ['compiler', `${info.compiler}, C++11 ABI ${info.cxx11Abi ? 'on' : 'off'}`],
    ['threads', String(info.threads)],
    ['devices', info.devices.join(', ')],
    ['--device auto', describeAutoDevice()],
    [
      'nnpack',
      info.nnpack.enabled
        ? 'on (CPU convolutions may use it)'
        : info.nnpack.available
          ? 'off'
          : "off: NNPACK cannot initialise on this CPU, so libtorch's own convolution kernels run (and its warning is not printed)",
    ],
    ['cuda', info.cuda ? `yes (${info.cudaDevices} device${info.cudaDevices === 1 ? '' : 's'})` : 'no (CPU build)'],
    ['distributed', distributedRow(info)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) console.log(`${key.padEnd(width)}  ${value}`);
  console.log('\n' + info.parallelInfo.trim());
  if (flags.config) console.log('\n' + info.config.trim());
  return 0;
}

/** Where `finetune train` runs by default (--device auto): the device and why. */
function describeAutoDevice(): string {
  const { device, reason } = resolveDevice('auto', '--device');
  return `${device} (${reason!.replace(/^auto: /, '')})`;
}
