/**
 * The reader against hostile and unlucky logs: the same records read twice, keys that are Object.prototype names, a
 * clock that jumps, logs without comparisons, and logs that come through standard input or a pipe.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTimestamp } from '../lib/read/parse-record.js';
import { readShadowLog, type ReadShadowLogOptions, type ShadowLogEntry } from '../lib/report/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-hostile-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2024-05-01T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
type Line = Record<string, unknown>;

function request(id: string, ms: number, target = 'v2', comparisonToo = true): Line[] {
  const lines: Line[] = [
    { type: 'production', requestId: id, timestamp: at(ms), method: 'POST', path: '/p', route: '/p', status: 200, durationMs: 10, targets: [target], request: { headers: {}, bodySource: 'none' }, response: { headers: {}, body: { label: 'cat' } } },
    { type: 'shadow', requestId: id, timestamp: at(ms + 5), target, status: 200, durationMs: 12, response: { headers: {}, body: { label: 'cat' } } },
  ];
  if (comparisonToo) {
    lines.push({ type: 'comparison', requestId: id, timestamp: at(ms + 5), target, statusMatch: true, match: true, differences: [], latencyDeltaMs: 2 });
  }
  return lines;
}

/** `count` requests, one every `everyMs`, from `fromMs`. */
function requests(prefix: string, count: number, everyMs: number, fromMs = 0, comparisons = true): Line[] {
  return Array.from({ length: count }, (_, i) => request(`${prefix}${i}`, fromMs + i * everyMs, 'v2', comparisons)).flat();
}

function text(lines: Line[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

async function writeLog(name: string, lines: Line[], gzip = false): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, gzip ? gzipSync(text(lines)) : text(lines));
  return path;
}

async function readAll(paths: string | string[], options: ReadShadowLogOptions = {}) {
  const reader = readShadowLog(paths, options);
  const entries: ShadowLogEntry[] = [];
  for await (const entry of reader) entries.push(entry);
  return { entries, stats: reader.stats };
}

describe('readShadowLog against repeated records', () => {
  it('counts a log given both plain and gzipped once, with every repeat counted as a duplicate', async () => {
    const lines = requests('r', 200, 1000);
    const plain = await writeLog('shadow.log', lines);
    const gzipped = await writeLog('shadow.log.gz', lines, true);
    const { entries, stats } = await readAll([plain, gzipped]);
    expect(entries).toHaveLength(200);
    expect(stats.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
    expect(stats.duplicates).toBe(lines.length);
    expect(stats.closedBy.complete).toBe(200);
  });

  it('still tells a straggler from a repeat: a record new to a yielded request is late, a repeated one is a duplicate', async () => {
    const r1 = request('r1', 0);
    // r1's comparison again (a repeat) after r1 was yielded, then a second target's shadow for r1 (a straggler) past the window.
    const lines = [
      ...r1,
      ...requests('x', 5, 1000, 1000),
      { ...(r1[2] as Line) },
      ...requests('y', 10, 1000, 6000),
      { type: 'shadow', requestId: 'r1', timestamp: at(15_500), target: 'v3', status: 200, durationMs: 9 },
      ...requests('z', 5, 1000, 16_000),
    ];
    const { entries, stats } = await readAll(await writeLog('a.log', lines), { windowMs: 10_000 });
    expect(stats.duplicates).toBe(1);
    expect(entries.filter((e) => e.requestId === 'r1').map((e) => e.orphan)).toEqual([null, 'late']);
  });
});

describe('readShadowLog splitting lines on bytes', () => {
  it('keeps multi-byte characters whole where a line crosses a read chunk, plain and gzipped', async () => {
    // Lines of about 100 KB of 3- and 4-byte characters: chunk boundaries (every 256 KiB) fall inside characters.
    const text = (i: number): string => `${'€'.repeat(11_000 + i)}🙂${'é'.repeat(30_000 + i)}`;
    const lines = Array.from({ length: 12 }, (_, i) =>
      request(`r${i}`, i * 10).map((l) => (l.type === 'production' ? { ...l, response: { headers: {}, body: { text: text(i) } } } : l)),
    ).flat();
    for (const gzip of [false, true]) {
      const { entries, stats } = await readAll(await writeLog(gzip ? 'utf8.log.gz' : 'utf8.log', lines, gzip));
      expect(stats.unparseable + stats.unrecognised).toBe(0);
      expect(entries.map((e) => (e.production?.response.body as { text: string }).text)).toEqual(Array.from({ length: 12 }, (_, i) => text(i)));
    }
  });
});

describe('readShadowLog with keys named like Object.prototype members', () => {
  it('joins and counts requestIds and targets named __proto__, constructor and toString like any other', async () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    const lines = names.flatMap((name, i) => request(name, i * 100, name));
    const { entries, stats } = await readAll(await writeLog('a.log', lines));
    expect(entries.map((e) => e.requestId).sort()).toEqual([...names].sort());
    expect(entries.every((e) => e.closedBy === 'complete' && e.shadows[0]?.target === e.requestId)).toBe(true);
    expect(stats.records).toBe(lines.length);
    expect(stats.duplicates).toBe(0);
    expect(Object.getPrototypeOf(stats.closedBy)).toBe(Object.prototype);
  });
});

describe('readShadowLog with a clock that jumps', () => {
  it('keeps joining after one record stamped decades in the future', async () => {
    const a = requests('a', 300, 1000);
    // One production record of the middle request written by a broken clock.
    const broken = a.findIndex((l) => l.requestId === 'a150' && l.type === 'production');
    a[broken] = { ...(a[broken] as Line), timestamp: '2099-01-01T00:00:00.000Z' };
    const b = requests('b', 300, 1000, 500);
    const { entries, stats } = await readAll([await writeLog('a.log', a), await writeLog('b.log', b)]);
    expect(stats.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
    expect(entries).toHaveLength(600);
    expect(stats.closedBy.complete).toBe(600);
  });

  it('keeps joining after a file whose clock was stepped back an hour', async () => {
    const a = [...requests('early', 200, 1000), ...requests('late', 200, 1000, 200_000 - 3_600_000)];
    const b = requests('b', 400, 1000, 500);
    const { entries, stats } = await readAll([await writeLog('a.log', a), await writeLog('b.log', b)]);
    expect(stats.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
    expect(entries.filter((e) => e.closedBy === 'complete')).toHaveLength(800);
  });

  it('follows a real gap in traffic longer than the window', async () => {
    const lines = [...requests('before', 50, 1000), ...requests('after', 50, 1000, 3_600_000)];
    const { stats } = await readAll(await writeLog('a.log', lines));
    expect(stats.closedBy.complete).toBe(100);
  });
});

describe('readShadowLog on logs written with compare: false', () => {
  it('stops waiting for comparisons that never come, so open entries do not pile up for a whole window', async () => {
    // 5000 requests in 25 s: all inside one 60 s window.
    const lines = requests('r', 5000, 5, 0, false);
    const { stats } = await readAll(await writeLog('a.log', lines));
    expect(stats.entries).toBe(5000);
    expect(stats.closedBy.complete).toBeGreaterThanOrEqual(4000);
    expect(stats.peakOpenEntries).toBeLessThanOrEqual(1001);
  });

  it('still waits for the comparison of a target that has them', async () => {
    const lines = [...requests('r', 1500, 5), ...request('last', 9000, 'v2', false), ...requests('s', 10, 1000, 70_000)];
    const { entries, stats } = await readAll(await writeLog('a.log', lines));
    expect(entries.find((e) => e.requestId === 'last')?.closedBy).toBe('time_window');
    expect(stats.missingComparisons).toBe(1);
  });
});

describe('readShadowLog from standard input and pipes', () => {
  it('reads "-" from the stdin stream, gzip detected from its bytes even when they come one at a time', async () => {
    const gz = gzipSync(text(requests('r', 20, 1000)));
    const oneByteChunks = Readable.from((function* () {
      for (const byte of gz) yield Buffer.from([byte]);
    })());
    const { entries, stats } = await readAll('-', { stdin: oneByteChunks });
    expect(entries).toHaveLength(20);
    expect(stats.closedBy.complete).toBe(20);
    expect(stats.files).toEqual([expect.objectContaining({ path: '-', gzip: true, records: 60 })]);
  });

  it('reads a plain log from stdin', async () => {
    const { entries } = await readAll(['-', '-'], { stdin: Readable.from([Buffer.from(text(requests('r', 5, 1000)))]) });
    expect(entries.map((e) => e.closedBy)).toEqual(Array(5).fill('complete'));
  });

  const bin = fileURLToPath(new URL('../dist/cli/express-shadow.js', import.meta.url));
  const shell = (script: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('bash', ['-c', script], { env: { ...process.env, BIN: bin, DIR: dir, NODE: process.execPath, TZ: 'UTC' } }, (error, stdout, stderr) => {
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      });
    });

  it('reports a gzipped log piped into "report -", and one given as /dev/stdin or by process substitution', async () => {
    await writeLog('shadow.log.gz', requests('r', 30, 1000), true);
    for (const script of [
      'gzip -dc "$DIR/shadow.log.gz" | gzip -c | "$NODE" "$BIN" report --format json -',
      '"$NODE" "$BIN" report --format json /dev/stdin < "$DIR/shadow.log.gz"',
      '"$NODE" "$BIN" report --format json <(gzip -dc "$DIR/shadow.log.gz")',
    ]) {
      const { code, stdout, stderr } = await shell(script);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const report = JSON.parse(stdout) as { totals: { production: number; comparisons: number } };
      expect(report.totals).toMatchObject({ production: 30, comparisons: 30 });
    }
  });

  it('reports a compare: false log with --no-comparisons without waiting for comparisons', async () => {
    await writeLog('nocompare.log', [...requests('r', 30, 100, 0, false), ...requests('later', 1, 0, 120_000, false)]);
    type Reading = { reading: { closedBy: Record<string, number>; missingComparisons: number } };
    const waited = JSON.parse((await shell('"$NODE" "$BIN" report --format json "$DIR/nocompare.log"')).stdout) as Reading;
    expect(waited.reading.missingComparisons).toBe(31);
    const { code, stdout } = await shell('"$NODE" "$BIN" report --format json --no-comparisons "$DIR/nocompare.log"');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Reading;
    expect(report.reading.closedBy.complete).toBe(31);
    expect(report.reading.missingComparisons).toBe(0);
  });
});

describe('parseTimestamp', () => {
  it('agrees with Date.parse on the logger’s shape, the ends of the Date range, and malformed times', () => {
    const cases = [
      '2024-05-01T10:00:00.000Z', '0001-01-01T00:00:00.000Z', '0099-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z',
      '2024-02-29T00:00:00.000Z', '2023-02-29T00:00:00.000Z', '2024-04-31T00:00:00.000Z', '2024-13-01T00:00:00.000Z',
      '2024-00-10T00:00:00.000Z', '2024-05-01T24:00:00.000Z', '2024-05-01T10:60:00.000Z', '2024-05-01 10:00:00.000Z',
      '2024-05-0xT10:00:00.000Z', '2024-05-01T10:00:00.000+', '2024-05-01T10:00:00Z', '+275760-09-13T00:00:00.000Z',
      // The same minute again (worked out once and reused), then seconds and hours it must not take from it.
      '2024-05-01T10:00:59.999Z', '2024-05-01T10:00:60.000Z', '2024-05-01T10:00:0x.000Z', '2024-05-01T24:00:30.000Z',
      '2024-05-01T24:00:00.000Z', '2024-05-01T10:00:07.5xxZ', '2024-05-01T10:00:07.500Z',
    ];
    expect(cases.map(parseTimestamp)).toEqual(cases.map((c) => Date.parse(c)));
  });
});
