/**
 * The packed artefact, as a user installs it: only dist/ and the docs are published, and it imports from a plain
 * ESM project and type-checks in a TypeScript `nodenext` project.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Inside the repository, so the installed copy finds got, winston and uuid in the repository's node_modules.
const project = path.join(root, 'test-output', 'pack-project');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('the published package', () => {
  let files: string[] = [];

  beforeAll(() => {
    rmSync(project, { recursive: true, force: true });
    mkdirSync(path.join(project, 'node_modules', 'express-shadow'), { recursive: true });
    const [packed] = JSON.parse(
      execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', project], { cwd: root, encoding: 'utf8' }),
    ) as { filename: string; files: { path: string }[] }[];
    files = packed!.files.map((file) => file.path);
    execFileSync('tar', ['-xzf', path.join(project, packed!.filename), '-C', path.join(project, 'node_modules', 'express-shadow'), '--strip-components=1']);
  }, 60_000);

  it('contains dist, the log schema, README, LICENSE and package.json, and no sources, tests, demo or bench', () => {
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/cli/express-shadow.js');
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    expect(files).toContain('package.json');
    expect(files).toContain('schema/shadow-log.schema.json');
    const unexpected = files.filter((file) => !/^(dist\/|schema\/shadow-log\.schema\.json$|README\.md$|LICENSE$|package\.json$)/.test(file) || file.endsWith('.map'));
    expect(unexpected).toEqual([]);
  });

  it('imports by name from an ESM project and runs', () => {
    writeFileSync(
      path.join(project, 'app.mjs'),
      `import { shadowMiddleware, ShadowOptionsError } from 'express-shadow';
const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: 'shadow.log' });
let threw = false;
try { shadowMiddleware({ target: 'nope' }); } catch (e) { threw = e instanceof ShadowOptionsError; }
console.log(JSON.stringify({ type: typeof shadow, close: typeof shadow.close, threw }));
await shadow.close();
`,
    );
    const out = execFileSync(process.execPath, ['app.mjs'], { cwd: project, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ type: 'function', close: 'function', threw: true });
  });

  it('type-checks in a TypeScript nodenext project, public types included', () => {
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')] }, files: ['app.ts'] }),
    );
    writeFileSync(
      path.join(project, 'app.ts'),
      `import { shadowMiddleware, type ShadowOptions, type ShadowLogRecord, type ProductionRecord } from 'express-shadow';
const options: ShadowOptions = { target: 'http://127.0.0.1:9', sampleRate: 0.5 };
const shadow = shadowMiddleware(options);
function statusOf(record: ShadowLogRecord): number | undefined {
  return record.type === 'production' ? (record satisfies ProductionRecord).status : undefined;
}
void statusOf;
void shadow.close();
`,
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(() => execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
    // And it really checks: a wrong option is caught.
    writeFileSync(path.join(project, 'app.ts'), `import { shadowMiddleware } from 'express-shadow';\nshadowMiddleware({ target: 1 });\n`);
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toMatch(/app\.ts\(2,20\).*Type 'number' is not assignable to type 'string \| ShadowTargetFunction \| undefined'/);
  });
});
