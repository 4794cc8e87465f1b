/**
 * The packed package's types, as a user compiles against them: test/types/with-express.ts in a TypeScript `nodenext`
 * Express project, test/types/without-peers/app.ts in one without `@types/express` and `prom-client`. Each file's
 * `@ts-expect-error` lines must fail to compile, so tsc passing proves both what compiles and what does not.
 *
 * tsc runs once per project. The timeouts are generous on purpose: they catch a hang, not a slow machine.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packIntoProjects, root, rootModules, run, type PackedProjects } from './packed.js';

const TSC_TIMEOUT_MS = 300_000;

/** Runs tsc on a project; resolves to its output, '' when it type-checks. */
async function typeCheck(project: string): Promise<string> {
  const tsc = path.join(rootModules, 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return '';
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return `${stdout ?? ''}${stderr ?? ''}` || String(error);
  }
}

function writeTsconfig(project: string, extra: Record<string, unknown>): void {
  const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'], ...extra };
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.ts'] }));
}

describe('the published package’s types', () => {
  let packed: PackedProjects;
  beforeAll(async () => {
    packed = await packIntoProjects('pack-types-project');
  });
  afterAll(() => packed?.remove());

  it(
    'type-check in an Express TypeScript nodenext project: hooks get Express types, and what must not compile does not',
    async () => {
      copyFileSync(path.join(root, 'test', 'types', 'with-express.ts'), path.join(packed.withPeers, 'app.ts'));
      // skipLibCheck as most apps have it; the project without peers checks our declarations with it off.
      writeTsconfig(packed.withPeers, { skipLibCheck: true, typeRoots: [path.join(rootModules, '@types')] });
      expect(await typeCheck(packed.withPeers)).toBe('');
    },
    TSC_TIMEOUT_MS,
  );

  it(
    'type-check without @types/express and prom-client: hooks get IncomingMessage, and the types never name a missing module',
    async () => {
      copyFileSync(path.join(root, 'test', 'types', 'without-peers', 'app.ts'), path.join(packed.withoutPeers, 'app.ts'));
      writeTsconfig(packed.withoutPeers, { skipLibCheck: false });
      expect(await typeCheck(packed.withoutPeers)).toBe('');
    },
    TSC_TIMEOUT_MS,
  );
});
