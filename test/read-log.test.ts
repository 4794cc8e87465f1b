import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { resolveFiles } from '../lib/read/resolve-files.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readShadowLog, ShadowLogReadError, type AggregateRecord, type ReadShadowLogOptions, type ShadowLogEntry } from '../lib/report/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-read-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2024-05-01T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function production(id: string, ms: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'production', requestId: id, timestamp: at(ms), method: 'POST', path: '/predict', route: '/predict', status: 200, durationMs: 10,
    request: { headers: {}, bodySource: 'none' }, response: { headers: {}, body: { label: 'cat' } }, ...extra,
  };
}
function shadow(id: string, ms: number, target = 'v2', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'shadow', requestId: id, timestamp: at(ms), target, status: 200, durationMs: 12, response: { headers: {}, body: { label: 'cat' } }, ...extra };
}
function comparison(id: string, ms: number, target = 'v2'): Record<string, unknown> {
  return { type: 'comparison', requestId: id, timestamp: at(ms), target, statusMatch: true, match: true, differences: [], latencyDeltaMs: 2 };
}

async function writeLog(name: string, lines: (Record<string, unknown> | string)[], options: { gzip?: boolean; trailingNewline?: boolean } = {}): Promise<string> {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + (options.trailingNewline === false ? '' : '\n');
  const path = join(dir, name);
  await writeFile(path, options.gzip === true ? gzipSync(text) : text);
  return path;
}

async function readAll(paths: string | string[], options: ReadShadowLogOptions = {}) {
  const reader = readShadowLog(paths, options);
  const entries: ShadowLogEntry[] = [];
  for await (const entry of reader) entries.push(entry);
  return { entries, stats: reader.stats, byId: new Map(entries.map((e) => [e.requestId, e])) };
}

describe('readShadowLog: the join', () => {
  it('completes a request as soon as the targets its production record names have answered', async () => {
    // v3 samples 10%: r2 went to v2 only. Without `targets` in the production record it would wait for v3 until the window.
    const log = await writeLog('a.log', [
      production('r1', 0, { targets: ['v2', 'v3'] }), shadow('r1', 10), comparison('r1', 10), shadow('r1', 11, 'v3'), comparison('r1', 11, 'v3'),
      production('r2', 100, { targets: ['v2'] }), shadow('r2', 110), comparison('r2', 110),
      production('r3', 90_000, { targets: ['v2'] }),
    ]);
    const { byId } = await readAll(log);
    expect(byId.get('r1')?.closedBy).toBe('complete');
    expect(byId.get('r2')?.closedBy).toBe('complete');
  });

  it('joins one request whose production, shadow and comparison records sit in three different files', async () => {
    const a = await writeLog('a.log', [production('r1', 0)]);
    const b = await writeLog('b.log', [shadow('r1', 12)]);
    const c = await writeLog('c.log', [comparison('r1', 13)]);
    const { entries, stats } = await readAll([a, b, c]);
    expect(entries).toHaveLength(1);
    const entry = entries[0] as ShadowLogEntry;
    expect(entry.requestId).toBe('r1');
    expect(entry.production?.type).toBe('production');
    expect(entry.shadows.map((s) => s.target)).toEqual(['v2']);
    expect(entry.comparisons).toHaveLength(1);
    expect(entry.closedBy).toBe('complete');
    expect(entry.orphan).toBeNull();
    expect(stats.files.map((f) => f.records)).toEqual([1, 1, 1]);
  });

  it('joins records that come out of order: comparison before shadow before production', async () => {
    const log = await writeLog('a.log', [comparison('r1', 13), shadow('r1', 12), production('r1', 0)]);
    const { entries } = await readAll(log);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.closedBy).toBe('complete');
    expect(entries[0]?.production).not.toBeNull();
  });

  it('merges files by timestamp, so a file listed first but written later does not push earlier requests out of the window', async () => {
    // Rotation happened between r1's production and its shadow. The newer file is given first: read one after the
    // other, its r2 (an hour later) would move the window past r1 before r1's production was even read.
    const newer = await writeLog('shadow.log', [shadow('r1', 5), comparison('r1', 6), production('r2', 3_600_000), shadow('r2', 3_600_010), comparison('r2', 3_600_011)]);
    const rotated = await writeLog('shadow.log.1', [production('r1', 0)]);
    const { byId, stats } = await readAll([newer, rotated]);
    expect(byId.get('r1')?.closedBy).toBe('complete');
    expect(byId.get('r1')?.orphan).toBeNull();
    expect(stats.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
  });

  it('reads gzip files, detected from their bytes, alongside plain ones', async () => {
    const plain = await writeLog('shadow.log', [production('r1', 0)]);
    const gz = await writeLog('shadow.log.2.gz', [shadow('r1', 12), comparison('r1', 13)], { gzip: true });
    const noSuffix = await writeLog('shadow.log.3', [production('r2', 20), shadow('r2', 30), comparison('r2', 31)], { gzip: true });
    const { entries, stats } = await readAll([plain, gz, noSuffix]);
    expect(entries.map((e) => [e.requestId, e.closedBy])).toEqual([
      ['r1', 'complete'],
      ['r2', 'complete'],
    ]);
    expect(stats.files.find((f) => f.path.endsWith('shadow.log.2.gz'))?.gzip).toBe(true);
    expect(stats.files.find((f) => f.path.endsWith('shadow.log.3'))?.gzip).toBe(true);
    expect(stats.files.find((f) => f.path.endsWith('shadow.log'))?.gzip).toBe(false);
  });

  it('expands globs and reads each matched file once', async () => {
    await writeLog('shadow-a.log', [production('r1', 0), shadow('r1', 12), comparison('r1', 13)]);
    await writeLog('shadow-b.log.gz', [production('r2', 0), shadow('r2', 12), comparison('r2', 13)], { gzip: true });
    const { entries, stats } = await readAll(['shadow-*.log*', 'shadow-a.log'], { cwd: dir });
    expect(entries.map((e) => e.requestId).sort()).toEqual(['r1', 'r2']);
    expect(stats.files.map((f) => f.path)).toEqual(['shadow-a.log', 'shadow-b.log.gz']);
  });

  it('expands an absolute glob from its own directories: the files tinyglobby matches from any working directory', async () => {
    const { glob } = await import('tinyglobby');
    for (const sub of ['logs', 'a(1)', 'b[2]', 'c d', 'linked']) await mkdir(join(dir, sub));
    await rm(join(dir, 'linked'), { recursive: true });
    await symlink(join(dir, 'logs'), join(dir, 'linked'));
    for (const sub of ['logs', 'a(1)', 'b[2]', 'c d']) {
      await writeFile(join(dir, sub, 'x.log'), '');
      await writeFile(join(dir, sub, '.y.log'), '');
    }
    const patterns = ['logs/*.log', 'a(1)/*.log', 'a\\(1\\)/*.log', 'b[2]/*', 'b\\[2\\]/*', 'c d/*', 'linked/*.log', '*/*.log', '**/x.log', '{logs,c d}/*', 'logs/../a(1)/*'];
    for (const pattern of patterns) {
      const absolute = `${dir}/${pattern}`;
      for (const cwd of ['/', process.cwd(), dir]) {
        const found = await resolveFiles([absolute], cwd).catch(() => ({ files: [] }));
        const matched = (await glob(absolute, { cwd, absolute: true, onlyFiles: true, expandDirectories: false, dot: true })).sort();
        expect({ pattern, cwd, files: found.files.map((f) => f.absolutePath).sort() }).toEqual({ pattern, cwd, files: matched });
      }
    }
    expect((await resolveFiles([`${dir}/*/x.log`], '/')).files).toHaveLength(5);
  });

  it('yields orphans with their kind and counts them: production without shadow, shadow without production', async () => {
    const log = await writeLog('a.log', [production('lonely-prod', 0), shadow('lonely-shadow', 5), comparison('lonely-shadow', 6)]);
    const { byId, stats } = await readAll(log);
    expect(byId.get('lonely-prod')?.orphan).toBe('no_shadow');
    expect(byId.get('lonely-shadow')?.orphan).toBe('no_production');
    expect(byId.get('lonely-prod')?.closedBy).toBe('end_of_input');
    expect(stats.orphans).toEqual({ no_shadow: 1, no_production: 1, late: 0 });
    expect(stats.orphanExamples).toEqual([
      { requestId: 'lonely-prod', kind: 'no_shadow' },
      { requestId: 'lonely-shadow', kind: 'no_production' },
    ]);
  });

  it('counts unparseable lines, unrecognised records and a truncated last line without stopping', async () => {
    const log = await writeLog(
      'a.log',
      [
        production('r1', 0),
        'not json {',
        { type: 'heartbeat', timestamp: at(1) },
        { type: 'production', timestamp: at(2) }, // no requestId
        '',
        shadow('r1', 12),
        comparison('r1', 13),
        '{"type":"production","requestId":"r2","timest',
      ],
      { trailingNewline: false },
    );
    const { entries, stats } = await readAll(log);
    expect(entries.map((e) => e.requestId)).toEqual(['r1']);
    expect(stats.unparseable).toBe(1);
    expect(stats.unrecognised).toBe(2);
    expect(stats.truncated).toBe(1);
    expect(stats.files[0]?.truncated).toBe(true);
    expect(stats.lines).toBe(7);
    expect(stats.records).toBe(3);
    expect(stats.badLines.map((b) => [b.line, b.problem])).toEqual([
      [2, 'unparseable'],
      [3, 'unrecognised'],
      [4, 'unrecognised'],
      [8, 'truncated'],
    ]);
  });

  it('treats a complete last line without a newline as a record, not as truncation', async () => {
    const log = await writeLog('a.log', [production('r1', 0), shadow('r1', 12), comparison('r1', 13)], { trailingNewline: false });
    const { entries, stats } = await readAll(log);
    expect(entries[0]?.closedBy).toBe('complete');
    expect(stats.truncated).toBe(0);
  });

  it('keeps the records of a cut gzip file and counts the file as truncated', async () => {
    const lines = [];
    for (let i = 0; i < 2000; i++) lines.push(production(`r${i}`, i), shadow(`r${i}`, i + 1), comparison(`r${i}`, i + 1));
    const whole = gzipSync(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const path = join(dir, 'cut.log.gz');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const { entries, stats } = await readAll(path);
    expect(stats.truncated).toBe(1);
    expect(stats.files[0]?.truncated).toBe(true);
    expect(stats.files[0]?.error).toBeNull();
    expect(entries.filter((e) => e.closedBy === 'complete').length).toBeGreaterThan(500);
  });

  it('reads CRLF line endings and ignores extra fields such as winston level and message', async () => {
    const text = [production('r1', 0, { level: 'info', message: 'shadow' }), shadow('r1', 12, 'v2', { level: 'info' }), comparison('r1', 13)]
      .map((l) => JSON.stringify(l))
      .join('\r\n');
    const path = join(dir, 'crlf.log');
    await writeFile(path, `${text}\r\n`);
    const { entries, stats } = await readAll(path);
    expect(entries[0]?.closedBy).toBe('complete');
    expect(stats.unparseable + stats.unrecognised).toBe(0);
  });

  it('reads a file that starts with a UTF-8 byte-order mark without losing its first record, plain, gzipped, CRLF or piped', async () => {
    const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
    const body = (eol: string): string => [production('r1', 0), shadow('r1', 12), comparison('r1', 13)].map((l) => JSON.stringify(l)).join(eol) + eol;
    const plain = join(dir, 'bom.log');
    await writeFile(plain, Buffer.concat([BOM, Buffer.from(body('\n'))]));
    const gz = join(dir, 'bom-crlf.log.gz');
    await writeFile(gz, gzipSync(Buffer.concat([BOM, Buffer.from(body('\r\n'))])));
    for (const path of [plain, gz]) {
      const { entries, stats } = await readAll(path);
      expect(stats.unparseable + stats.unrecognised).toBe(0);
      expect(stats.records).toBe(3);
      expect(entries.map((e) => [e.requestId, e.closedBy, e.orphan])).toEqual([['r1', 'complete', null]]);
    }
    // The mark's three bytes arriving one at a time on standard input.
    const bytes = Buffer.concat([BOM, Buffer.from(body('\n'))]);
    const { Readable } = await import('node:stream');
    const piped = await readAll('-', { stdin: Readable.from((function* () { for (const b of bytes) yield Buffer.from([b]); })()) });
    expect(piped.entries.map((e) => e.closedBy)).toEqual(['complete']);
    expect(piped.stats.unparseable).toBe(0);
  });

  it('reads files joined with cat, a byte-order mark at the start of each, as records', async () => {
    const BOM = '\ufeff';
    const joined = join(dir, 'joined.log');
    await writeFile(joined, `${BOM}${JSON.stringify(production('r1', 0))}\n${BOM}${JSON.stringify(shadow('r1', 12))}\n${JSON.stringify(comparison('r1', 13))}\n`);
    const { entries, stats } = await readAll(joined);
    expect(stats.unparseable).toBe(0);
    expect(entries.map((e) => e.closedBy)).toEqual(['complete']);
    // Only a leading mark is dropped: one inside a line is still not JSON.
    await writeFile(joined, `${JSON.stringify(production('r2', 0)).replace('{', `{${BOM}`)}\n`);
    expect((await readAll(joined)).stats.unparseable).toBe(1);
  });

  it('yields a skipped record alone as a complete entry', async () => {
    const log = await writeLog('a.log', [
      { type: 'skipped', requestId: 's1', timestamp: at(0), reason: 'body_too_large', method: 'POST', path: '/predict', route: '/predict' },
    ]);
    const { entries } = await readAll(log);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ requestId: 's1', closedBy: 'complete', orphan: null, production: null });
    expect(entries[0]?.skipped?.reason).toBe('body_too_large');
  });

  it('hands summary and breaker records to onRecord in time order', async () => {
    const a = await writeLog('a.log', [{ type: 'summary', timestamp: at(60_000), intervalMs: 60_000, seen: 5, mirrored: 3, notMirrored: { sampled_out: 2 } }]);
    const b = await writeLog('b.log', [{ type: 'breaker', timestamp: at(30_000), target: 'v2', state: 'open', reason: 'failures' }]);
    const seen: AggregateRecord[] = [];
    const { entries } = await readAll([a, b], { onRecord: (r) => seen.push(r) });
    expect(entries).toHaveLength(0);
    expect(seen.map((r) => r.type)).toEqual(['breaker', 'summary']);
  });

  it('waits for a shadow from every target seen before calling an entry complete', async () => {
    const log = await writeLog('a.log', [
      production('r1', 0), shadow('r1', 5, 'v2'), comparison('r1', 6, 'v2'), shadow('r1', 7, 'v3'), comparison('r1', 8, 'v3'),
      production('r2', 10), shadow('r2', 15, 'v2'), comparison('r2', 16, 'v2'), shadow('r2', 17, 'v3'), comparison('r2', 18, 'v3'),
    ]);
    const { byId } = await readAll(log);
    // r1 completed before v3 was known, so its v3 records arrive late; r2 waits for both targets.
    expect(byId.get('r2')?.shadows.map((s) => s.target)).toEqual(['v2', 'v3']);
    expect(byId.get('r2')?.closedBy).toBe('complete');
  });

  it('flags records arriving after their request was yielded as late, not as lost requests', async () => {
    const log = await writeLog('a.log', [production('r1', 0), shadow('r1', 5, 'v2'), comparison('r1', 6, 'v2'), shadow('r1', 7, 'v3')]);
    const { entries, stats } = await readAll(log);
    expect(entries.map((e) => [e.requestId, e.orphan])).toEqual([
      ['r1', null],
      ['r1', 'late'],
    ]);
    expect(stats.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 1 });
  });

  it('completes on production and shadow alone when expectComparisons is false', async () => {
    const log = await writeLog('a.log', [production('r1', 0), shadow('r1', 5), production('r2', 120_000)]);
    const waiting = await readAll(log);
    expect(waiting.byId.get('r1')?.closedBy).toBe('time_window');
    expect(waiting.stats.missingComparisons).toBe(1);
    const { byId } = await readAll(log, { expectComparisons: false });
    expect(byId.get('r1')?.closedBy).toBe('complete');
  });

  it('completes a failed shadow without waiting for a comparison that cannot come', async () => {
    const log = await writeLog('a.log', [production('r1', 0), shadow('r1', 5000, 'v2', { status: undefined, error: { code: 'timeout', message: 't' } })]);
    const { entries } = await readAll(log);
    expect(entries[0]?.closedBy).toBe('complete');
  });
});

describe('readShadowLog: bounded memory', () => {
  it('evicts an entry once the time window has moved past it, and yields it then', async () => {
    const log = await writeLog('a.log', [production('old', 0), production('r2', 30_000), production('r3', 61_000), shadow('old', 62_000)]);
    const order: string[] = [];
    const reader = readShadowLog(log, { windowMs: 60_000 });
    for await (const entry of reader) order.push(`${entry.requestId}:${entry.closedBy}`);
    // "old" left when r3 (61 s later) was read; its shadow at 62 s then opens a new, orphan entry.
    expect(order[0]).toBe('old:time_window');
    expect(reader.stats.closedBy.time_window).toBe(1);
    expect(reader.stats.orphans.no_shadow).toBeGreaterThanOrEqual(1);
    expect(order).toContain('old:end_of_input');
  });

  it('never holds more entries than maxOpenEntries, yielding the oldest when one more opens', async () => {
    // Each request's shadow comes 5 requests after its production: 6 entries are open at a time.
    const lines = [];
    for (let i = 0; i < 55; i++) {
      if (i < 50) lines.push(production(`r${i}`, i * 10));
      if (i >= 5) lines.push(shadow(`r${i - 5}`, i * 10 + 1), comparison(`r${i - 5}`, i * 10 + 2));
    }
    const log = await writeLog('a.log', lines);
    const roomy = await readAll(log, { maxOpenEntries: 10 });
    expect(roomy.stats.closedBy.complete).toBe(50);
    expect(roomy.stats.peakOpenEntries).toBe(6);

    const tight = await readAll(log, { maxOpenEntries: 3 });
    expect(tight.stats.peakOpenEntries).toBe(4); // one over for a moment, then the oldest leaves
    expect(tight.stats.closedBy.count_window).toBeGreaterThan(0);
    expect(tight.stats.orphans.no_shadow).toBeGreaterThan(0);
    expect(tight.stats.closedBy.complete).toBeLessThan(50);
  });

  it('yields the oldest open entry first even when a late entry of a request opens at the same log time as its first', async () => {
    // Every record at one instant. "a" completes while "z" is open; its v3 shadow comes after it was yielded and opens a
    // late entry, after "b" opened. When "c" opens one too many, "z" and then "b" are the oldest, not the late "a".
    const log = await writeLog('a.log', [
      production('z', 0), production('a', 0), shadow('a', 0), comparison('a', 0), production('b', 0), shadow('a', 0, 'v3'), production('c', 0),
    ]);
    const { entries } = await readAll(log, { maxOpenEntries: 2 });
    expect(entries.map((e) => `${e.requestId}:${e.closedBy}:${String(e.orphan)}`)).toEqual([
      'a:complete:null',
      'z:count_window:no_shadow',
      'b:count_window:no_shadow',
      'a:end_of_input:late',
      'c:end_of_input:no_shadow',
    ]);
  });

  it('skips a runaway line longer than maxLineLength and keeps reading', async () => {
    const log = await writeLog('a.log', [production('r1', 0), `{"x":"${'y'.repeat(600_000)}"}`, shadow('r1', 5), comparison('r1', 6)]);
    const { entries, stats } = await readAll(log, { maxLineLength: 100_000 });
    expect(entries[0]?.closedBy).toBe('complete');
    expect(stats.unparseable).toBe(1);
    expect(stats.badLines[0]?.problem).toBe('too_long');
  });
});

describe('readShadowLog: progress', () => {
  it('reports progress every progressEvery lines and once at the end, with bytes read of the total', async () => {
    const lines = [];
    for (let i = 0; i < 10; i++) lines.push(production(`r${i}`, i), shadow(`r${i}`, i + 1), comparison(`r${i}`, i + 1));
    const log = await writeLog('a.log', lines, { gzip: true });
    const calls: { lines: number; records: number; bytesRead: number; bytesTotal: number }[] = [];
    await readAll(log, { progressEvery: 10, onProgress: (p) => calls.push({ ...p }) });
    expect(calls.map((c) => c.lines)).toEqual([10, 20, 30, 30]);
    expect(calls.map((c) => c.records)).toEqual([10, 20, 30, 30]);
    const last = calls.at(-1);
    expect(last?.bytesRead).toBe(last?.bytesTotal);
    expect(last?.bytesTotal).toBeGreaterThan(0);
  });
});

describe('readShadowLog: errors', () => {
  it('rejects with ERR_SHADOW_LOG_NO_FILES when no file matches', async () => {
    const reader = readShadowLog(join(dir, '*.nothing'));
    await expect(reader[Symbol.asyncIterator]().next()).rejects.toMatchObject({ name: 'ShadowLogReadError', code: 'ERR_SHADOW_LOG_NO_FILES' });
  });

  it('rejects with ERR_SHADOW_LOG_UNREADABLE naming a missing file', async () => {
    const ok = await writeLog('a.log', [production('r1', 0)]);
    const reader = readShadowLog([ok, join(dir, 'missing.log')]);
    const error = await reader[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShadowLogReadError);
    expect((error as ShadowLogReadError).code).toBe('ERR_SHADOW_LOG_UNREADABLE');
    expect((error as ShadowLogReadError).message).toContain('missing.log');
  });

  it('refuses to be iterated twice', async () => {
    const reader = readShadowLog(await writeLog('a.log', [production('r1', 0)]));
    for await (const _ of reader) void _;
    expect(() => reader[Symbol.asyncIterator]()).toThrow(/iterated once/);
  });
});
