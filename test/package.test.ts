/**
 * The packed artefact, as a user installs it: only dist/ and the docs are published; it imports from a plain ESM
 * project and from CommonJS, and type-checks in a TypeScript `nodenext` Express project and in one without the
 * optional peers (`@types/express`, `prom-client`). The type tests are the files of test/types/.
 *
 * tsc runs once per project. Its timeouts are generous on purpose: they catch a hang, not a slow machine.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rootModules = path.join(root, 'node_modules');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = path.join(rootModules, 'typescript', 'bin', 'tsc');
const TSC_TIMEOUT_MS = 300_000;
/** The optional peers, kept out of the project that must work without them. */
const PEERS = new Set(['express', 'express4', 'prom-client', '@types/express', '@types/express-serve-static-core']);

const run = promisify(execFile);

/** Runs tsc on a project; resolves to its output, '' when it type-checks. */
async function typeCheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return '';
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return `${stdout ?? ''}${stderr ?? ''}` || String(error);
  }
}

function writeTsconfig(project: string, files: string[], extra: Record<string, unknown> = {}): void {
  const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], ...extra };
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
}

/** node_modules of a project outside the repository: every dependency of the repository except the optional peers. */
function linkDependenciesExceptPeers(modules: string): void {
  for (const name of readdirSync(rootModules)) {
    if (name.startsWith('.') || name === 'express-shadow') continue;
    if (name.startsWith('@')) {
      mkdirSync(path.join(modules, name), { recursive: true });
      for (const scoped of readdirSync(path.join(rootModules, name))) {
        if (!PEERS.has(`${name}/${scoped}`)) symlinkSync(path.join(rootModules, name, scoped), path.join(modules, name, scoped));
      }
    } else if (!PEERS.has(name)) symlinkSync(path.join(rootModules, name), path.join(modules, name));
  }
}

describe('the published package', () => {
  // Inside the repository, so the installed copy finds its dependencies and the peers in the repository's node_modules.
  const withPeers = path.join(root, 'test-output', 'pack-project');
  // Outside it, so `express` and `prom-client` cannot be resolved.
  let withoutPeers = '';
  let files: string[] = [];

  beforeAll(async () => {
    rmSync(withPeers, { recursive: true, force: true });
    mkdirSync(path.join(withPeers, 'node_modules', 'express-shadow'), { recursive: true });
    const { stdout } = await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', withPeers], { cwd: root, encoding: 'utf8' });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    files = packed!.files.map((file) => file.path);
    const tarball = path.join(withPeers, packed!.filename);
    execFileSync('tar', ['-xzf', tarball, '-C', path.join(withPeers, 'node_modules', 'express-shadow'), '--strip-components=1']);

    withoutPeers = path.join(os.tmpdir(), `express-shadow-no-peers-${process.pid}`);
    rmSync(withoutPeers, { recursive: true, force: true });
    mkdirSync(path.join(withoutPeers, 'node_modules', 'express-shadow'), { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', path.join(withoutPeers, 'node_modules', 'express-shadow'), '--strip-components=1']);
    linkDependenciesExceptPeers(path.join(withoutPeers, 'node_modules'));
  }, TSC_TIMEOUT_MS);

  afterAll(() => {
    if (withoutPeers) rmSync(withoutPeers, { recursive: true, force: true });
  });

  it('contains dist, README, CHANGELOG, LICENSE and package.json, and no sources, tests, demo or bench', () => {
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/optional-peers.d.ts', 'dist/cli/express-shadow.js']));
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'LICENSE', 'package.json']));
    const unexpected = files.filter((file) => !/^(dist\/|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/.test(file));
    expect(unexpected).toEqual([]);
  });

  it('ships no source maps and no reference to one (the build emits none: lib/ is not published)', () => {
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    const installed = path.join(withPeers, 'node_modules', 'express-shadow');
    const referencing = files.filter((file) => /\.(js|ts)$/.test(file) && readFileSync(path.join(installed, file), 'utf8').includes('sourceMappingURL'));
    expect(referencing).toEqual([]);
  });

  it('imports by name from an ESM project and runs without express or prom-client installed', async () => {
    writeFileSync(
      path.join(withoutPeers, 'app.mjs'),
      `import { shadowMiddleware, ShadowOptionsError, ShadowMissingPeerError } from 'express-shadow';
const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: 'shadow.log' });
let threw = false;
try { shadowMiddleware({ target: 'nope' }); } catch (e) { threw = e instanceof ShadowOptionsError; }
let missingPeer = false;
try { shadow.registerMetrics(); } catch (e) { missingPeer = e instanceof ShadowMissingPeerError; }
console.log(JSON.stringify({ type: typeof shadow, close: typeof shadow.close, threw, missingPeer }));
await shadow.close();
`,
    );
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: withoutPeers, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ type: 'function', close: 'function', threw: true, missingPeer: true });
  });

  it('loads with require() from CommonJS (Node 20.19+, 22.12+)', async () => {
    writeFileSync(
      path.join(withPeers, 'app.cjs'),
      `const { shadowMiddleware, buildReport } = require('express-shadow');
const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: 'shadow.log' });
console.log(JSON.stringify({ middleware: typeof shadow, report: typeof buildReport }));
shadow.close();
`,
    );
    const { stdout } = await run(process.execPath, ['app.cjs'], { cwd: withPeers, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ middleware: 'function', report: 'function' });
  });

  it(
    'type-checks in an Express TypeScript nodenext project: hooks get Express types, and what must not compile does not',
    async () => {
      copyFileSync(path.join(root, 'test', 'types', 'with-express.ts'), path.join(withPeers, 'app.ts'));
      // skipLibCheck as most apps have it; the project without peers checks our declarations with it off.
      writeTsconfig(withPeers, ['app.ts'], { skipLibCheck: true, typeRoots: [path.join(rootModules, '@types')] });
      expect(await typeCheck(withPeers)).toBe('');
    },
    TSC_TIMEOUT_MS,
  );

  it(
    'type-checks without @types/express and prom-client: hooks get IncomingMessage, and the types never name a missing module',
    async () => {
      copyFileSync(path.join(root, 'test', 'types', 'without-peers', 'app.ts'), path.join(withoutPeers, 'app.ts'));
      writeTsconfig(withoutPeers, ['app.ts']);
      const output = await typeCheck(withoutPeers);
      expect(output).toBe('');
    },
    TSC_TIMEOUT_MS,
  );
});
