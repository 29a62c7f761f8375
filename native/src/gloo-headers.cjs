// Whether the Gloo headers that c10d's ProcessGroupGloo.hpp includes are installed (Debian/Ubuntu:
// libgloo-dev). The libtorch wheel ships Gloo's library inside libtorch_cpu.so but not its headers,
// so the addon's distributed part (native/src/distributed.cc) is compiled only where they are found.
// binding.gyp runs this file (prints 1 or 0); src/install/addon.ts requires it so that installing
// the headers changes the addon's cache key.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

// Only the compiler's default include directories: naming /usr/include with -I breaks libstdc++'s
// #include_next.
const searched = ['/usr/include', '/usr/local/include'];

function glooHeadersPresent() {
  return searched.some((dir) => existsSync(join(dir, 'gloo', 'context.h')) && existsSync(join(dir, 'gloo', 'rendezvous', 'store.h')));
}

module.exports = { glooHeadersPresent };
if (require.main === module) process.stdout.write(glooHeadersPresent() ? '1' : '0');
