/**
 * Every record type respects the log's size cap (`maxLoggedBodyBytes` for bodies and comparison differences, 1,024
 * characters for messages), and says so where it cut. Real app, real shadow, the log file's lines measured.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComparisonRecord } from '../lib/index.js';
import { buildReport } from '../lib/report/index.js';
import { readRecords, recordsOfType, sendRaw, startShadowServer, tempLogFile, testScope } from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

/** Each line of the log file by its record type, with its length in bytes. */
async function lineSizes(file: string): Promise<{ type: string; bytes: number }[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ type: (JSON.parse(line) as { type: string }).type, bytes: Buffer.byteLength(line) }));
}

/** An answer of about 1.8 MB whose `items` production has and the shadow does not. */
const bigAnswer = JSON.stringify({ label: 'positive', items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, text: `item number ${i} of the answer`, score: i / 20_000 })) });

describe('the comparison record', () => {
  for (const maxLoggedBodyBytes of [65_536, 1_000]) {
    it(`cuts a 1.8 MB difference to maxLoggedBodyBytes ${maxLoggedBodyBytes}, states the cut, and keeps the path for the report`, async () => {
      const shadowServer = closeLater(
        await startShadowServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ label: 'negative', items: null }));
        }),
      );
      const logFile = await tempLogFile();
      const shadow = mirror({ target: shadowServer.url, logFile, maxLoggedBodyBytes, maxShadowResponseBytes: 4_000_000 });
      const app = await startApp(shadow, (_req, res) => void res.type('application/json').send(bigAnswer));
      await sendRaw(app.url, { method: 'GET', path: '/predict' });
      await shadow.whenIdle();

      const [comparison] = recordsOfType(await readRecords(logFile), 'comparison');
      expect(comparison).toMatchObject({ match: false, differencesTruncated: true });
      const items = comparison!.differences.find((d) => d.path === '$.items')!;
      expect(items.production).toMatch(/^\[too large to log: \d+ bytes\]$/);
      expect(Number(/(\d+) bytes/.exec(items.production as string)![1])).toBeGreaterThan(1_000_000);
      // The small difference before it fits and is kept whole.
      expect(comparison!.differences.find((d) => d.path === '$.label')).toEqual({ path: '$.label', production: 'positive', shadow: 'negative' });
      expect(Buffer.byteLength(JSON.stringify(comparison!.differences))).toBeLessThanOrEqual(Math.max(maxLoggedBodyBytes, 4096));

      // Every line: at most its bodies (two, on a production record) within the cap, plus headers and fields.
      for (const { type, bytes } of await lineSizes(logFile)) expect({ type, small: bytes <= 2 * maxLoggedBodyBytes + 8192 }).toEqual({ type, small: true });
      const report = await buildReport(logFile);
      expect(report.differences.paths.map((p) => p.path).sort()).toEqual(['$.items', '$.label']);
      expect(report.differences.truncatedLists).toBe(1);
    });
  }

  it("cuts a custom comparator's 100,000 differences to the cap, keeping the first ones whole", async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const differences = Array.from({ length: 100_000 }, (_, i) => ({ path: `$.field${i}`, production: 'p'.repeat(50), shadow: 's'.repeat(50) }));
    const shadow = mirror({ target: shadowServer.url, logFile, compare: () => ({ match: false, differences }) });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await shadow.whenIdle();
    const [comparison] = recordsOfType(await readRecords(logFile), 'comparison') as ComparisonRecord[];
    expect(comparison!.differencesTruncated).toBe(true);
    expect(comparison!.differences.length).toBeGreaterThan(0);
    expect(comparison!.differences.length).toBeLessThan(100_000);
    expect(comparison!.differences[0]).toEqual(differences[0]);
    expect(Buffer.byteLength(JSON.stringify(comparison!.differences))).toBeLessThanOrEqual(65_536);
  });
});

describe('messages', () => {
  it('cuts a hook error of a megabyte to 1,024 characters in the shadow and skipped records, saying how much more there was', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const huge = 'E'.repeat(1_000_000);
    const shadow = mirror({
      target: shadowServer.url,
      logFile,
      filter: (req) => {
        if (req.url === '/filter-throws') throw new Error(huge);
        return true;
      },
      transformRequest: () => {
        throw new Error(huge);
      },
    });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await sendRaw(app.url, { method: 'GET', path: '/filter-throws' });
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const [failed] = recordsOfType(records, 'shadow');
    expect(failed!.error!.code).toBe('transform_error');
    expect(failed!.error!.message).toMatch(/^transformRequest threw: E+… \[\d+ more characters\]$/);
    expect(failed!.error!.message.length).toBeLessThan(1100);
    const [skipped] = recordsOfType(records, 'skipped');
    expect(skipped).toMatchObject({ reason: 'hook_error', path: '/filter-throws' });
    expect(skipped!.detail).toMatch(/E+… \[\d+ more characters\]$/);
    for (const { type, bytes } of await lineSizes(logFile)) expect({ type, small: bytes < 8192 }).toEqual({ type, small: true });
  });
});
