import { it, expect } from 'vitest';
import { buildReport, type Report } from '../lib/report/index.js';
import { readShare } from '../lib/report/read-share.js';
import { reportOfSplit } from '../lib/report/split-merge.js';
import { splitFiles } from '../lib/report/parallel-report.js';
import type { ShareResult } from '../lib/report/share-types.js';

function comparable(report: Report): unknown {
  const json = JSON.parse(JSON.stringify(report)) as Report;
  if (json.reading !== null) json.reading.peakOpenEntries = 0;
  return json;
}
it('basic', async () => {
  const files = ['test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/shadow-b.log.gz'];
  const one = await buildReport(files, { labelPath: '$.label', threads: 1 });
  const parts = [[0], [1]];
  const results: ShareResult[] = [];
  for (const [index, part] of parts.entries()) results.push(await readShare({ inputs: files, options: { labelPath: '$.label' }, readOptions: {}, index, count: 2, files: part }));
  const report = reportOfSplit({ labelPath: '$.label' }, { windowMs: 60000, maxOpenEntries: 100000, expectComparisons: true, targets: undefined }, results as never);
  expect(typeof report === "string" ? report : "ok").toBe("ok");
  expect(comparable(report as Report)).toEqual(comparable(one));
});
