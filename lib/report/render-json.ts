import type { Report } from './types.js';

/** The report as pretty-printed JSON: the `Report` object itself, so scripts can read any figure. */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
