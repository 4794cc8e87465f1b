/**
 * README's commands, run as written on a fresh copy of the repository (the files git would clone, as they are in this
 * working tree; no node_modules, no dist): the first screen's two commands, `npm ci && npm run demo` and `npm test`,
 * then the Replay section's example against the demo's own candidate model and the log that demo run wrote.
 *
 * Slow (an `npm ci`, two builds, a demo run), so .ci/run runs it on one Node version only. `npm test` cannot run the
 * suite that contains this file without recursing: on the copy it runs with test/ holding one smoke test instead.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
/** Hang detectors, not speed limits: `npm ci` and a build on a loaded 2-core machine. */
const SLOW = 600_000;

interface Fence {
  language: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

function fences(markdown: string): Fence[] {
  const found: Fence[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((line, j) => j > i && line === '```');
    found.push({ language: open[1]!, body: lines.slice(i + 1, end).join('\n'), line: i + 1 });
    i = end;
  }
  return found;
}

/** The commands of a shell block, without their comments. */
function commandsOf(block: string): string[] {
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '');
}

/** The `$ ` commands of a console block (continuation lines joined) and the output printed after each. */
function sessionOf(block: string): { command: string; output: string }[] {
  const steps: { command: string; output: string }[] = [];
  const lines = block.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('$ ')) continue;
    let command = lines[i]!.slice(2);
    while (command.endsWith('\\')) command = `${command.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
    const output: string[] = [];
    while (i + 1 < lines.length && !lines[i + 1]!.startsWith('$ ')) output.push(lines[++i]!);
    steps.push({ command, output: output.join('\n') });
  }
  return steps;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(command: string, cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    // npm's cache is used when it has the packages (the command is the same; only where npm looks first changes).
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
    delete env.NODE_OPTIONS;
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const show = (ran: Ran): string => `exit ${ran.code}\n--- stdout\n${ran.stdout.slice(-4000)}\n--- stderr\n${ran.stderr.slice(-4000)}`;

describe('README: the first screen', () => {
  it('gives exactly two commands, before anything else to run: npm ci && npm run demo, and npm test', () => {
    const [first] = fences(README);
    expect(first!.language).toBe('sh');
    expect(first!.line).toBeLessThan(20);
    expect(commandsOf(first!.body)).toEqual(['npm ci && npm run demo', 'npm test']);
  });

  it('is what CI runs: .ci/run runs npm test as written', () => {
    expect(readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test\b/m);
  });
});

describe('README on a fresh copy of the repository', () => {
  let copy: string;
  let demo: Ran;
  beforeAll(async () => {
    copy = mkdtempSync(path.join(tmpdir(), 'express-shadow-readme-'));
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const file of files) {
      try {
        cpSync(path.join(ROOT, file), path.join(copy, file), { recursive: false });
      } catch (error) {
        // A file deleted in the working tree but still in git's index: not part of the copy.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    const [first] = fences(README);
    demo = await sh(commandsOf(first!.body)[0]!, copy);
  }, SLOW);
  afterAll(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('npm ci && npm run demo: installs, builds, runs the demo and prints its verdict', () => {
    expect(demo.code, show(demo)).toBe(0);
    expect(demo.stdout).toMatch(/^Verdict: FAIL \(score /m);
    expect(demo.stdout).toMatch(/label "negative": candidate agrees on/);
    expect(demo.stdout).toMatch(/^Done in /m);
  });

  it("the Replay section's example, run against the demo's candidate model, prints what README shows", async () => {
    expect(demo.code, show(demo)).toBe(0);
    const replaySection = README.slice(README.indexOf('## Replay'));
    const session = sessionOf(fences(replaySection).find((f) => f.language === 'console')!.body);
    const [start, replay, report] = session as [(typeof session)[0], (typeof session)[0], (typeof session)[0]];
    expect(start.command).toMatch(/^npx tsx demo-app\/models\/model-server\.ts --model v2 --port 8093 &$/);
    expect(replay.command).toMatch(/^npx express-shadow replay demo-app\/logs\/shadow\.log --target http:\/\/127\.0\.0\.1:8093 /);

    // The model server as written, on a free port instead of 8093; it prints where it listens.
    const server = spawn('sh', ['-c', start.command.replace('--port 8093', '--port 0').replace(/\s*&$/, '')], { cwd: copy, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          const listening = /"event":"listening".*?"url":"([^"]+)"/.exec(out);
          if (listening) resolve(listening[1]!);
        });
        server.on('exit', (code) => reject(new Error(`the model server exited (${code}) before listening:\n${out}`)));
      });
      const replayed = await sh(replay.command.replace('http://127.0.0.1:8093', url), copy);
      expect(replayed.code, show(replayed)).toBe(0);
      expect(replayed.stderr).toBe('');
      // The demo's traffic is seeded and both models are deterministic: the same line as README's, unless the live
      // run had to shed some requests (a loaded machine), which changes the counts but not the shape.
      const live = readFileSync(path.join(copy, 'demo-app/logs/shadow.log'), 'utf8');
      const predictRecords = live.split('\n').filter((line) => line.includes('"type":"production"') && line.includes('"route":"/predict"')).length;
      if (predictRecords === 320) {
        expect(replayed.stdout.trim()).toBe(replay.output.trim());
      } else {
        console.warn(`readme.test: the live demo logged ${predictRecords} /predict requests, not 320; comparing the shape of the line only.`);
        expect(replayed.stdout.trim()).toMatch(/^replayed (\d+) to v2-replay \(\d+ of \1 compared matched, 0 failed\); not replayable 0; left out: route \d+$/);
      }
      const reported = await sh(report.command, copy);
      // The replayed candidate is the demo's flawed v2: the report fails it, on the label "negative" among others.
      expect(reported.code, show(reported)).toBe(1);
      expect(reported.stdout).toMatch(/^Verdict: FAIL \(score /m);
      expect(reported.stdout).toMatch(/FAIL +label agreement +label "negative"/);
    } finally {
      if (server.pid !== undefined && server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
    }
  }, SLOW);

  it('npm test: builds, then runs the suite (here a smoke test that needs the build in place of the real suite)', async () => {
    rmSync(path.join(copy, 'test'), { recursive: true, force: true });
    mkdirSync(path.join(copy, 'test'));
    writeFileSync(
      path.join(copy, 'test', 'smoke.test.ts'),
      `import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
it('finds the build that npm test made', () => expect(existsSync('dist/cli/express-shadow.js')).toBe(true));
`,
    );
    rmSync(path.join(copy, 'dist'), { recursive: true, force: true });
    const [first] = fences(README);
    const ran = await sh(commandsOf(first!.body)[1]!, copy);
    expect(ran.code, show(ran)).toBe(0);
    expect(ran.stdout).toMatch(/^> express-shadow@\S+ build$/m);
    expect(ran.stdout).toMatch(/Tests +1 passed \(1\)/);
  }, SLOW);
});
