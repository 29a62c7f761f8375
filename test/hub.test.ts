/**
 * Hub client against a fake Hub served on 127.0.0.1 by this test: the resolve URLs, headers, redirects to a
 * CDN (a second server, another origin, like the real cdn-lfs hosts), Range requests and error codes of
 * huggingface.co. No other network access; every cache lives in a temporary directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import {
  CACHED_NO_EXIST,
  EntryNotFoundError,
  FileIntegrityError,
  HFValidationError,
  HfHubHTTPError,
  HubError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  hfHubDownload,
  hfHubUrl,
  hubCacheDir,
  repoFolderName,
  resolveModelFile,
  snapshotPath,
  tryToLoadFromCache,
  type DownloadProgress,
  type HubDownloadOptions,
} from '../src/hub/index.js';

// ---- environment: nothing from the machine running the tests leaks in -------------------------------------
const sandbox = mkdtempSync(join(tmpdir(), 'finetune-hub-test-'));
for (const k of [
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_HUB_OFFLINE',
  'TRANSFORMERS_OFFLINE',
  'HF_ENDPOINT',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_TOKEN_PATH',
  'HF_HUB_DISABLE_IMPLICIT_TOKEN',
  'XDG_CACHE_HOME',
  'HF_HUB_ETAG_TIMEOUT',
  'HF_HUB_DOWNLOAD_TIMEOUT',
]) {
  delete process.env[k];
}
process.env.HF_HOME = join(sandbox, 'hf-home');
process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';

// ---- the fake Hub ---------------------------------------------------------------------------------------
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const commitOf = (s: string) => createHash('sha1').update(s).digest('hex');
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

interface FakeFile {
  content: Buffer;
  lfs?: boolean;
  /** What the CDN actually sends (to simulate corruption); same length. */
  served?: Buffer;
}
interface FakeRepo {
  commit: string;
  files: Record<string, FakeFile>;
  branches?: Record<string, string>;
  /** Bearer token required. */
  token?: string;
  renamedTo?: string;
  /** X-Error-Code sent for this missing repo (default RepoNotFound, what huggingface.co sends). */
  notFoundCode?: string;
}
interface LogEntry {
  method: string;
  path: string;
  range?: string;
  auth?: string;
}

const repos = new Map<string, FakeRepo>();
const cdnBlobs = new Map<string, FakeFile>();
const hubLog: LogEntry[] = [];
const cdnLog: LogEntry[] = [];
const faults = { down: false, noRange: false, interrupt: new Map<string, number>() };
let hub: Server;
let cdn: Server;
let endpoint = '';
let cdnBase = '';

function addRepo(id: string, repo: FakeRepo): FakeRepo {
  repos.set(id, repo);
  for (const f of Object.values(repo.files)) if (f.lfs) cdnBlobs.set(sha256(f.content), f);
  return repo;
}

/** Sends `content` honouring `Range: bytes=N-` (unless disabled), optionally cutting the connection mid-body. */
function serveBytes(
  req: IncomingMessage,
  res: ServerResponse,
  content: Buffer,
  headers: Record<string, string>,
  cut: boolean,
): void {
  let start = 0;
  let status = 200;
  const range = req.headers.range;
  if (range !== undefined && !faults.noRange) {
    const m = /^bytes=(\d+)-$/.exec(range);
    if (m === null) return void res.writeHead(400).end();
    start = Number(m[1]);
    if (start >= content.length) return void res.writeHead(416, { 'Content-Range': `bytes */${content.length}` }).end();
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${content.length - 1}/${content.length}`;
  }
  const body = content.subarray(start);
  res.writeHead(status, {
    ...headers,
    'Content-Length': String(body.length),
    'Accept-Ranges': faults.noRange ? 'none' : 'bytes',
  });
  if (req.method === 'HEAD') return void res.end();
  if (cut) {
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    return;
  }
  res.end(body);
}

function hubHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', endpoint);
  hubLog.push({
    method: req.method ?? '',
    path: url.pathname,
    range: req.headers.range,
    auth: req.headers.authorization,
  });
  if (faults.down) return void res.writeHead(503, { 'Content-Type': 'text/plain' }).end('down');
  const parts = url.pathname.split('/').slice(1);
  if (parts.length < 5 || parts[2] !== 'resolve') return void res.writeHead(404).end();
  const repoId = `${parts[0]}/${parts[1]}`;
  const rev = decodeURIComponent(parts[3]);
  const filename = parts.slice(4).map(decodeURIComponent).join('/');
  const repo = repos.get(repoId);
  if (repo?.renamedTo !== undefined) {
    return void res.writeHead(307, { Location: `/${repo.renamedTo}/resolve/${parts.slice(3).join('/')}` }).end();
  }
  if (repo === undefined) {
    const code = repoId.includes('legacy') ? 'RepositoryNotFound' : 'RepoNotFound';
    return void res.writeHead(404, { 'X-Error-Code': code, 'X-Error-Message': 'Repository not found' }).end();
  }
  if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
    const headers: Record<string, string> = req.headers.authorization
      ? { 'X-Error-Message': 'Invalid credentials in Authorization header' }
      : { 'X-Error-Message': 'Invalid username or password.' };
    return void res.writeHead(401, headers).end();
  }
  const commit = repo.branches?.[rev] ?? (rev === repo.commit || rev === 'main' ? repo.commit : undefined);
  if (commit === undefined) return void res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' }).end();
  const file = repo.files[filename];
  if (file === undefined)
    return void res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit }).end();
  if (file.lfs) {
    const pointer = Buffer.from(
      `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(file.content)}\nsize ${file.content.length}\n`,
    );
    return void res
      .writeHead(302, {
        Location: `${cdnBase}/cdn/${sha256(file.content)}?X-Amz-Signature=abc`,
        'X-Repo-Commit': commit,
        ETag: `"${gitSha1(pointer)}"`,
        'X-Linked-Etag': `"${sha256(file.content)}"`,
        'X-Linked-Size': String(file.content.length),
        'Content-Length': '0',
      })
      .end();
  }
  serveBytes(req, res, file.content, { 'X-Repo-Commit': commit, ETag: `"${gitSha1(file.content)}"` }, false);
}

function cdnHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', cdnBase);
  cdnLog.push({
    method: req.method ?? '',
    path: url.pathname,
    range: req.headers.range,
    auth: req.headers.authorization,
  });
  const m = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
  const file = m ? cdnBlobs.get(m[1]) : undefined;
  if (m === null || file === undefined) return void res.writeHead(404).end();
  const left = faults.interrupt.get(m[1]) ?? 0;
  if (left > 0) faults.interrupt.set(m[1], left - 1);
  serveBytes(req, res, file.served ?? file.content, { ETag: `"${m[1]}"` }, left > 0);
}

const listen = (s: Server) =>
  new Promise<string>((ok) =>
    s.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(s.address() as { port: number }).port}`)),
  );

const CONFIG = Buffer.from('{"hidden_size": 4, "model_type": "tiny"}\n');
const WEIGHTS = bytes(300_000, 1);
const TOKENIZER = Buffer.from('{"vocab": {"a": 0}}');
const TINY = 'acme/tiny-model';
let tiny: FakeRepo;

before(async () => {
  hub = createServer(hubHandler);
  cdn = createServer(cdnHandler);
  endpoint = await listen(hub);
  cdnBase = await listen(cdn);
  tiny = addRepo(TINY, {
    commit: commitOf('tiny-1'),
    files: {
      'config.json': { content: CONFIG },
      'model.safetensors': { content: WEIGHTS, lfs: true },
      'sub/dir/tokenizer.json': { content: TOKENIZER },
      'odd name #1+%.txt': { content: Buffer.from('odd') },
    },
    branches: { 'refs/pr/1': commitOf('tiny-pr1') },
  });
  addRepo('acme/private', {
    commit: commitOf('private-1'),
    token: 'hf_secret',
    files: { 'config.json': { content: CONFIG }, 'weights.bin': { content: bytes(5000, 2), lfs: true } },
  });
  addRepo('acme/big', { commit: commitOf('big-1'), files: { 'big.bin': { content: bytes(1_000_000, 3), lfs: true } } });
  const good = bytes(100_000, 4);
  const bad = Buffer.from(good);
  bad[50_000] ^= 0xff;
  addRepo('acme/corrupt', {
    commit: commitOf('corrupt-1'),
    files: { 'weights.bin': { content: good, lfs: true, served: bad } },
  });
  addRepo('acme/old-name', { commit: '', files: {}, renamedTo: TINY });
});

after(async () => {
  for (const s of [hub, cdn]) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
  rmSync(sandbox, { recursive: true, force: true });
});

let cacheCount = 0;
function newCache(): string {
  return join(sandbox, `cache-${cacheCount++}`);
}
function opts(cacheDir: string, extra: HubDownloadOptions = {}): HubDownloadOptions {
  return { cacheDir, endpoint, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 }, ...extra };
}
const count = (log: LogEntry[], method?: string) =>
  log.filter((e) => method === undefined || e.method === method).length;
const storageOf = (cache: string, repo = TINY) => join(cache, repoFolderName(repo));

// ---- tests ----------------------------------------------------------------------------------------------

test('downloads a regular and an LFS file into the huggingface_hub cache layout', async () => {
  const cache = newCache();
  const storage = storageOf(cache);
  const cfg = await hfHubDownload(TINY, 'config.json', opts(cache));
  assert.equal(cfg, join(storage, 'snapshots', tiny.commit, 'config.json'));
  assert.deepEqual(readFileSync(cfg), CONFIG);
  assert.ok(lstatSync(cfg).isSymbolicLink(), 'snapshot files are symlinks');
  assert.equal(readlinkSync(cfg), `../../blobs/${gitSha1(CONFIG)}`, 'relative link to the blob named by its git etag');
  assert.deepEqual(readFileSync(join(storage, 'blobs', gitSha1(CONFIG))), CONFIG);
  assert.equal(
    readFileSync(join(storage, 'refs', 'main'), 'utf8'),
    tiny.commit,
    'refs/main holds the commit, no newline',
  );
  assert.ok(
    readFileSync(join(cache, 'CACHEDIR.TAG'), 'utf8').startsWith('Signature: 8a477f597d28d172789f06886806bc55'),
  );

  const cdnBefore = count(cdnLog);
  const w = await hfHubDownload(TINY, 'model.safetensors', opts(cache));
  assert.deepEqual(readFileSync(w), WEIGHTS);
  assert.equal(
    readlinkSync(w),
    `../../blobs/${sha256(WEIGHTS)}`,
    'LFS blobs are named by their sha256 (X-Linked-Etag)',
  );
  assert.equal(count(cdnLog) - cdnBefore, 1, 'the LFS content came from the CDN location of the redirect');
  assert.equal(cdnLog.at(-1)?.method, 'GET');
  assert.deepEqual(
    readdirSync(join(storage, 'blobs')).sort(),
    [gitSha1(CONFIG), sha256(WEIGHTS)].sort(),
    'no .incomplete left',
  );
  assert.equal(w, snapshotPath(TINY, tiny.commit, 'model.safetensors', { cacheDir: cache }));
  assert.equal(tryToLoadFromCache(TINY, 'model.safetensors', undefined, { cacheDir: cache }), w);
});

test('nested and URL-encoded file names; a pull-request revision', async () => {
  const cache = newCache();
  const nested = await hfHubDownload(TINY, 'sub/dir/tokenizer.json', opts(cache));
  assert.equal(readlinkSync(nested), `../../../../blobs/${gitSha1(TOKENIZER)}`);
  assert.deepEqual(readFileSync(nested), TOKENIZER);
  const sub = await hfHubDownload(TINY, 'tokenizer.json', opts(cache, { subfolder: 'sub/dir' }));
  assert.equal(sub, nested);

  const odd = await hfHubDownload(TINY, 'odd name #1+%.txt', opts(cache));
  assert.equal(readFileSync(odd, 'utf8'), 'odd');
  assert.equal(hubLog.at(-1)?.path, `/${TINY}/resolve/main/odd%20name%20%231%2B%25.txt`);

  const pr = await hfHubDownload(TINY, 'config.json', opts(cache, { revision: 'refs/pr/1' }));
  assert.equal(hubLog.at(-1)?.path, `/${TINY}/resolve/refs%2Fpr%2F1/config.json`, 'the revision is fully encoded');
  assert.equal(pr, join(storageOf(cache), 'snapshots', commitOf('tiny-pr1'), 'config.json'));
  assert.equal(readFileSync(join(storageOf(cache), 'refs', 'refs', 'pr', '1'), 'utf8'), commitOf('tiny-pr1'));
  assert.equal(
    hfHubUrl(TINY, 'a b/c.json', { revision: 'refs/pr/1', endpoint: 'https://huggingface.co/' }),
    'https://huggingface.co/acme/tiny-model/resolve/refs%2Fpr%2F1/a%20b/c.json',
  );
  assert.equal(hfHubUrl('ds', 'x', { endpoint, repoType: 'dataset' }), `${endpoint}/datasets/ds/resolve/main/x`);
});

test('a second call is a cache hit: a HEAD only; with a commit hash, no request at all', async () => {
  const cache = newCache();
  const first = await hfHubDownload(TINY, 'model.safetensors', opts(cache));
  const [hubGets, cdnGets, heads] = [count(hubLog, 'GET'), count(cdnLog, 'GET'), count(hubLog, 'HEAD')];
  const second = await hfHubDownload(TINY, 'model.safetensors', opts(cache));
  assert.equal(second, first);
  assert.equal(count(hubLog, 'GET'), hubGets, 'no download from the Hub');
  assert.equal(count(cdnLog, 'GET'), cdnGets, 'no download from the CDN');
  assert.equal(count(hubLog, 'HEAD'), heads + 1, 'the etag is checked with one HEAD, as huggingface_hub does');

  const total = hubLog.length + cdnLog.length;
  const pinned = await hfHubDownload(TINY, 'model.safetensors', opts(cache, { revision: tiny.commit }));
  assert.equal(pinned, first);
  assert.equal(hubLog.length + cdnLog.length, total, 'a cached commit hash needs no request');

  assert.equal(tryToLoadFromCache(TINY, 'model.safetensors', 'main', { cacheDir: cache }), first);
  assert.equal(tryToLoadFromCache(TINY, 'model.safetensors', tiny.commit, { cacheDir: cache }), first);
  assert.equal(tryToLoadFromCache(TINY, 'config.json', 'main', { cacheDir: cache }), null, 'not downloaded yet');
  assert.equal(tryToLoadFromCache(TINY, 'model.safetensors', 'v2', { cacheDir: cache }), null, 'unknown revision');
  assert.equal(tryToLoadFromCache('acme/never', 'config.json', undefined, { cacheDir: cache }), null);
});

test('a new commit on the branch downloads the changed file and moves refs/main', async () => {
  const cache = newCache();
  addRepo('acme/moving', {
    commit: commitOf('moving-1'),
    files: { 'config.json': { content: Buffer.from('{"v": 1}') } },
  });
  const v1 = await hfHubDownload('acme/moving', 'config.json', opts(cache));
  const repo = repos.get('acme/moving')!;
  repo.commit = commitOf('moving-2');
  repo.files['config.json'] = { content: Buffer.from('{"v": 2}') };
  const v2 = await hfHubDownload('acme/moving', 'config.json', opts(cache));
  assert.notEqual(v2, v1);
  assert.equal(readFileSync(v2, 'utf8'), '{"v": 2}');
  assert.equal(readFileSync(v1, 'utf8'), '{"v": 1}', 'the old snapshot stays intact');
  assert.equal(readFileSync(join(storageOf(cache, 'acme/moving'), 'refs', 'main'), 'utf8'), commitOf('moving-2'));
  const forced = await hfHubDownload('acme/moving', 'config.json', opts(cache, { forceDownload: true }));
  assert.equal(forced, v2);
  assert.equal(hubLog.at(-1)?.method, 'GET', 'forceDownload downloads again');
});

test('offline mode (option and HF_HUB_OFFLINE) returns the cached file without any request, or says it is not cached', async () => {
  const cache = newCache();
  const online = await hfHubDownload(TINY, 'config.json', opts(cache));
  const total = hubLog.length + cdnLog.length;
  assert.equal(await hfHubDownload(TINY, 'config.json', opts(cache, { offline: true })), online);
  await assert.rejects(hfHubDownload(TINY, 'model.safetensors', opts(cache, { offline: true })), (e: unknown) => {
    assert.ok(e instanceof LocalEntryNotFoundError);
    assert.match(e.message, /model\.safetensors/);
    assert.match(e.message, /acme\/tiny-model/);
    assert.match(e.message, /not in the local cache/);
    assert.match(e.message, /HF_HUB_OFFLINE/);
    return true;
  });
  for (const value of ['1', 'true', 'YES']) {
    process.env.HF_HUB_OFFLINE = value;
    try {
      assert.equal(await hfHubDownload(TINY, 'config.json', opts(cache)), online);
      await assert.rejects(hfHubDownload(TINY, 'sub/dir/tokenizer.json', opts(cache)), LocalEntryNotFoundError);
      await assert.rejects(hfHubDownload(TINY, 'config.json', opts(cache, { forceDownload: true })), HFValidationError);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
  }
  assert.equal(hubLog.length + cdnLog.length, total, 'offline mode made no request');
  assert.equal(
    await resolveModelFile(TINY, 'generation_config.json', { ...opts(cache, { offline: true }), optional: true }),
    null,
  );
});

test('HF_HOME, HF_HUB_CACHE and HF_ENDPOINT are the defaults', async () => {
  process.env.HF_ENDPOINT = `${endpoint}/`;
  try {
    assert.equal(hubCacheDir(), resolve(process.env.HF_HOME!, 'hub'));
    const p = await hfHubDownload(TINY, 'config.json', { retry: { attempts: 0 } });
    assert.equal(p, join(process.env.HF_HOME!, 'hub', repoFolderName(TINY), 'snapshots', tiny.commit, 'config.json'));
    process.env.HF_HUB_CACHE = join(sandbox, 'explicit-hub-cache');
    assert.equal(hubCacheDir(), join(sandbox, 'explicit-hub-cache'));
    const q = await hfHubDownload(TINY, 'config.json', { retry: { attempts: 0 } });
    assert.ok(q.startsWith(join(sandbox, 'explicit-hub-cache', 'models--acme--tiny-model', 'snapshots')));
  } finally {
    delete process.env.HF_ENDPOINT;
    delete process.env.HF_HUB_CACHE;
  }
});

test('404s: repository vs file vs revision, each naming repo, file and revision', async () => {
  const cache = newCache();
  await assert.rejects(hfHubDownload('acme/missing', 'config.json', opts(cache)), (e: unknown) => {
    assert.ok(e instanceof RepositoryNotFoundError, String(e));
    assert.equal(e.status, 404);
    assert.equal(e.errorCode, 'RepoNotFound');
    assert.match(e.message, /Repository Not Found/);
    assert.match(e.message, /acme\/missing/);
    assert.match(e.message, /HF_TOKEN/);
    return true;
  });
  await assert.rejects(hfHubDownload('acme/legacy', 'config.json', opts(cache)), RepositoryNotFoundError);
  await assert.rejects(hfHubDownload(TINY, 'nope.bin', opts(cache, { revision: 'main' })), (e: unknown) => {
    assert.ok(e instanceof EntryNotFoundError, String(e));
    assert.ok(!(e instanceof RepositoryNotFoundError));
    assert.match(e.message, /'nope\.bin'/);
    assert.match(e.message, /'acme\/tiny-model'/);
    assert.match(e.message, /revision 'main'/);
    assert.equal(e.commitHash, tiny.commit);
    return true;
  });
  assert.equal(
    tryToLoadFromCache(TINY, 'nope.bin', 'main', { cacheDir: cache }),
    CACHED_NO_EXIST,
    'the absence is cached (.no_exist)',
  );
  assert.ok(existsSync(join(storageOf(cache), '.no_exist', tiny.commit, 'nope.bin')));
  assert.equal(await resolveModelFile(TINY, 'nope.bin', { ...opts(cache), optional: true }), null);
  await assert.rejects(resolveModelFile(TINY, 'nope.bin', opts(cache)), EntryNotFoundError);
  await assert.rejects(hfHubDownload(TINY, 'config.json', opts(cache, { revision: 'v9' })), (e: unknown) => {
    assert.ok(e instanceof RevisionNotFoundError, String(e));
    assert.match(e.message, /'v9'/);
    return true;
  });
});

test('private repo: 401 mentions HF_TOKEN; the token option and HF_TOKEN authenticate; the CDN gets no token', async () => {
  const cache = newCache();
  await assert.rejects(hfHubDownload('acme/private', 'config.json', opts(cache)), (e: unknown) => {
    assert.ok(e instanceof RepositoryNotFoundError, String(e));
    assert.equal(e.status, 401);
    assert.match(e.message, /HF_TOKEN/);
    assert.match(e.message, /acme\/private/);
    return true;
  });
  await assert.rejects(
    hfHubDownload('acme/private', 'config.json', opts(cache, { token: 'hf_wrong' })),
    (e: unknown) => {
      assert.ok(e instanceof HfHubHTTPError && e.status === 401, String(e));
      assert.match(e.message, /token is invalid/);
      assert.match(e.message, /HF_TOKEN/);
      return true;
    },
  );
  const p = await hfHubDownload('acme/private', 'config.json', opts(cache, { token: 'hf_secret' }));
  assert.deepEqual(readFileSync(p), CONFIG);
  assert.equal(hubLog.at(-1)?.auth, 'Bearer hf_secret');

  process.env.HF_TOKEN = 'hf_secret';
  try {
    const w = await hfHubDownload('acme/private', 'weights.bin', opts(cache));
    assert.deepEqual(readFileSync(w), repos.get('acme/private')!.files['weights.bin'].content);
    assert.equal(hubLog.at(-1)?.auth, 'Bearer hf_secret', 'HF_TOKEN is sent to the Hub');
    assert.equal(cdnLog.at(-1)?.auth, undefined, 'no Authorization header to the signed CDN URL (another host)');
    await assert.rejects(
      hfHubDownload('acme/private', 'weights.bin', opts(newCache(), { token: false })),
      RepositoryNotFoundError,
    );
  } finally {
    delete process.env.HF_TOKEN;
  }
  // The token file of `hf auth login` ($HF_HOME/token) is the last fallback.
  mkdirSync(process.env.HF_HOME!, { recursive: true });
  writeFileSync(join(process.env.HF_HOME!, 'token'), 'hf_secret\n');
  try {
    await hfHubDownload('acme/private', 'config.json', opts(newCache()));
    assert.equal(hubLog.at(-1)?.auth, 'Bearer hf_secret');
  } finally {
    rmSync(join(process.env.HF_HOME!, 'token'));
  }
});

test('an interrupted download keeps blobs/<etag>.incomplete and the next call resumes it with Range', async () => {
  const cache = newCache();
  const content = repos.get('acme/big')!.files['big.bin'].content;
  const sha = sha256(content);
  faults.interrupt.set(sha, 1);
  await assert.rejects(hfHubDownload('acme/big', 'big.bin', opts(cache, { retry: { attempts: 0 } })), (e: unknown) => {
    assert.ok(e instanceof HubError, String(e));
    assert.match(e.message, /interrupted/);
    assert.match(e.message, /resumes/);
    return true;
  });
  const storage = storageOf(cache, 'acme/big');
  const partial = join(storage, 'blobs', `${sha}.incomplete`);
  const partialSize = lstatSync(partial).size;
  assert.ok(partialSize > 0 && partialSize < content.length, `partial file of ${partialSize} bytes`);
  assert.deepEqual(readFileSync(partial), content.subarray(0, partialSize));
  assert.equal(
    existsSync(join(storage, 'snapshots', repos.get('acme/big')!.commit, 'big.bin')),
    false,
    'nothing in the snapshot yet',
  );

  const p = await hfHubDownload('acme/big', 'big.bin', opts(cache));
  assert.equal(cdnLog.at(-1)?.range, `bytes=${partialSize}-`, 'resumed from the partial size');
  assert.deepEqual(readFileSync(p), content);
  assert.equal(existsSync(partial), false);
});

test('a symlink planted at blobs/<etag>.incomplete is replaced, not appended to: its target is untouched', async () => {
  const cache = newCache();
  const content = repos.get('acme/big')!.files['big.bin'].content;
  const blobs = join(storageOf(cache, 'acme/big'), 'blobs');
  mkdirSync(blobs, { recursive: true });
  const victim = join(cache, 'victim.txt');
  writeFileSync(victim, 'victim');
  symlinkSync(victim, join(blobs, `${sha256(content)}.incomplete`));
  const p = await hfHubDownload('acme/big', 'big.bin', opts(cache));
  assert.deepEqual(readFileSync(p), content);
  assert.equal(readFileSync(victim, 'utf8'), 'victim');
});

test('an interruption is retried (resumed) within one call', async () => {
  const cache = newCache();
  const content = repos.get('acme/big')!.files['big.bin'].content;
  faults.interrupt.set(sha256(content), 2);
  const before = count(cdnLog, 'GET');
  const p = await hfHubDownload('acme/big', 'big.bin', opts(cache, { retry: { attempts: 3, baseDelayMs: 1 } }));
  assert.deepEqual(readFileSync(p), content);
  assert.equal(count(cdnLog, 'GET') - before, 3);
  assert.ok(
    cdnLog.slice(-2).every((e) => e.range?.startsWith('bytes=')),
    'the retries asked for the rest only',
  );
});

test('a server without Range support: the download restarts cleanly from zero', async () => {
  const cache = newCache();
  const content = repos.get('acme/big')!.files['big.bin'].content;
  const sha = sha256(content);
  faults.noRange = true;
  try {
    faults.interrupt.set(sha, 1);
    await assert.rejects(hfHubDownload('acme/big', 'big.bin', opts(cache, { retry: { attempts: 0 } })), HubError);
    const partial = join(storageOf(cache, 'acme/big'), 'blobs', `${sha}.incomplete`);
    assert.ok(existsSync(partial));
    const p = await hfHubDownload('acme/big', 'big.bin', opts(cache));
    assert.match(cdnLog.at(-1)?.range ?? '', /^bytes=\d+-$/, 'a range was asked for…');
    assert.deepEqual(readFileSync(p), content, '…the full answer replaced the partial file instead of being appended');
    assert.equal(existsSync(partial), false);
  } finally {
    faults.noRange = false;
  }
});

test('corrupted LFS content fails the sha256 check and leaves nothing in the cache', async () => {
  const cache = newCache();
  await assert.rejects(hfHubDownload('acme/corrupt', 'weights.bin', opts(cache)), (e: unknown) => {
    assert.ok(e instanceof FileIntegrityError, String(e));
    assert.match(e.message, /SHA-256 mismatch/);
    assert.match(e.message, /weights\.bin/);
    return true;
  });
  const storage = storageOf(cache, 'acme/corrupt');
  assert.deepEqual(readdirSync(join(storage, 'blobs')), [], 'no blob and no .incomplete');
  const snap = join(storage, 'snapshots', repos.get('acme/corrupt')!.commit);
  assert.ok(!existsSync(snap) || readdirSync(snap).length === 0, 'no file in snapshots');
  assert.equal(tryToLoadFromCache('acme/corrupt', 'weights.bin', undefined, { cacheDir: cache }), null);
});

test('path traversal and invalid names are refused before any request', async () => {
  const cache = newCache();
  const total = hubLog.length + cdnLog.length;
  for (const bad of [
    '../secret',
    'a/../../secret',
    '..',
    '/etc/passwd',
    'sub\\..\\x',
    'C:\\Windows\\x',
    'C:x',
    'a//b',
    '',
  ]) {
    await assert.rejects(hfHubDownload(TINY, bad, opts(cache)), HFValidationError, `filename ${JSON.stringify(bad)}`);
  }
  await assert.rejects(hfHubDownload(TINY, 'x', opts(cache, { subfolder: '../..' })), HFValidationError);
  await assert.rejects(hfHubDownload(TINY, 'config.json', opts(cache, { revision: '../../x' })), HFValidationError);
  for (const badRepo of ['acme/a--b', 'acme/a..b', 'acme/x.git', '-acme/x', 'a/b/c/d']) {
    await assert.rejects(hfHubDownload(badRepo, 'config.json', opts(cache)), HFValidationError, badRepo);
  }
  assert.throws(() => tryToLoadFromCache(TINY, '../x', undefined, { cacheDir: cache }), HFValidationError);
  assert.equal(hubLog.length + cdnLog.length, total, 'no request was made');
  assert.equal(existsSync(cache), false, 'nothing was written');
});

test('a local directory as repo id: its file, offline, or a clear error', async () => {
  const dir = join(sandbox, 'local-model');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'sub', 'w.bin'), 'w');
  const total = hubLog.length + cdnLog.length;
  assert.equal(await hfHubDownload(dir, 'config.json'), join(dir, 'config.json'));
  assert.equal(await resolveModelFile(dir, 'sub/w.bin', { offline: true }), join(dir, 'sub', 'w.bin'));
  process.env.HF_HUB_OFFLINE = '1';
  try {
    assert.equal(await resolveModelFile(dir, 'config.json'), join(dir, 'config.json'));
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  await assert.rejects(resolveModelFile(dir, 'missing.safetensors'), (e: unknown) => {
    assert.ok(e instanceof LocalEntryNotFoundError, String(e));
    assert.ok(e.message.includes(dir) && e.message.includes('missing.safetensors'), e.message);
    return true;
  });
  assert.equal(await resolveModelFile(dir, 'missing.json', { optional: true }), null);
  await assert.rejects(resolveModelFile(dir, '../local-model/config.json'), HFValidationError);
  await assert.rejects(resolveModelFile(join(sandbox, 'no-such-dir'), 'config.json'), (e: unknown) => {
    assert.ok(e instanceof HFValidationError);
    assert.match(e.message, /not an existing local directory/);
    return true;
  });
  assert.equal(hubLog.length + cdnLog.length, total, 'local directories never use the network');
});

test('Hub unreachable or failing: the cached snapshot is used, else a clear error', async () => {
  const cache = newCache();
  const cached = await hfHubDownload(TINY, 'config.json', opts(cache));
  faults.down = true;
  try {
    assert.equal(await hfHubDownload(TINY, 'config.json', opts(cache)), cached, '503 falls back to refs/main');
    const heads = count(hubLog, 'HEAD');
    await assert.rejects(hfHubDownload(TINY, 'model.safetensors', opts(cache)), (e: unknown) => {
      assert.ok(e instanceof LocalEntryNotFoundError, String(e));
      assert.match(e.message, /not in the local cache/);
      assert.match(e.message, /503/);
      return true;
    });
    assert.equal(count(hubLog, 'HEAD') - heads, 3, 'one attempt and 2 retries');
  } finally {
    faults.down = false;
  }
  const dead = 'http://127.0.0.1:1';
  assert.equal(
    await hfHubDownload(TINY, 'config.json', opts(cache, { endpoint: dead })),
    cached,
    'connection refused falls back too',
  );
  await assert.rejects(
    hfHubDownload(TINY, 'model.safetensors', opts(cache, { endpoint: dead })),
    LocalEntryNotFoundError,
  );
});

test('a Hub that cannot be reached at all fails at once, without retries (a mistyped name offline does not wait)', async () => {
  const cache = newCache();
  // A port that was just free: nothing listens there, so the connection is refused.
  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const { port } = closed.address() as { port: number };
  await new Promise((ok) => closed.close(ok));
  const dead = `http://127.0.0.1:${port}`;
  // Retries with long waits: were a refused connection retried, this would take 3 × 5 s.
  const slowRetries = opts(cache, { endpoint: dead, retry: { attempts: 3, baseDelayMs: 5000, maxDelayMs: 5000 } });
  const started = performance.now();
  await assert.rejects(hfHubDownload('acme/not-cached', 'config.json', slowRetries), (e: unknown) => {
    assert.ok(e instanceof LocalEntryNotFoundError, String(e));
    assert.match(e.message, /Could not reach the Hub to locate 'config\.json' of repo 'acme\/not-cached'/);
    assert.match(e.message, /ECONNREFUSED/);
    return true;
  });
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds < 2, `failed after ${seconds.toFixed(1)} s`);
});

test('progress callback', async () => {
  const cache = newCache();
  const events: DownloadProgress[] = [];
  const p = await hfHubDownload('acme/big', 'big.bin', opts(cache, { onProgress: (e) => events.push({ ...e }) }));
  const size = readFileSync(p).length;
  assert.ok(events.length >= 2);
  assert.deepEqual(events[0], { repoId: 'acme/big', filename: 'big.bin', downloaded: 0, total: size, done: false });
  assert.deepEqual(events.at(-1), {
    repoId: 'acme/big',
    filename: 'big.bin',
    downloaded: size,
    total: size,
    done: true,
  });
  for (let i = 1; i < events.length; i++) assert.ok(events[i].downloaded >= events[i - 1].downloaded);
});

test('a renamed repo (relative redirect) is followed', async () => {
  const cache = newCache();
  const p = await hfHubDownload('acme/old-name', 'config.json', opts(cache));
  assert.deepEqual(readFileSync(p), CONFIG);
  assert.ok(
    p.includes(join('models--acme--old-name', 'snapshots', tiny.commit)),
    'cached under the requested name, as in Python',
  );
});

test('concurrent calls for one file download it once', async () => {
  const cache = newCache();
  const before = count(cdnLog, 'GET');
  const paths = await Promise.all([0, 1, 2, 3].map(() => hfHubDownload('acme/big', 'big.bin', opts(cache))));
  assert.equal(new Set(paths).size, 1);
  assert.equal(count(cdnLog, 'GET') - before, 1);
  assert.deepEqual(readFileSync(paths[0]), repos.get('acme/big')!.files['big.bin'].content);
  assert.deepEqual(readdirSync(join(cache, '.locks', 'models--acme--big')), [], 'the lock is released');
});

test('a lock left by a dead process is taken over', async () => {
  const cache = newCache();
  const locks = join(cache, '.locks', repoFolderName(TINY));
  mkdirSync(locks, { recursive: true });
  const lock = join(locks, `${gitSha1(CONFIG)}.finetune.lock`);
  writeFileSync(lock, `999999999@${hostname()}\n`);
  const p = await hfHubDownload(TINY, 'config.json', opts(cache));
  assert.deepEqual(readFileSync(p), CONFIG);
  assert.equal(existsSync(lock), false);
});
