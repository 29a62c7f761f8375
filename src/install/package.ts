/**
 * Where this package is and what it was installed with: its root folder, its version, and the paths of the
 * native addon and of the install record. Nothing here loads the addon, so the install step and
 * `finetune setup` can run where the addon is not built yet.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this module that holds binding.gyp. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('finetune: cannot find the package root (binding.gyp) above ' + import.meta.url);
    dir = parent;
  }
  return dir;
}

/** This package's version, from package.json. */
export const version: string = (
  JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
).version;

/** Where the install step puts the native addon. */
export function defaultAddonPath(root = packageRoot()): string {
  return join(root, 'build', 'Release', 'finetune.node');
}

/** Whether `root` is a clone of the repository (it has the sources and scripts) rather than an installed package. */
export function isRepositoryCheckout(root = packageRoot()): boolean {
  return existsSync(join(root, 'scripts', 'setup.sh')) && existsSync(join(root, 'src'));
}
