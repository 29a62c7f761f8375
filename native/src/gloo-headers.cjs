// Whether the Gloo headers that c10d's ProcessGroupGloo.hpp includes are installed (Debian/Ubuntu:
// libgloo-dev). The libtorch wheel ships Gloo's library inside libtorch_cpu.so but not its headers,
// so the addon's distributed part (native/src/distributed.cc) is compiled only where they are found.
// binding.gyp runs this file (prints 1 or 0); src/install/addon.ts requires it so that installing
// the headers changes the addon's cache key.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

// Only the compiler's default include directories, and those g++ adds from CPLUS_INCLUDE_PATH and
// CPATH (how scripts/gpu-check.sh brings the headers to a machine without libgloo-dev): naming
// /usr/include with -I breaks libstdc++'s #include_next.
function searchedDirs(env = process.env) {
  const extra = [env.CPLUS_INCLUDE_PATH, env.CPATH].flatMap((list) => (list ? list.split(':').filter(Boolean) : []));
  return ['/usr/include', '/usr/local/include', ...extra];
}

function glooHeadersPresent() {
  return searchedDirs().some((dir) => existsSync(join(dir, 'gloo', 'context.h')) && existsSync(join(dir, 'gloo', 'rendezvous', 'store.h')));
}

module.exports = { glooHeadersPresent };
if (require.main === module) process.stdout.write(glooHeadersPresent() ? '1' : '0');
