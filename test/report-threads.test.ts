/**
 * The report read by several threads: each reads every log and joins the requests whose id hashes to it, and the
 * shares merge into the report one thread builds. Every case here is read both ways and must give the same report
 * (all but `reading.peakOpenEntries`, which for shares is the sum of each share's peak: never below one reader's).
 * Most cases run the shares one after the other in this thread (the same code a report thread runs), so the merge is
 * checked on every share count; a few run real threads through `buildReport`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, ReportBuilder, type BuildReportOptions, type Report } from '../lib/report/index.js';
import { mergeShares, reportInSplit, splitFiles } from '../lib/report/parallel-report.js';
import { reportOfSplit } from '../lib/report/split-merge.js';
import type { SplitReadResult } from '../lib/read/split-read.js';
import type { ShareResult } from '../lib/report/share-types.js';
import { readShare } from '../lib/report/read-share.js';
import { KeptEntries, packPending, unpackPending } from '../lib/report/pending-wire.js';
import { addExact, exactValue } from '../lib/report/stats/exact-sum.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-threads-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2024-05-01T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
type Line = Record<string, unknown>;

function production(id: string, ms: number, extra: Line = {}): Line {
  return {
    type: 'production', requestId: id, timestamp: at(ms), method: 'POST', path: `/p/${id}?x=1`, route: '/p', status: 200, durationMs: 10 + (ms % 7),
    request: { headers: { 'x-request-id': id }, bodySource: 'raw', body: { requestId: 'not this one' } }, response: { headers: {}, body: { label: ms % 3 === 0 ? 'cat' : 'dog' } }, ...extra,
  };
}
function shadow(id: string, ms: number, target = 'v2', extra: Line = {}): Line {
  return { type: 'shadow', requestId: id, timestamp: at(ms + 5), target, status: 200, durationMs: 12 + (ms % 11), response: { headers: {}, body: { label: ms % 5 === 0 ? 'dog' : 'cat' } }, ...extra };
}
function comparison(id: string, ms: number, target = 'v2', extra: Line = {}): Line {
  const match = ms % 4 !== 0;
  return { type: 'comparison', requestId: id, timestamp: at(ms + 6), target, statusMatch: true, match, differences: match ? [] : [{ path: '$.label', production: 'cat', shadow: 'dog' }], latencyDeltaMs: 2, ...extra };
}
function request(id: string, ms: number, target = 'v2'): Line[] {
  return [production(id, ms, { targets: [target] }), shadow(id, ms, target), comparison(id, ms, target)];
}
const requests = (prefix: string, count: number, everyMs: number, fromMs = 0): Line[] =>
  Array.from({ length: count }, (_, i) => request(`${prefix}${i}`, fromMs + i * everyMs)).flat();

async function writeLog(name: string, lines: (Line | string)[], gzip = false): Promise<string> {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const path = join(dir, name);
  await writeFile(path, gzip ? gzipSync(text) : text);
  return path;
}

/** The report read in `count` shares, one after the other in this thread, merged as the main thread merges threads'. */
async function inShares(files: string[], options: BuildReportOptions, count: number): Promise<Report | 'diverged'> {
  const { windowMs, maxOpenEntries, expectComparisons, ...summary } = options;
  const readOptions = Object.fromEntries(Object.entries({ windowMs, maxOpenEntries, expectComparisons }).filter(([, v]) => v !== undefined));
  const results: ShareResult[] = [];
  for (let index = 0; index < count; index++) results.push(await readShare({ inputs: files, options: summary, readOptions, index, count }));
  if (results.some((r) => r.kind === 'diverged')) return 'diverged';
  return mergeShares(summary, results as Extract<ShareResult, { kind: 'done' }>[]);
}

/**
 * The report read in a split read (shares of whole files, `parts` of the files each), one share after the other in
 * this thread, merged as the main thread merges threads'; or why the shares could not give one reader's.
 */
async function inSplit(files: string[], options: BuildReportOptions, parts: number[][]): Promise<Report | string> {
  const { windowMs, maxOpenEntries, expectComparisons, ...summary } = options;
  const readOptions = Object.fromEntries(Object.entries({ windowMs, maxOpenEntries, expectComparisons }).filter(([, v]) => v !== undefined));
  const shares: SplitReadResult[] = [];
  const builder = new ReportBuilder(summary);
  for (const [index, part] of parts.entries()) {
    // Kept entries through the wire, batch by batch, as a report thread sends them and the main thread gathers them.
    const kept = new KeptEntries();
    const result = await readShare({ inputs: files, options: summary, readOptions, index, count: parts.length, files: part }, undefined, (entries, repeats) => kept.add(packPending(entries, repeats)));
    if (result.kind !== 'split') throw new Error(`a split share gave ${result.kind}`);
    kept.into(result.result);
    // Through structured clone, as from a report thread.
    const cloned = structuredClone(result);
    builder.merge(cloned.state);
    shares.push(cloned.result);
  }
  const join = { windowMs: windowMs ?? 60_000, maxOpenEntries: maxOpenEntries ?? 100_000, expectComparisons: expectComparisons ?? true, targets: undefined };
  return reportOfSplit(builder, join, shares);
}

/** Every way of reading `files` in split shares this file tries: each file alone, and as `buildReport` shares them. */
function partitions(files: string[]): number[][][] {
  const alone = files.map((_, i) => [i]);
  return [alone, ...[2, 3].map((count) => splitFiles(files.map((path) => ({ path, bytes: 1 })), count))].filter((p) => p.length > 1);
}

/** The report as JSON, without the one reading figure shares give as a bound. */
function comparable(report: Report): unknown {
  const json = JSON.parse(JSON.stringify(report)) as Report;
  if (json.reading !== null) json.reading.peakOpenEntries = 0;
  return json;
}

/** Split reads of `files` give one thread's report, or say why they cannot (returned, one per partition tried). */
async function expectSameInSplit(files: string[], options: BuildReportOptions, one: Report): Promise<string[]> {
  const reasons: string[] = [];
  for (const parts of partitions(files)) {
    const split = await inSplit(files, options, parts);
    if (typeof split === 'string') reasons.push(split);
    else expect(comparable(split)).toEqual(comparable(one));
  }
  return reasons;
}

async function expectSameInShares(files: string[], options: BuildReportOptions = {}, split: 'exact' | 'may fall back' = 'exact'): Promise<Report> {
  const one = await buildReport(files, { ...options, threads: 1 });
  const reasons = await expectSameInSplit(files, options, one);
  if (split === 'exact') expect(reasons).toEqual([]);
  for (const count of [2, 3, 5]) {
    const shared = await inShares(files, options, count);
    expect(shared).not.toBe('diverged');
    expect(comparable(shared as Report)).toEqual(comparable(one));
    expect((shared as Report).reading?.peakOpenEntries).toBeGreaterThanOrEqual(one.reading?.peakOpenEntries ?? 0);
  }
  return one;
}

describe('a report read in shares equals the report read by one thread', () => {
  it('on the hand-computed fixture: bad lines, a cut last line, a gzip file, labels', async () => {
    const one = await expectSameInShares(['test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/shadow-b.log.gz'], { labelPath: '$.label' });
    expect(one.reading?.badLines.length).toBeGreaterThan(0);
  });

  it('on the streaming fixture, with two candidates and a replica', async () => {
    await expectSameInShares(['test/fixtures/streaming/shadow.log'], { failUnderMatch: 0.77 });
  });

  it('with a request whose records sit in three files, and one cut by a rotation', async () => {
    const a = await writeLog('split-a.log', [...requests('a', 40, 300), production('x', 50), production('r', 11_990)]);
    const b = await writeLog('split-b.log', [...requests('b', 40, 300, 100), shadow('x', 50)]);
    const c = await writeLog('split-c.log', [...requests('c', 40, 300, 200), comparison('x', 50)]);
    const rotated = await writeLog('shadow.log.1.gz', [...requests('d', 20, 300, 6000), production('r2', 11_995)], true);
    const current = await writeLog('shadow.log', [shadow('r', 11_990), comparison('r', 11_990), shadow('r2', 11_995), comparison('r2', 11_995), ...requests('e', 20, 300, 12_000)]);
    const one = await expectSameInShares([a, b, c, rotated, current], { labelPath: '$.label' });
    expect(one.reading?.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
    expect(one.reading?.closedBy.complete).toBe(163);
  });

  it('with every record given twice (plain and gzipped), the repeats counted once as duplicates', async () => {
    const lines = requests('r', 120, 500);
    const files = [await writeLog('dup.log', lines), await writeLog('dup.log.gz', lines, true)];
    const one = await expectSameInShares(files, {}, 'may fall back');
    expect(one.reading?.duplicates).toBe(lines.length);
    // Each copy read by a share of its own: every request each share joined alone is in the other share too, so the
    // split read cannot stand and the logs are read again in hash shares, with the same report.
    expect(await inSplit(files, {}, [[0], [1]])).toBe('a request joined by one share has records in another, or later in its own');
    expect(comparable(await buildReport(files, { threads: 2 }))).toEqual(comparable(one));
    expect(one.totals.production).toBe(120);
  });

  it('with stragglers and repeats after a request was yielded, and orphans of every kind', async () => {
    const lines = [
      ...request('r1', 0), ...requests('x', 5, 1000, 1000), comparison('r1', 0),
      ...requests('y', 10, 1000, 6000), shadow('r1', 10_500, 'v3'), production('lonely', 12_000), shadow('ghost', 12_100), ...requests('z', 5, 1000, 16_000),
    ];
    const one = await expectSameInShares([await writeLog('late.log', lines)], { windowMs: 10_000 });
    expect(one.reading?.duplicates).toBe(1);
    expect(one.totals.orphans).toEqual({ noShadow: 1, noProduction: 1, late: 1 });
    expect(one.reading?.orphanExamples.length).toBe(3);
  });

  it('with a record stamped decades ahead and a file whose clock stepped back an hour', async () => {
    const a = requests('a', 150, 1000);
    a[3 * 75] = { ...(a[3 * 75] as Line), timestamp: '2099-01-01T00:00:00.000Z' };
    const b = [...requests('b', 60, 1000, 500), ...requests('c', 60, 1000, 60_500 - 3_600_000)];
    await expectSameInShares([await writeLog('clock-a.log', a), await writeLog('clock-b.log', b)]);
  });

  it('on logs written with compare: false, waiting for comparisons or not', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) => [production(`n${i}`, i * 5), shadow(`n${i}`, i * 5)]).flat();
    const file = await writeLog('nocompare.log', lines);
    const waited = await expectSameInShares([file]);
    expect(waited.reading?.closedBy.complete).toBeGreaterThan(1000);
    await expectSameInShares([file], { expectComparisons: false });
  });

  it('with requestIds, targets, routes and labels named like Object.prototype members', async () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const lines = names.flatMap((name, i) => [production(name, i * 100, { route: name, response: { headers: {}, body: { label: name } } }), shadow(name, i * 100, name), comparison(name, i * 100, name)]);
    await expectSameInShares([await writeLog('proto.log', lines)], { labelPath: '$.label' });
  });

  it('with more routes, labels and differing paths than the caps keep: the same ones kept, the rest as other', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => {
      const id = `m${i}`;
      const ms = i * 20;
      return [
        production(id, ms, { route: null, path: `/item/${(i * 7919) % 300}`, response: { headers: {}, body: { label: `L${(i * 31) % 90}` } } }),
        shadow(id, ms, 'v2', { response: { headers: {}, body: { label: `L${(i * 37) % 90}` } } }),
        comparison(id, ms, 'v2', { match: false, differences: [{ path: `$.items[${i % 60}]`, production: i, shadow: i + 1 }] }),
      ];
    }).flat();
    const one = await expectSameInShares([await writeLog('caps.log', lines)], { labelPath: '$.label', maxRoutes: 50, maxLabels: 20, maxDistinctPaths: 25 });
    expect(one.match.byRoute.map((r) => r.route)).toContain('(other routes)');
    expect(one.labels?.labels).toContain('(other)');
    expect(one.differences.otherPaths).toBeGreaterThan(0);
  });

  it('with similarity scores, hook judgements and request faults, over more routes than the cap keeps', async () => {
    const scored = (score: number) => ({ similarity: [{ path: '$.text', measure: 'levenshtein', score, threshold: 0.8 }] });
    const lines = Array.from({ length: 120 }, (_, i) => {
      const id = `s${i}`;
      const ms = i * 25;
      const route = `/r${i % 6}`;
      const faulted = i % 7 === 0;
      return [
        production(id, ms, { route, targets: ['v2', 'v3', 'replica'] }),
        shadow(id, ms, 'v2', faulted ? { requestFault: true, status: undefined, response: undefined, error: { code: 'ERR_INVALID_CHAR', message: 'bad header' } } : {}),
        shadow(id, ms, 'v3', { engineDelayMs: i % 4 === 0 ? 40 : 1 }),
        shadow(id, ms, 'replica', { role: 'secondary', engineDelayMs: i % 6 === 0 ? 40 : 0.5 }),
        comparison(id, ms, 'v2', faulted ? { error: 'no answer' } : scored(((i * 37) % 100) / 100)),
        comparison(id, ms, 'v3', scored(((i * 53) % 100) / 100)),
        comparison(id, ms, 'replica', { role: 'secondary', ...scored(0.9 + (i % 10) / 100) }),
        ...(i % 5 === 0
          ? [{ type: 'judgement', requestId: id, timestamp: at(ms + 9), target: 'v3', route, path: '$.text', hook: 'judge', score: (i % 9) / 10, reason: `reason ${i}`, durationMs: 4 }]
          : []),
      ];
    }).flat();
    lines.push({ type: 'judgement_summary', timestamp: at(3000), intervalMs: 60_000, sampled: 24, calls: { embed: 0, judge: 24 }, succeeded: 24, failed: {}, skipped: {} });
    const file = await writeLog('similarity.log', lines);
    const one = await expectSameInShares([file], { maxRoutes: 4 });
    // Through real report threads too: the similarity state crosses as plain data.
    expect(comparable(await buildReport([file], { maxRoutes: 4, threads: 2 }))).toEqual(comparable(one));
    expect(one.totals.requestFaults).toBe(18);
    expect(one.totals.requestFaultsByReason).toEqual({ ERR_INVALID_CHAR: 18 });
    expect(one.match.byTarget.find((t) => t.target === 'v2')?.shadowCalls).toBe(120 - 18);
    expect(one.similarity?.cells.map((c) => c.route)).toContain('(other routes)');
    expect(one.similarity?.cells.find((c) => c.target === 'replica' && c.route === null)?.count).toBe(120);
    expect(one.similarity?.cells.find((c) => c.target === 'v2' && c.route === null)?.count).toBe(120 - 18);
    expect(one.similarity?.judgements.map((j) => j.count)).toEqual([24]);
    expect(one.similarity?.judging?.sampled).toBe(24);
    expect(one.match.byTarget.find((t) => t.target === 'v3')?.latency.count).toBe(90);
    expect(one.verdict.criteria.find((c) => c.criterion === 'latency' && c.target === 'v3' && c.route === null)?.reason).toMatch(/vs production's replica.*; 30 answers left out/);
  });

  it('falls back to one reader, with the same report, when a line nests a requestId before its own', async () => {
    const lines = requests('r', 60, 200);
    // A writer that puts the request (whose body has a requestId key) between the type and the requestId.
    const { type, ...rest } = production('odd', 5_000);
    const odd = { type, request: { body: { requestId: 'someone-else' } }, ...rest };
    const file = await writeLog('nested.log', [...lines, JSON.stringify(odd), JSON.stringify(shadow('odd', 5_000)), JSON.stringify(comparison('odd', 5_000))]);
    const one = await buildReport([file], { threads: 1 });
    expect(one.totals.production).toBe(61);
    // The thread that owns the line's first-found requestId parses it and sees the header was not the record's.
    expect(await inShares([file], {}, 2)).toBe('diverged');
    expect(comparable(await buildReport([file], { threads: 2 }))).toEqual(comparable(one));
  });
});

describe('a split read (each share reads whole files) gives the report one thread gives', () => {
  /** The split read with each file its own share: never falling back, and equal to one thread's report. */
  async function expectSplitExact(files: string[], options: BuildReportOptions = {}): Promise<Report> {
    const one = await buildReport(files, { ...options, threads: 1 });
    const split = await inSplit(files, options, files.map((_, i) => [i]));
    expect(typeof split === 'string' ? split : 'joined').toBe('joined');
    expect(comparable(split as Report)).toEqual(comparable(one));
    return one;
  }

  it('joins on the main thread a request whose production is in one file and its shadow and comparison in another', async () => {
    const a = await writeLog('two-a.log', [...requests('a', 30, 200), production('x', 3_000, { targets: ['v2'] }), ...requests('c', 30, 200, 3_100)]);
    const b = await writeLog('two-b.log', [...requests('b', 30, 200, 50), shadow('x', 3_000), comparison('x', 3_000), ...requests('d', 30, 200, 3_150)]);
    const one = await expectSplitExact([a, b]);
    expect(one.reading?.orphans).toEqual({ no_shadow: 0, no_production: 0, late: 0 });
    expect(one.totals.production).toBe(121);
  });

  it('joins a request cut by a rotation (shadow.log.1.gz, shadow.log) read by two shares', async () => {
    const rotated = await writeLog('rot.log.1.gz', [...requests('p', 40, 250), production('cut', 10_000, { targets: ['v2'] })], true);
    const current = await writeLog('rot.log', [shadow('cut', 10_000), comparison('cut', 10_000), ...requests('q', 40, 250, 10_050)]);
    const one = await expectSplitExact([rotated, current], { labelPath: '$.label' });
    expect(one.reading?.closedBy.complete).toBe(81);
  });

  it('keeps every record of a request its share kept: one candidate answered and compared, the other never', async () => {
    // Kept (closed by the window, not complete) and accepted by the main thread as its share joined it: its production,
    // shadow and comparison travel from the thread as the records of its marks.
    const half = (id: string, ms: number) => [production(id, ms, { targets: ['v2', 'v3'] }), shadow(id, ms), comparison(id, ms)];
    const a = await writeLog('kept-a.log', [...requests('a', 10, 100), ...half('half', 1_000), ...half('lone', 1_050), ...requests('c', 30, 1_000, 1_200)]);
    const b = await writeLog('kept-b.log', requests('b', 60, 1_000, 50));
    const one = await expectSplitExact([a, b], { windowMs: 10_000 });
    expect(one.reading?.closedBy.time_window).toBe(2);
    expect(one.totals.comparisons).toBe(2 + 10 + 30 + 60);
  });

  it('gives a request that ends one share open the window end of the reader of every file', async () => {
    // File a ends with a production whose shadow never comes, while file b reads on for minutes.
    const a = await writeLog('eoi-a.log', [...requests('a', 10, 100), production('lonely', 1_100, { targets: ['v2'] })]);
    const b = await writeLog('eoi-b.log', requests('b', 200, 1_000, 50));
    const one = await expectSplitExact([a, b], { windowMs: 10_000 });
    expect(one.reading?.closedBy.time_window).toBe(1);
    expect(one.reading?.orphanExamples).toEqual([{ requestId: 'lonely', kind: 'no_shadow' }]);
  });

  it('orders bad lines and orphans of several shares as one reader meets them', async () => {
    const a = await writeLog('bad-a.log', ['{not json', ...requests('a', 20, 300), production('oa', 2_000, { targets: ['v2'] }), 'garbage a', ...requests('c', 20, 300, 6_100), '{"type":"production","requestId":"cut']);
    const b = await writeLog('bad-b.log', [...requests('b', 20, 300, 150), 'garbage b', shadow('ob', 2_100), '\ufeff' + JSON.stringify(production('bom', 2_200, { targets: ['v2'] })), ...requests('d', 20, 300, 6_150)]);
    const one = await expectSplitExact([a, b], { windowMs: 2_000 });
    expect(one.reading?.badLines.map((l) => l.text.slice(0, 9))).toEqual(['{not json', 'garbage a', 'garbage b', '{"type":"']);
    expect(one.reading?.orphanExamples.length).toBe(3);
  });

  it('with a summary record running ahead, a clock that jumps, and label paths through __proto__', async () => {
    const proto = (id: string, ms: number) => production(id, ms, { targets: ['v2'], response: { headers: {}, body: JSON.parse('{"__proto__":{"label":"p"},"label":"cat"}') as unknown } });
    const a = requests('a', 60, 500);
    a[30] = { ...(a[30] as Line), timestamp: '2099-01-01T00:00:00.000Z' };
    const b = [proto('pp', 100), shadow('pp', 100), comparison('pp', 100), ...requests('b', 60, 500, 250)];
    b.splice(40, 0, { type: 'summary', timestamp: at(25_000), intervalMs: 60_000, seen: 10, mirrored: 10, notMirrored: {} });
    await expectSplitExact([await writeLog('mix-a.log', a), await writeLog('mix-b.log', b)], { labelPath: '$.__proto__.label', windowMs: 5_000 });
  });

  it('falls back, with the same report, when a record of a request one share joined is repeated in another share', async () => {
    const a = requests('a', 40, 300);
    const files = [await writeLog('rep-a.log', a), await writeLog('rep-b.log', [...requests('b', 40, 300, 100), a[31] as Line])];
    const one = await buildReport(files, { threads: 1 });
    expect(one.reading?.duplicates).toBe(1);
    expect(await inSplit(files, {}, [[0], [1]])).toBe('a request joined by one share has records in another, or later in its own');
    expect(comparable(await buildReport(files, { threads: 2 }))).toEqual(comparable(one));
  });
});

describe('kept entries on their way from a report thread', () => {
  it('carry each record once and come back as the records of their marks; a record not among its marks comes whole', () => {
    const [p, s, c] = request('w', 100).map((r) => JSON.parse(JSON.stringify(r)) as never) as [never, never, never];
    const mark = (record: never, pos: number) => ({ record, time: 1, key: 1, owned: true, pm: 100 + pos, file: 1, pos, prevW: 99 });
    const marks = [mark(p, 1), mark(s, 2), mark(s, 3)];
    const entry = {
      requestId: 'w', production: p, shadows: [s], comparisons: [c], skipped: null, closedBy: 'time_window' as const, orphan: null, openedAt: 100,
      marks, plain: true, learned: -1, crossing: marks[2]!, crossings: 1, duplicates: 1, missingComparison: false,
    };
    const json = packPending([entry], [mark(c, 9)]);
    // The entry's id, its three marks' records, its comparison (not among its marks) whole, and the repeat: not the
    // entry's production and shadow again, nor the crossing mark.
    expect(json.split('"requestId":"w"')).toHaveLength(1 + 6);
    const { entries, repeats } = unpackPending(json);
    const [back] = entries;
    expect(back!.production).toBe(back!.marks[0]!.record);
    expect(back!.shadows[0]).toBe(back!.marks[1]!.record);
    expect(back!.comparisons[0]).toEqual(c);
    expect(back!.marks.map((m) => [m.pm, m.file, m.pos, m.prevW])).toEqual([[101, 1, 1, 99], [102, 1, 2, 99], [103, 1, 3, 99]]);
    expect({ ...back, marks: [], production: null, shadows: [], comparisons: [] }).toEqual({ ...entry, crossing: undefined, marks: [], production: null, shadows: [], comparisons: [] });
    expect(repeats).toEqual([{ record: c, pm: 109, file: 1, pos: 9, prevW: 99 }]);
  });
});

describe('buildReport on several threads', () => {
  it('gives the report one thread gives, through real report threads', async () => {
    const files = ['test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/shadow-b.log.gz'];
    const one = await buildReport(files, { labelPath: '$.label', threads: 1 });
    const two = await buildReport(files, { labelPath: '$.label', threads: 2 });
    expect(comparable(two)).toEqual(comparable(one));
  });

  it('gives the report one thread gives with three shares, the first on the main thread, over requests that cross files', async () => {
    // Share 0 is read on the main thread, shares 1 and 2 on report threads; requests cross files and a rotation.
    const a = await writeLog('main-a.log', [...requests('a', 40, 100), production('x', 2_000, { targets: ['v2'] })]);
    const b = await writeLog('main-b.log', [shadow('x', 2_000), ...requests('b', 40, 100, 50), comparison('x', 2_000)]);
    const rotated = await writeLog('main-c.log.1.gz', [...requests('c', 30, 100, 20), production('cut', 3_500, { targets: ['v2'] })], true);
    const current = await writeLog('main-c.log', [shadow('cut', 3_500), comparison('cut', 3_500), ...requests('d', 30, 100, 3_600)]);
    const files = [a, b, rotated, current];
    const one = await buildReport(files, { labelPath: '$.label', threads: 1 });
    // `reportInSplit` itself, which gives `undefined` where a split read gives up (and the logs are read in hash shares).
    const three = await reportInSplit(files, { labelPath: '$.label' }, {}, 3);
    expect(one.reading?.closedBy.complete).toBe(40 + 40 + 30 + 30 + 2);
    expect(three).toBeDefined();
    expect(comparable(three as Report)).toEqual(comparable(one));
  });

  it('stops a split share read on the main thread when the split read is given up', async () => {
    const a = await writeLog('stop-a.log', requests('a', 50, 100));
    const b = await writeLog('stop-b.log', requests('b', 50, 100, 50));
    const stop = new AbortController();
    stop.abort(new Error('given up'));
    const reading = readShare({ inputs: [a, b], options: {}, readOptions: {}, index: 0, count: 2, files: [0] }, undefined, undefined, stop.signal);
    await expect(reading).rejects.toThrow('given up');
  });

  it('reports a missing file as one thread does', async () => {
    await expect(buildReport([join(dir, 'missing.log')], { threads: 2 })).rejects.toMatchObject({ name: 'ShadowLogReadError', code: 'ERR_SHADOW_LOG_UNREADABLE' });
  });

  it('rejects a bad thread count naming the option', async () => {
    await expect(buildReport(['test/fixtures/basic/shadow-a.log'], { threads: 0 })).rejects.toThrow(/`threads` must be a positive integer/);
  });
});

describe('merging report builders', () => {
  it('sums measurements exactly, so parts merged in any order give the one-pass mean to the last bit', () => {
    const values = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 1000) / 7 + (i % 3 === 0 ? 1e12 : 1e-9) * ((i % 5) - 2));
    const whole: number[] = [];
    for (const v of values) addExact(whole, v);
    const [odd, even]: number[][] = [[], []];
    values.forEach((v, i) => addExact(i % 2 === 1 ? (odd as number[]) : (even as number[]), v));
    const merged = [...(odd as number[])];
    for (const part of [...(even as number[])].reverse()) addExact(merged, part);
    expect(exactValue(merged)).toBe(exactValue(whole));
    // A plain running sum differs with the order: the reason for keeping exact partials.
    const plain = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(plain(values)).not.toBe(plain([...values].reverse()));
    expect(exactValue(whole)).toBe(exactValue([...values].reverse().reduce<number[]>((p, v) => (addExact(p, v), p), [])));
  });

  it('draws the bootstrap ahead without changing the report, also when later requests move the cells it drew for', () => {
    // Full latency samples (4,096 a side) on /p, drawn ahead for the cells all routes and /p; then a busier route /q
    // arrives, whose candidate calls all failed (no latency to judge), and sorts first: /p's cell moves to a seed not
    // drawn, and the seed drawn for /p is left untaken. Each cell must be judged from the resamples of its own seed.
    const entry = (i: number, route: string, extra: Line = {}) => ({
      requestId: `q${i}`, closedBy: 'complete' as const, orphan: null, skipped: null, comparisons: [],
      production: production(`q${i}`, i, { route }) as never, shadows: [shadow(`q${i}`, i, 'v2', extra) as never],
    });
    const options = { criteria: { maxLatencyIncreaseMs: 1, maxLatencyIncreaseRatio: 0.01 } };
    const [ahead, plain] = [new ReportBuilder(options), new ReportBuilder(options)];
    for (let i = 0; i < 5_000; i++) for (const b of [ahead, plain]) b.addEntry(entry(i, '/p'));
    let drawn = 1;
    while (ahead.drawAhead()) drawn++;
    expect(drawn).toBe(2);
    const failed = { status: undefined, durationMs: undefined, error: { code: 'ETIMEDOUT', message: 'timed out' } };
    for (let i = 5_000; i < 11_000; i++) for (const b of [ahead, plain]) b.addEntry(entry(i, '/q', failed));
    const report = ahead.build();
    expect(report).toEqual(plain.build());
    expect(report.match.byRoute.map((r) => r.route)).toEqual(['/q', '/p']);
    expect(report.verdict.criteria.filter((c) => c.criterion === 'latency' && c.low !== null).map((c) => c.route)).toEqual([null, '/p']);
  });

  it('keeps the routes a single builder keeps, whatever the order the parts saw them in, and does not overflow past maxRoutes', () => {
    const entry = (i: number) => ({
      requestId: `q${i}`, closedBy: 'complete' as const, orphan: null, skipped: null, shadows: [], comparisons: [],
      production: production(`q${i}`, i, { route: `/r${(i * 17) % 250}` }) as never,
    });
    const whole = new ReportBuilder({ maxRoutes: 100 });
    for (let i = 0; i < 500; i++) whole.addEntry(entry(i));
    const [a, b] = [new ReportBuilder({ maxRoutes: 100 }), new ReportBuilder({ maxRoutes: 100 })];
    for (let i = 499; i >= 0; i--) (i % 3 === 0 ? a : b).addEntry(entry(i));
    a.merge(b.state());
    const routes = (r: Report) => r.match.byRoute.map((x) => [x.route, x.requests]);
    expect(routes(a.build())).toEqual(routes(whole.build()));
    expect(whole.build().match.byRoute.find((r) => r.route === '(other routes)')?.requests).toBe(500 - 100 * 2);
  });
});
