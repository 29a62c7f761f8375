/**
 * native/src/nccl-build.cjs, which decides whether binding.gyp compiles c10d's ProcessGroupNCCL in: only
 * for a libtorch with lib/libtorch_cuda.so, and only when every CUDA and NCCL header that
 * ProcessGroupNCCL.hpp reaches is found (CUDA_HOME, /usr/local/cuda, or the nvidia-* wheels beside
 * torch in site-packages), with the folders to add to the include path. Checked on real folders made here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const helper = join(process.cwd(), 'native', 'src', 'nccl-build.cjs');
const { ncclBuild, NEEDED_HEADERS } = createRequire(import.meta.url)(helper) as {
  ncclBuild(libtorch: string, env: NodeJS.ProcessEnv): { enabled: boolean; includeDirs: string[]; missing: string[] };
  NEEDED_HEADERS: string[];
};

function touch(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
}

/** A pip layout: site-packages/torch with a CUDA lib, site-packages/nvidia/{cu13,nccl}/include. */
function sitePackages(withCudaLib: boolean): { site: string; torch: string } {
  const site = mkdtempSync(join(tmpdir(), 'nccl-build-'));
  const torch = join(site, 'torch');
  touch(join(torch, 'lib', withCudaLib ? 'libtorch_cuda.so' : 'libtorch_cpu.so'));
  touch(join(site, 'nvidia', 'nccl', 'include', 'nccl.h'));
  for (const header of NEEDED_HEADERS.filter((h) => h !== 'nccl.h'))
    touch(join(site, 'nvidia', 'cu13', 'include', header));
  return { site, torch };
}

// No CUDA_HOME, CUDA_PATH or NCCL_INCLUDE_DIR: the folders made here, and the fixed ones the helper
// searches (a machine's /usr/local/cuda may hold the CUDA headers).
const env = { PATH: process.env.PATH };
const systemNccl = ['/usr/include', '/usr/local/include', '/usr/local/cuda/include'].some((dir) =>
  existsSync(join(dir, 'nccl.h')),
);

test('a CUDA libtorch with the nvidia-* wheels beside it compiles NCCL in, with their include folders', () => {
  const { site, torch } = sitePackages(true);
  try {
    const build = ncclBuild(torch, env);
    assert.deepEqual(build.missing, []);
    assert.equal(build.enabled, true);
    assert.ok(build.includeDirs.includes(join(site, 'nvidia', 'nccl', 'include')), `${build.includeDirs}`);
    assert.ok(
      build.includeDirs.includes(join(site, 'nvidia', 'cu13', 'include')) ||
        build.includeDirs.includes('/usr/local/cuda/include'),
      `${build.includeDirs}`,
    );
    // binding.gyp's calls.
    const run = (mode: string) =>
      spawnSync(process.execPath, [helper, mode], { encoding: 'utf8', env: { ...env, LIBTORCH: torch } });
    assert.equal(run('enabled').stdout, '1');
    assert.equal(run('include-dirs').stdout, build.includeDirs.join(' '));
    assert.match(run('why').stdout, /^NCCL compiles in \(headers from .*nvidia\/nccl\/include/);
    assert.equal(run('nonsense').status, 2);
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
});

test(
  'without nccl.h, or with a CPU libtorch, NCCL stays out and `why` names what is missing',
  {
    skip: systemNccl ? 'this machine has nccl.h in a system folder' : false,
  },
  () => {
    const { site, torch } = sitePackages(true);
    const cpu = sitePackages(false);
    try {
      rmSync(join(site, 'nvidia', 'nccl'), { recursive: true });
      const build = ncclBuild(torch, env);
      assert.equal(build.enabled, false);
      assert.equal(build.missing.length, 1);
      assert.match(build.missing[0], /^nccl\.h \(searched .*nvidia\/cu13\/include/);
      const why = spawnSync(process.execPath, [helper, 'why'], {
        encoding: 'utf8',
        env: { ...env, LIBTORCH: cpu.torch },
      });
      assert.equal(
        why.stdout,
        `NCCL is not compiled in: missing a libtorch with CUDA (${cpu.torch}/lib has no libtorch_cuda.so)\n`,
      );
      assert.deepEqual(ncclBuild(cpu.torch, env), {
        enabled: false,
        includeDirs: [],
        missing: [`a libtorch with CUDA (${cpu.torch}/lib has no libtorch_cuda.so)`],
      });
    } finally {
      rmSync(site, { recursive: true, force: true });
      rmSync(cpu.site, { recursive: true, force: true });
    }
  },
);
