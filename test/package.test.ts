/**
 * The packed artefact at run time, as a user installs it: only dist/, the log schema, README, CHANGELOG, LICENSE and
 * package.json are published (.npmignore says why), no source map is referenced, and it loads from a plain ESM project
 * without the optional peers and from CommonJS.
 * Its types are tested in package-types.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packIntoProjects, root, run, type PackedProjects } from './packed.js';

describe('the published package', () => {
  let packed: PackedProjects;
  beforeAll(async () => {
    packed = await packIntoProjects('pack-project');
  });
  afterAll(() => packed?.remove());

  it('contains dist, the log schema, README, CHANGELOG, LICENSE and package.json, and no sources, tests, demo or bench', () => {
    const { files } = packed;
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/optional-peers.d.ts', 'dist/cli/express-shadow.js']));
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'LICENSE', 'package.json', 'schema/shadow-log.schema.json']));
    const unexpected = files.filter((file) => !/^(dist\/|schema\/shadow-log\.schema\.json$|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/.test(file));
    expect(unexpected).toEqual([]);
  });

  it('ships no source maps and no reference to one (the build emits none: lib/ is not published)', () => {
    expect(packed.files.filter((file) => file.endsWith('.map'))).toEqual([]);
    const installed = path.join(packed.withPeers, 'node_modules', 'express-shadow');
    const referencing = packed.files.filter((file) => /\.(js|ts)$/.test(file) && readFileSync(path.join(installed, file), 'utf8').includes('sourceMappingURL'));
    expect(referencing).toEqual([]);
  });

  it('ships the engine\'s worker as one file with its dependencies: it loads only Node\'s own modules, and their licences travel beside it', () => {
    const installed = path.join(packed.withPeers, 'node_modules', 'express-shadow');
    const worker = readFileSync(path.join(installed, 'dist/engine/worker.js'), 'utf8');
    const imported = [...worker.matchAll(/^import\s[^;]*?from\s+["']([^"']+)["']/gm)].map((match) => match[1]!);
    const required = [...worker.matchAll(/__require\("([^"]+)"\)/g)].map((match) => match[1]!);
    expect(imported).toContain('node:worker_threads');
    expect(required).toContain('node:http');
    // `node:` names Node's own modules, even one this Node lacks (undici requires node:sqlite lazily, for a cache we do not use).
    const notNode = [...imported, ...required].filter((specifier) => !specifier.startsWith('node:') && !isBuiltin(specifier));
    expect(notNode).toEqual([]);
    const licenses = readFileSync(path.join(installed, 'dist/engine/worker-licenses.txt'), 'utf8');
    for (const dependency of ['undici', 'winston', 'uuid']) {
      const { version } = JSON.parse(readFileSync(path.join(root, 'node_modules', dependency, 'package.json'), 'utf8')) as { version: string };
      expect(licenses).toContain(`${dependency}@${version} (MIT)`);
    }
  });

  it('imports by name from an ESM project and runs without express or prom-client installed', async () => {
    writeFileSync(
      path.join(packed.withoutPeers, 'app.mjs'),
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
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: packed.withoutPeers, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ type: 'function', close: 'function', threw: true, missingPeer: true });
  });

  it('loads with require() from CommonJS (Node 20.19+, 22.12+)', async () => {
    writeFileSync(
      path.join(packed.withPeers, 'app.cjs'),
      `const { shadowMiddleware, buildReport } = require('express-shadow');
const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: 'shadow.log' });
console.log(JSON.stringify({ middleware: typeof shadow, report: typeof buildReport }));
shadow.close();
`,
    );
    const { stdout } = await run(process.execPath, ['app.cjs'], { cwd: packed.withPeers, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual({ middleware: 'function', report: 'function' });
  });
});
