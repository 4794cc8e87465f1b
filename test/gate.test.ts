/**
 * The report as a CI gate: any of --gate, --criteria, --fail-under-match or a threshold flag makes it one, and a gate
 * fails closed: with too little evidence to judge (no records, nothing compared, too few samples for a candidate) it
 * exits 1 and says why. One number governs agreement: --fail-under-match is the agreement threshold too.
 * The built bin is spawned (TZ=UTC, FORCE_COLOR=0) over logs of known truth (test/planted-log.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, getExitCode, ReportBuilder, type Report } from '../lib/report/index.js';
import { plantedLog } from './planted-log.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist/cli/express-shadow.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function report(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', FORCE_COLOR: '0' };
  delete env.NO_COLOR;
  return new Promise((done) => {
    execFile(process.execPath, [BIN, 'report', ...args], { cwd: dir, env }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

let dir: string;
/** 1,200 requests, one candidate that agrees with production on every label (noise-free). */
let clean: string;
/** 20 requests: too few for the default 30 samples. */
let small: string;
/** 1,200 requests where the candidate turns 60% of the negatives positive: about 80% noise-free agreement. */
let eighty: string;
beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first (npm test does).`);
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-gate-'));
  clean = join(dir, 'clean.log');
  small = join(dir, 'small.log');
  eighty = join(dir, 'eighty.log');
  await writeFile(clean, plantedLog({ seed: 3 }));
  await writeFile(small, plantedLog({ seed: 4, requests: 20 }));
  await writeFile(eighty, plantedLog({ seed: 5, flip: 0.6 }));
  await writeFile(join(dir, 'criteria.json'), JSON.stringify({ minMatch: 0.9 }));
  await writeFile(join(dir, 'empty-criteria.json'), '{}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every way of making the report a gate. */
const GATE_FLAGS: string[][] = [
  ['--gate'],
  ['--criteria', 'criteria.json'],
  ['--criteria', 'empty-criteria.json'],
  ['--fail-under-match', '0.5'],
  ['--min-match', '0.9'],
  ['--min-label-agreement', '0.8'],
  ['--min-samples', '30'],
  ['--max-latency-increase', '25ms'],
  ['--max-error-increase', '1%'],
  ['--max-psi', '0.25'],
  ['--alpha', '0.05'],
];

describe('a gate fails closed', () => {
  it.each(GATE_FLAGS)('exits 1 and says why when no record is in the period: %s', async (...flags) => {
    const result = await report([clean, '--since', '2030-01-01T00:00:00Z', ...flags]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^Verdict: FAIL$/m);
    expect(result.stdout).toContain(
      'Too little evidence to judge, and a gate fails closed: no request in the logs matched the filters (since 2030-01-01 00:00:00Z); 1 file and 6,000 records read.',
    );
  });

  it.each(GATE_FLAGS)('exits 1 and says why when a candidate has too few samples: %s', async (...flags) => {
    const result = await report([small, ...flags]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toContain('Too little evidence to judge, and a gate fails closed: candidate has 20 comparisons to judge agreement on, fewer than minSamples (30).');
  });

  it('without a gate, the same logs are "not judged" and exit 0', async () => {
    for (const args of [[clean, '--since', '2030-01-01T00:00:00Z'], [small]]) {
      const result = await report(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Verdict: NOT JUDGED$/m);
    }
  });

  it('passes a gate that has the evidence, and counts label pairs with --label-path', async () => {
    const passed = await report([clean, '--gate']);
    expect(passed.code, passed.stdout).toBe(0);
    expect(passed.stdout).toMatch(/^Verdict: PASS /m);
    // Lowering --min-samples is the way to accept a smaller sample, stated in the message.
    expect((await report([small, '--gate', '--min-samples', '20'])).stdout).not.toContain('Too little evidence');
    const labels = await report([small, '--gate', '--label-path', '$.label']);
    expect(labels.stdout).toContain('candidate has 20 label pairs to judge agreement on');
  });

  it('names every candidate without the evidence, and only those', async () => {
    // The same 1,200 requests answered by a second candidate that answered only 10 of them.
    const lines = plantedLog({ seed: 3, secondary: false }).split('\n').filter((line) => line !== '');
    const extra: string[] = [];
    for (const line of lines.slice(0, 60)) {
      const record = JSON.parse(line) as { type: string; target?: string };
      if (record.type === 'shadow' || record.type === 'comparison') extra.push(JSON.stringify({ ...record, target: 'rare' }));
    }
    const file = join(dir, 'two.log');
    await writeFile(file, `${[...lines, ...extra].join('\n')}\n`);
    const result = await report([file, '--format', 'json', '--gate']);
    expect(result.code).toBe(1);
    const verdict = (JSON.parse(result.stdout) as Report).verdict;
    expect(verdict).toMatchObject({ status: 'fail', gated: true, failing: ['rare'] });
    expect(verdict.tooLittleEvidence).toMatch(/^rare has \d+ comparisons to judge agreement on, fewer than minSamples \(30\)$/);
  });

  it('fails closed from code too: the options that make a gate, and gate: false to judge without one', () => {
    const empty = (options: ConstructorParameters<typeof ReportBuilder>[0]) => new ReportBuilder(options).build();
    for (const options of [{ gate: true }, { failUnderMatch: 0.5 }, { criteria: { minSamples: 10 } }]) {
      const built = empty(options);
      expect(built.verdict, JSON.stringify(options)).toMatchObject({ status: 'fail', gated: true });
      expect(built.verdict.tooLittleEvidence).toBe('no request in the logs');
      expect(getExitCode(built)).toBe(1);
    }
    expect(empty({}).verdict).toMatchObject({ status: 'none', gated: false, tooLittleEvidence: null });
    expect(empty({ criteria: { minSamples: 10 }, gate: false }).verdict.status).toBe('none');
    expect(() => new ReportBuilder({ gate: 'yes' as never })).toThrow(/`gate` must be true or false; got "yes"/);
  });
});

describe('one number governs agreement', () => {
  it('judges agreement against --fail-under-match, not the 95% default: an 80% match passes a 50% gate', async () => {
    const result = await report([eighty, '--fail-under-match', '0.5', '--format', 'json']);
    const verdict = (JSON.parse(result.stdout) as Report).verdict;
    expect(verdict.thresholds.minMatch).toBe(0.5);
    const agreement = verdict.criteria.filter((c) => c.criterion === 'agreement');
    expect(agreement.length).toBeGreaterThan(0);
    for (const c of agreement) {
      expect(c.estimate).toBeGreaterThan(0.75);
      expect(c.estimate).toBeLessThan(0.85);
      expect(c).toMatchObject({ threshold: 0.5, status: 'pass' });
    }
    expect(verdict.status).toBe('pass');
    expect(result.code).toBe(0);
    // The same log against a 90% gate fails both the gate and the agreement criterion, on the same number.
    const strict = await report([eighty, '--fail-under-match', '0.9']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/^ {2}FAIL: noise-free match rate 8\d\.\d% .* is below the 90% gate\.$/m);
    expect(strict.stdout).toMatch(/^ {4}FAIL +agreement +all routes: noise-free match 8\d\.\d% .* below the 90\.0% minimum/m);
  });

  it('lets --fail-under-match override the criteria file’s minMatch, as any flag does', async () => {
    await writeFile(join(dir, 'strict.json'), JSON.stringify({ minMatch: 0.95, minSamples: 30 }));
    const result = await report([eighty, '--criteria', 'strict.json', '--fail-under-match', '0.5', '--format', 'json']);
    expect((JSON.parse(result.stdout) as Report).verdict.thresholds).toMatchObject({ minMatch: 0.5, minSamples: 30 });
    expect(result.code).toBe(0);
  });

  it('refuses two different agreement thresholds (exit 2), and takes the same one twice', async () => {
    const both = await report([eighty, '--fail-under-match', '0.5', '--min-match', '0.95']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--fail-under-match 0.5 and --min-match 0.95 are both the agreement threshold; give one');
    expect((await report([eighty, '--fail-under-match', '0.5', '--min-match', '50%'])).code).toBe(0);
    expect(() => new ReportBuilder({ failUnderMatch: 0.5, criteria: { minMatch: 0.95 } })).toThrow(/`failUnderMatch` \(0\.5\) and `criteria\.minMatch` \(0\.95\) are both agreement thresholds/);
  });

  it('says plainly when the match gate passes but another criterion fails the verdict', async () => {
    // 60% of negatives flipped: label "negative" agrees about 40%, under the 90% per-label minimum.
    const built = await buildReport(eighty, { failUnderMatch: 0.5, labelPath: '$.label' });
    expect(built.verdict.status).toBe('fail');
    expect(built.verdict.gate?.status).toBe('pass');
    expect(built.verdict.headline).toMatch(/ is at or above the 50% gate\. The verdict fails on the criteria below\.$/);
    expect(built.verdict.criteria.find((c) => c.status === 'fail')).toMatchObject({ criterion: 'label_agreement', label: 'negative' });
  });
});

/** The fenced blocks of one language in a markdown file. */
function fencedBlocks(file: string, language: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1] as string);
}

describe('docs/recipes/ci-gate.md: the pipeline step, run as written', () => {
  const step = fencedBlocks('docs/recipes/ci-gate.md', 'sh')[0]!;
  const criteria = fencedBlocks('docs/recipes/ci-gate.md', 'json')[0]!;
  const hourAgo = Date.now() - 3_600_000;

  /** A project with express-shadow installed (its bin linked, as npm does) and the recipe's criteria file; runs the step. */
  async function pipeline(log: string): Promise<Run> {
    const project = await mkdtemp(join(dir, 'pipeline-'));
    await mkdir(join(project, 'logs'));
    await mkdir(join(project, 'node_modules', '.bin'), { recursive: true });
    await symlink(ROOT, join(project, 'node_modules', 'express-shadow'));
    await symlink(BIN, join(project, 'node_modules', '.bin', 'express-shadow'));
    await writeFile(join(project, 'package.json'), '{ "private": true }');
    await writeFile(join(project, 'shadow-criteria.json'), criteria);
    await writeFile(join(project, 'logs', 'shadow-1.log'), log);
    return new Promise((done) => {
      execFile('sh', ['-c', step], { cwd: project, env: { ...process.env, TZ: 'UTC', FORCE_COLOR: '0', npm_config_offline: 'true' } }, (error, stdout, stderr) => {
        done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      });
    });
  }

  it('is the step of the GitHub Actions job too', () => {
    const yaml = fencedBlocks('docs/recipes/ci-gate.md', 'yaml')[0]!;
    expect(yaml).toContain(`run: ${step.replace(/ \\\n\s*/g, ' ').trim()}`);
  });

  it('passes a candidate as good as production', async () => {
    const result = await pipeline(plantedLog({ seed: 11, requests: 600, start: hourAgo }));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^PASS: /);
  });

  it('stops a candidate 1 point under the 97% floor, which the criterion alone calls marginal (exit 0)', async () => {
    const log = plantedLog({ seed: 7, flip: 0.12, requests: 600, start: hourAgo });
    const result = await pipeline(log);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^FAIL: noise-free match rate 96\.2% .* is below the 97% gate\.$/m);
    // Without the floor, the same log passes the pipeline: why the recipe has it.
    await writeFile(join(dir, 'marginal.log'), log);
    const criteriaOnly = await report([join(dir, 'marginal.log'), '--label-path', '$.label', '--min-match', '0.97', '--min-samples', '100']);
    expect(criteriaOnly.stdout).toMatch(/^Verdict: MARGINAL/m);
    expect(criteriaOnly.code).toBe(0);
  });

  it('stops a candidate 15 ms slower on one route', async () => {
    const result = await pipeline(plantedLog({ seed: 11, requests: 600, embedShiftMs: 15, start: hourAgo }));
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^FAIL \(score [\d.]+\/100\): .* \d+ failed/m);
  });

  it('fails closed on a day without logs, and on fewer than 100 comparisons', async () => {
    const stale = await pipeline(plantedLog({ seed: 11, requests: 600, start: Date.now() - 3 * 86_400_000 }));
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/^Too little evidence to judge, and a gate fails closed: no request in the logs matched the filters \(since /m);
    const few = await pipeline(plantedLog({ seed: 11, requests: 60, start: hourAgo }));
    expect(few.code).toBe(1);
    expect(few.stdout).toContain('Too little evidence to judge, and a gate fails closed: candidate has 60 label pairs to judge agreement on, fewer than minSamples (100).');
  });
});
