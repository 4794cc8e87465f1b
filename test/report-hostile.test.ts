/**
 * Hostile and unlucky logs against the report: keys that name Object.prototype members, timestamps at the ends of the
 * Date range, a 100k-deep label, control characters and ANSI escapes.
 */
import { describe, expect, it } from 'vitest';
import { ReportBuilder, renderReport } from '../lib/report/index.js';
import type { ShadowLogEntry } from '../lib/read/types.js';
import type { ComparisonRecord, ProductionRecord, ShadowRecord } from '../lib/types.js';

function production(requestId: string, timestamp: string, route: string, body: unknown = { label: 'a' }): ProductionRecord {
  return {
    type: 'production', requestId, timestamp, method: 'POST', path: route, route, status: 200, durationMs: 10,
    request: { headers: {}, bodySource: 'raw' }, response: { headers: {}, body },
  } as ProductionRecord;
}

function shadow(requestId: string, timestamp: string, target: string, extra: Partial<ShadowRecord> = {}): ShadowRecord {
  return { type: 'shadow', requestId, timestamp, target, status: 200, durationMs: 12, response: { headers: {}, body: { label: 'a' } }, ...extra } as ShadowRecord;
}

function comparison(requestId: string, timestamp: string, target: string, match: boolean): ComparisonRecord {
  return { type: 'comparison', requestId, timestamp, target, statusMatch: true, match, differences: [], latencyDeltaMs: 2 };
}

function entry(parts: Partial<ShadowLogEntry> & { requestId: string }): ShadowLogEntry {
  return { production: null, shadows: [], comparisons: [], skipped: null, closedBy: 'complete', orphan: null, ...parts };
}

const T = '2026-01-01T00:00:00.000Z';

describe('keys named like Object.prototype members', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

  it('counts reasons, codes, targets, routes and labels named constructor, __proto__ or toString like any other', () => {
    const builder = new ReportBuilder({ labelPath: '$.label' });
    names.forEach((name, i) => {
      const id = `r${i}`;
      builder.addEntry(entry({ requestId: `s${i}`, skipped: { type: 'skipped', requestId: `s${i}`, timestamp: T, reason: name } as never }));
      builder.addEntry(
        entry({
          requestId: id,
          production: production(id, T, name, { label: name }),
          shadows: [shadow(id, T, name, { error: { code: name, message: 'x' }, status: undefined, response: undefined } as never)],
        }),
      );
      builder.addRecord({ type: 'summary', timestamp: T, seen: 1, notMirrored: { [name]: 2 }, breakerOpen: { [name]: 3 } } as never);
    });
    const report = builder.build();
    for (const name of names) {
      expect(Object.hasOwn(report.totals.skippedByReason, name)).toBe(true);
      expect(report.totals.skippedByReason[name]).toBe(1);
      expect(report.totals.shadowErrorsByCode[name]).toBe(1);
      expect(report.totals.notMirroredByReason[name]).toBe(2);
      expect(report.breakers.openDrops[name]).toBe(3);
      expect(report.match.byRoute.find((r) => r.route === name)?.requests).toBe(1);
      expect(report.match.byTarget.find((t) => t.target === name)?.shadowErrors).toBe(1);
    }
    expect(report.totals.skipped).toBe(4);
    expect(report.totals.notMirrored).toBe(8);
    expect(report.totals.shadowErrors).toBe(4);
    expect(Object.getPrototypeOf(report.totals.skippedByReason)).toBe(Object.prototype);
    const json = JSON.parse(renderReport(report, 'json'));
    expect(json.totals.skippedByReason.__proto__).toBe(1);
    expect(renderReport(report, 'text')).toContain('__proto__ 1, constructor 1');
  });
});

describe('timestamps at the ends of the Date range', () => {
  it('keeps the timeline to a few buckets for years 0001 and 9999 and the extreme Date values, and renders', () => {
    const builder = new ReportBuilder();
    const times = ['0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', T];
    times.forEach((time, i) => {
      const id = `t${i}`;
      builder.addEntry(entry({ requestId: id, production: production(id, time, '/p'), shadows: [shadow(id, time, 'c')], comparisons: [comparison(id, time, 'c', true)] }));
    });
    const report = builder.build();
    expect(report.timeline.buckets.length).toBeLessThanOrEqual(60);
    expect(report.timeline.buckets.reduce((n, b) => n + b.requests, 0)).toBe(5);
    expect(report.period.from).toBe('-271821-04-20T00:00:00.000Z');
    for (const format of ['text', 'json', 'html'] as const) expect(renderReport(report, format).length).toBeLessThan(200_000);
  });
});

describe('a 100k-deep label', () => {
  it('is cut at a bounded depth instead of overflowing the stack', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const builder = new ReportBuilder({ labelPath: '$.label' });
    const id = 'deep';
    builder.addEntry(entry({ requestId: id, production: production(id, T, '/p', { label: deep }), shadows: [shadow(id, T, 'c')] }));
    const report = builder.build();
    expect(report.labels?.labels).toHaveLength(2);
    const key = report.labels?.labels.find((l) => l !== 'a') ?? '';
    expect(key.startsWith('{"d":{"d":')).toBe(true);
    expect(key.length).toBeLessThanOrEqual(201);
    expect(() => renderReport(report, 'html')).not.toThrow();
  });
});

describe('control characters from the logs', () => {
  it('never reach the terminal raw: ANSI escapes and other controls are shown escaped', () => {
    const builder = new ReportBuilder();
    const route = '/x\u001b[2J\u001b[31mred\u0007\r';
    const target = 'cand\u009b31m\u202e';
    builder.addEntry(entry({ requestId: 'c1', production: production('c1', T, route), shadows: [shadow('c1', T, target)], comparisons: [comparison('c1', T, target, false)] }));
    // a second candidate, so candidates are listed by name
    builder.addEntry(entry({ requestId: 'c2', production: production('c2', T, route), shadows: [shadow('c2', T, 'b')], comparisons: [comparison('c2', T, 'b', true)] }));
    const text = renderReport(builder.build(), 'text', { color: true });
    // eslint-disable-next-line no-control-regex
    const controls = text.replace(/\u001b\[[0-9;]*m/g, '').match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/g);
    expect(controls).toBeNull();
    expect(text).toContain('/x\\x1b[2J\\x1b[31mred\\x07\\x0d');
    expect(text).toContain('cand\\x9b31m\\u202e');
  });
});
