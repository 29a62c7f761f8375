// Whether the addon's distributed part can compile c10d's ProcessGroupNCCL, and with which include
// folders. It needs a libtorch built with CUDA (lib/libtorch_cuda.so: a CPU wheel ships
// ProcessGroupNCCL.hpp but not the library behind it) and the CUDA and NCCL headers that
// ProcessGroupNCCL.hpp includes, which no torch wheel ships: they come from the CUDA toolkit
// (CUDA_HOME, /usr/local/cuda), Debian's libnccl-dev, or the nvidia-* wheels that pip installs beside
// torch (site-packages/nvidia/<name>/include, e.g. nvidia/cu13/include and nvidia/nccl/include).
// binding.gyp runs this file with LIBTORCH set (`enabled` prints 1 or 0, `include-dirs` the folders to
// add); `why` prints what is missing; src/install/addon.ts requires it so that installing the headers
// changes the addon's cache key.
'use strict';
const { existsSync, readdirSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

// The headers ProcessGroupNCCL.hpp reaches (through NCCLUtils.hpp and ATen/cuda/CUDAContext.h); CUDA 13's
// wheels split crt/ (nvidia-cuda-crt) and nv/ (nvidia-cuda-cccl) from the runtime's headers
// (nvidia-cuda-runtime).
const NEEDED_HEADERS = [
  'nccl.h',
  'cuda_runtime.h',
  'crt/host_config.h',
  'nv/target',
  'cublas_v2.h',
  'cublasLt.h',
  'cusparse.h',
  'cusolverDn.h',
];

// The compiler's own include folders: found without -I, and naming them with -I breaks libstdc++'s
// #include_next.
const DEFAULT_DIRS = ['/usr/include', '/usr/local/include'];

/** The folders searched for the CUDA and NCCL headers, in order. */
function candidateDirs(libtorch, env) {
  const dirs = [];
  for (const name of ['CUDA_HOME', 'CUDA_PATH', 'NCCL_INCLUDE_DIR']) {
    if (env[name]) dirs.push(name === 'NCCL_INCLUDE_DIR' ? env[name] : join(env[name], 'include'));
  }
  dirs.push('/usr/local/cuda/include');
  // A pip install: torch/ and nvidia/ side by side in site-packages.
  const nvidia = join(resolve(libtorch), '..', 'nvidia');
  if (existsSync(nvidia)) {
    for (const name of readdirSync(nvidia).sort()) dirs.push(join(nvidia, name, 'include'));
  }
  return [...DEFAULT_DIRS, ...dirs];
}

/**
 * { enabled, includeDirs, missing }: missing names what stops the NCCL build (empty when enabled);
 * includeDirs are the -I folders the found headers need.
 */
function ncclBuild(libtorch = process.env.LIBTORCH, env = process.env) {
  if (!libtorch) return { enabled: false, includeDirs: [], missing: ['LIBTORCH is not set'] };
  if (!existsSync(join(libtorch, 'lib', 'libtorch_cuda.so'))) {
    return { enabled: false, includeDirs: [], missing: [`a libtorch with CUDA (${libtorch}/lib has no libtorch_cuda.so)`] };
  }
  const dirs = candidateDirs(libtorch, env);
  const includeDirs = [];
  const missing = [];
  for (const header of NEEDED_HEADERS) {
    const dir = dirs.find((candidate) => existsSync(join(candidate, header)));
    if (dir === undefined) missing.push(`${header} (searched ${dirs.join(', ')})`);
    else if (!DEFAULT_DIRS.includes(dir) && !includeDirs.includes(dir)) includeDirs.push(dir);
  }
  return { enabled: missing.length === 0, includeDirs, missing };
}

module.exports = { ncclBuild, NEEDED_HEADERS };

if (require.main === module) {
  const build = ncclBuild();
  const mode = process.argv[2];
  if (mode === 'enabled') process.stdout.write(build.enabled ? '1' : '0');
  else if (mode === 'include-dirs') process.stdout.write(build.includeDirs.join(' '));
  else if (mode === 'why') {
    process.stdout.write(build.enabled ? `NCCL compiles in (headers from ${build.includeDirs.join(', ') || 'the default folders'})\n` : `NCCL is not compiled in: missing ${build.missing.join('; ')}\n`);
  } else {
    process.stderr.write(`usage: LIBTORCH=DIR node ${dirname(__filename)}/nccl-build.cjs enabled | include-dirs | why\n`);
    process.exit(2);
  }
}
