/**
 * End-to-end tests of the built bin: spawned with TZ=UTC and FORCE_COLOR=0, stdout/stderr and exit code compared with
 * snapshot files in test/snapshots named after the arguments. Regenerate with UPDATE_SNAPSHOTS=1.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist/cli/express-shadow.js');
const SNAPSHOTS = join(ROOT, 'test/snapshots');
const FIXTURE = 'test/fixtures/basic/*';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<Run> {
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', FORCE_COLOR: '0', ...env };
  delete baseEnv.NO_COLOR;
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: baseEnv }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function snapshotName(args: string[]): string {
  return (
    args
      .join(' ')
      .replace(/test\/fixtures\//g, '')
      .replace(/[^A-Za-z0-9.]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 120) + '.txt'
  );
}

async function expectSnapshot(args: string[], result: Run): Promise<void> {
  const text = `$ express-shadow ${args.join(' ')}\nexit code: ${result.code}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
  const file = join(SNAPSHOTS, snapshotName(args));
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    await mkdir(SNAPSHOTS, { recursive: true });
    await writeFile(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`No snapshot ${file}; run with UPDATE_SNAPSHOTS=1 to write it.`);
  expect(text).toBe(await readFile(file, 'utf8'));
}

let dir: string;
beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first (npm test does).`);
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('express-shadow report: output', () => {
  it('prints the text report of the fixture and exits 0', async () => {
    const args = ['report', FIXTURE, '--label-path', '$.label'];
    const result = await run(args);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(''); // no progress bar when stderr is not a terminal
    await expectSnapshot(args, result);
  });

  it('prints the JSON report, filtered to one route', async () => {
    const result = await run(['report', FIXTURE, '--format', 'json', '--route', '/classify/:id']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { filters: { route: string }; match: { overall: { count: number; total: number } } };
    expect(report.filters.route).toBe('/classify/:id');
    expect(report.match.overall).toMatchObject({ count: 3, total: 4 });
  });

  it('writes the HTML report to --out, choosing the format from the extension', async () => {
    const out = join(dir, 'report.html');
    const result = await run(['report', FIXTURE, '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `Match rate 77.8% (95% CI 45.3%–93.7%) over 9 comparisons.\nCriteria not judged: every one had too few samples (fewer than 30 a side).\nReport (html) written to ${out}\n`,
    );
    expect(result.stderr).toContain('1 unparseable lines, 1 unrecognised records, 1 truncated files, 2 orphans');
    const html = await readFile(out, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('data-chart="latency-cdf"');
  });

  it('colours the verdict when FORCE_COLOR is set', async () => {
    const result = await run(['report', FIXTURE, '--fail-under-match', '0.99', '--min-samples', '5'], { FORCE_COLOR: '1' });
    expect(result.stdout).toContain('\u001b[1;31mFAIL');
    const plain = await run(['report', FIXTURE, '--fail-under-match', '0.99', '--min-samples', '5']);
    expect(plain.stdout).not.toContain('\u001b[');
  });

  it('lists both commands in the top-level help, and points at the docs on the repository', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const help = await run([flag]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^ {2}report <logs\.\.\.> /m);
      expect(help.stdout).toMatch(/^ {2}replay <logs\.\.\.> --target <url> /m);
      expect(help.stdout).toContain('https://github.com/express-shadow/express-shadow#readme');
    }
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^ {2}replay /m);
    // No page of the docs is named by a path the installed package does not have.
    const reportHelp = (await run(['report', '--help'])).stdout;
    expect(reportHelp).not.toMatch(/(?<!\/)docs\//);
    expect(reportHelp).toContain('https://github.com/express-shadow/express-shadow/blob/main/docs/report.md');
  });

  it('prints help and version', async () => {
    const help = await run(['report', '--help']);
    expect(help.code).toBe(0);
    await expectSnapshot(['report', '--help'], help);
    const version = await run(['--version']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('express-shadow report: exit codes', () => {
  // The fixtures hold a handful of comparisons: a gate on them needs --min-samples lowered (gate.test.ts).
  it('exits 1 when the match rate is below --fail-under-match', async () => {
    const args = ['report', FIXTURE, '--fail-under-match', '0.99', '--min-samples', '5'];
    const result = await run(args);
    expect(result.code).toBe(1);
    await expectSnapshot(args, result);
  });

  it('reports several candidates, streaming and noise side by side, and exits 1 when one candidate is below the gate', async () => {
    // Pooled, the candidates match 77.8% noise-free (above 77%); model-b alone matches 75% noise-free.
    const args = ['report', 'test/fixtures/streaming/*', '--fail-under-match', '0.77', '--min-samples', '4'];
    const result = await run(args);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('FAIL: 1 of 2 candidates below the 77% gate: model-b noise-free 75.0%');
    await expectSnapshot(args, result);
  });

  it('exits 0 when the match rate is at or above --fail-under-match', async () => {
    const result = await run(['report', FIXTURE, '--fail-under-match', '75%', '--min-samples', '5']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('PASS: match rate 77.8%');
  });

  it('exits 1 when the gate is set and nothing was compared', async () => {
    const args = ['report', FIXTURE, '--since', '2024-05-01T10:05:00Z', '--until', '2024-05-01T10:05:59Z', '--fail-under-match', '0.5'];
    const result = await run(args);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Too little evidence to judge, and a gate fails closed: model-v2 has 0 comparisons');
    await expectSnapshot(args, result);
  });

  it.each([
    [['report', FIXTURE, '--fromat', 'json'], 'Unknown option --fromat. Did you mean --format?'],
    [['report', FIXTURE, '--format', 'pdf'], '--format must be one of text, json, html'],
    [['report', FIXTURE, '--fail-under-match', '1.5'], '--fail-under-match must be a ratio between 0 and 1'],
    [['report', FIXTURE, '--label-path', 'label'], '--label-path: Label path must start with "$"'],
    [['report', FIXTURE, '--since', 'yesterday'], '--since must be an ISO time'],
    [['report', FIXTURE, '--since', '2024-05-02', '--until', '2024-05-01'], 'must be before --until'],
    [['report', FIXTURE, '--top', '0'], '--top must be a positive whole number'],
    [['report'], 'No log files given'],
    [['report', FIXTURE, '--window', '0s'], '--window must be more than 0 and at most 365d'],
    [['report', FIXTURE, '--window', 'soon'], '--window must be a duration like 30s'],
    [['report', FIXTURE, '--min-match', '1.2'], '--min-match must be a ratio between 0 and 1'],
    [['report', FIXTURE, '--max-latency-increase', 'fast'], '--max-latency-increase must be milliseconds like 25ms or a percentage like 50%'],
    [['report', FIXTURE, '--min-samples', '1.5'], '--min-samples: `minSamples` must be a whole number ≥ 2, like 30; got 1.5.'],
    [['report', FIXTURE, '--alpha', '0'], '--alpha: `alpha` must be a probability in (0, 0.5]'],
    [['report', FIXTURE, '--score-path', 'score'], '--score-path: Label path must start with "$"'],
    [['report', FIXTURE, '--criteria', 'test/fixtures/no-such-criteria.json'], '--criteria: cannot read test/fixtures/no-such-criteria.json'],
    [['compare', FIXTURE], 'unknown command "compare"'],
  ])('exits 2 on bad arguments: %j', async (args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it('explains an unknown option with a suggestion (snapshot)', async () => {
    const args = ['report', FIXTURE, '--fromat', 'json'];
    await expectSnapshot(args, await run(args));
  });

  it('exits 3 when a log file is missing', async () => {
    const args = ['report', 'test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/missing.log'];
    const result = await run(args);
    expect(result.code).toBe(3);
    await expectSnapshot(args, result);
  });

  it('exits 3 when no file matches the globs', async () => {
    const result = await run(['report', 'test/fixtures/basic/*.nothing']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('No log files matched "test/fixtures/basic/*.nothing"');
  });

  it('exits 2, without a stack, on a criteria file that is not JSON, has an unknown key or a bad value', async () => {
    const cases: [string, string][] = [
      ['{"minMatch": 0.9,', 'is not valid JSON'],
      ['{"minmatch": 0.9}', 'unknown key "minmatch". Did you mean "minMatch"?'],
      ['{"maxPsi": -1}', '`maxPsi` must be a number > 0, like 0.25; got -1.'],
      ['[0.9]', 'must be a JSON object like {"minMatch": 0.95}'],
      ['{"passScore": 50, "marginalScore": 80}', '`marginalScore` (80) must not be above `passScore` (50)'],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, 'criteria.json');
      await writeFile(file, text);
      const result = await run(['report', FIXTURE, '--criteria', file]);
      expect(result.code, text).toBe(2);
      expect(result.stderr, text).toContain(message);
      expect(result.stderr, text).not.toMatch(/\n\s+at /);
    }
  });

  it('takes thresholds from a criteria file, with flags over it', async () => {
    const file = join(dir, 'lenient.json');
    await writeFile(file, JSON.stringify({ minSamples: 2, minMatch: 0.5 }));
    const result = await run(['report', FIXTURE, '--criteria', file, '--format', 'json', '--min-match', '0.6']);
    const report = JSON.parse(result.stdout) as { verdict: { thresholds: { minSamples: number; minMatch: number } } };
    expect(report.verdict.thresholds).toMatchObject({ minSamples: 2, minMatch: 0.6 });
  });

  it('refuses --out naming an input log (exit 2) and leaves it untouched', async () => {
    const log = join(dir, 'input.log');
    const original = readFileSync(join(ROOT, 'test/fixtures/basic/shadow-a.log'), 'utf8');
    await writeFile(log, original);
    for (const out of [log, join(dir, '.', 'input.log')]) {
      const result = await run(['report', log, '--out', out]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('is an input log');
      expect(await readFile(log, 'utf8')).toBe(original);
    }
    const { symlink } = await import('node:fs/promises');
    await symlink(log, join(dir, 'link.log'));
    const viaLink = await run(['report', log, '--out', join(dir, 'link.log')]);
    expect(viaLink.code).toBe(2);
    expect(await readFile(log, 'utf8')).toBe(original);
  });

  it('exits 1 on a planted regression and names the route and the label (snapshot)', async () => {
    const { plantedLog } = await import('./planted-log.js');
    await writeFile(join(dir, 'planted.log'), plantedLog({ seed: 1, flip: 0.15, embedShiftMs: 30 }));
    const args = ['report', 'planted.log', '--label-path', '$.label'];
    const result = await run(args, {}, dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^\s+FAIL\s+latency\s+\/embed: candidate p50 \+30\.\d ms/m);
    expect(result.stdout).toMatch(/^\s+FAIL\s+label agreement\s+label "negative"/m);
    await expectSnapshot(args, result);
  });

  it('survives a hostile log: a 100k-deep label, years 0001 and 9999, ANSI escapes, a route named constructor', async () => {
    const T = '2026-01-01T00:00:00.000Z';
    const deep = '{"d":'.repeat(100_000) + '"leaf"' + '}'.repeat(100_000);
    const record = (fields: Record<string, unknown>) => JSON.stringify({ method: 'GET', status: 200, durationMs: 5, request: { headers: {}, bodySource: 'raw' }, ...fields });
    const lines = [
      record({ type: 'production', requestId: 'a', timestamp: T, path: '/p', route: '/p', response: { headers: {}, body: { label: 'LABEL' } } }).replace('"LABEL"', deep),
      JSON.stringify({ type: 'shadow', requestId: 'a', timestamp: T, target: 'c', status: 200, durationMs: 6, response: { headers: {}, body: { label: 'x' } } }),
      record({ type: 'production', requestId: 'b', timestamp: '0001-01-01T00:00:00Z', path: '/\u001b[31mred\u001b]0;title\u0007', route: null, response: { headers: {} } }),
      record({ type: 'production', requestId: 'c', timestamp: '9999-12-31T00:00:00Z', path: '/y', route: 'constructor', response: { headers: {} } }),
    ];
    const log = join(dir, 'hostile.log');
    await writeFile(log, `${lines.join('\n')}\n`);
    const text = await run(['report', log, '--label-path', '$.label']);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toContain('\u001b');
    expect(text.stdout).not.toContain('\u0007');
    expect(text.stdout).toContain('/\\x1b[31mred\\x1b]0;title\\x07');
    expect(text.stdout).toMatch(/^\s+constructor\s+1\s/m);
    for (const format of ['json', 'html']) {
      const result = await run(['report', log, '--label-path', '$.label', '--format', format]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.length).toBeLessThan(100_000);
    }
  });

  it('exits 3 when the output cannot be written', async () => {
    const result = await run(['report', FIXTURE, '--out', join(dir, 'no/such/dir/report.txt')]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('cannot write');
  });
});

describe('express-shadow report: a reader that goes away', () => {
  it('exits quietly with the report’s code when stdout is closed early (report | head)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'report', FIXTURE, '--format', 'json'], { cwd: ROOT, env: { ...process.env, TZ: 'UTC' } });
    // Close our end before the report is written: its write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolvePromise) => child.on('close', resolvePromise));
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(code).toBe(0);
  });
});
