import { renderHtml } from './render-html.js';
import { renderJson } from './render-json.js';
import { renderText } from './render-text.js';
import type { Report, ReportFormat } from './types.js';

/**
 * The formats `renderReport` (and `express-shadow report --format`) accept.
 *
 * @example
 * ```ts
 * import { REPORT_FORMATS, type ReportFormat } from 'express-shadow';
 *
 * const isFormat = (value: string): value is ReportFormat => (REPORT_FORMATS as readonly string[]).includes(value);
 * ```
 */
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'html'];

export interface RenderOptions {
  /** ANSI colour in the text format. Default false. */
  color?: boolean;
}

/**
 * Renders a report: `text` for a terminal or CI log, `json` (the `Report` itself) for scripts, `html` for a person
 * (one self-contained page with charts).
 *
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { buildReport, renderReport } from 'express-shadow';
 *
 * const report = await buildReport('logs/shadow.log');
 * console.log(renderReport(report, 'text', { color: process.stdout.isTTY }));
 * await writeFile('shadow-report.html', renderReport(report, 'html'));
 * ```
 */
export function renderReport(report: Report, format: ReportFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'text':
      return renderText(report, options);
    case 'json':
      return renderJson(report);
    case 'html':
      return renderHtml(report);
    default:
      throw new TypeError(`Unknown report format ${JSON.stringify(format)}; expected one of ${REPORT_FORMATS.join(', ')}.`);
  }
}
