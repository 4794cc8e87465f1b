/**
 * Plain-text report for a terminal or a CI log: sections of aligned tables, colour only when asked for.
 */
import { formatCount, formatTime } from './format.js';
import { escapeControls } from './escape.js';
import { reportSections, type Align, type Block, type CellValue, type MatrixBlock, type Row, type Section, type TableBlock } from './sections.js';
import type { CriterionResult, Report } from './types.js';

interface TextRenderOptions {
  /** ANSI colour and bold. Default false. */
  color?: boolean;
}

function table(rows: string[][], align: Align[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  }
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => {
          const pad = ' '.repeat((widths[i] ?? 0) - [...cell].length);
          return (align[i] ?? 'left') === 'right' ? pad + cell : i === row.length - 1 ? cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
  );
}

const STATUS_LABEL: Record<CriterionResult['status'], string> = { fail: 'FAIL', marginal: 'MARGINAL', too_few: 'too few', pass: 'pass' };
/** Criteria listed one by one in the text report; the rest are counted (the JSON report has them all). */
const CRITERIA_SHOWN = 30;

/** Lines of the verdict: status and score, headline, summary, the criteria that did not pass, the noise note. */
function verdictLines(report: Report, paint: (code: string, text: string) => string): string[] {
  const { verdict } = report;
  const colour = verdict.status === 'pass' ? '32' : verdict.status === 'fail' ? '31' : verdict.status === 'marginal' ? '33' : '0';
  const status = verdict.status === 'none' ? 'NOT JUDGED' : verdict.status.toUpperCase();
  const out = [`${paint('1', 'Verdict:')} ${paint(`1;${colour}`, status)}${verdict.score === null ? '' : ` (score ${verdict.score}/100)`}`];
  out.push(`  ${verdict.headline}`);
  // The status and score are on the first line already.
  out.push(`  ${verdict.summary.replace(/^[A-Z]+ \(score [^)]*\): /, 'Criteria: ')}`);
  const listed = verdict.criteria.filter((c) => c.status === 'fail' || c.status === 'marginal');
  const rest = verdict.criteria.length - listed.length;
  const rows = listed.slice(0, CRITERIA_SHOWN).map((c) => [STATUS_LABEL[c.status], c.criterion.replace('_', ' '), c.reason]);
  if (rows.length > 0) out.push(...table(rows, ['left', 'left', 'left'], '    '));
  const more = listed.length - rows.length;
  if (more > 0) out.push(`    … and ${formatCount(more)} more (see --format json)`);
  if (rest > 0 && verdict.criteria.length > 0) {
    const passed = verdict.criteria.filter((c) => c.status === 'pass').length;
    const few = verdict.criteria.filter((c) => c.status === 'too_few').length;
    out.push(`    ${formatCount(passed)} passed${few > 0 ? `, ${formatCount(few)} with too few samples (under ${verdict.thresholds.minSamples} a side)` : ''}`);
  }
  if (verdict.noiseNote !== null) out.push(`  ${verdict.noiseNote}`);
  return out;
}

type Paint = (code: string, text: string) => string;

const cellText = (cell: CellValue): string => (typeof cell === 'string' ? cell : cell.text);

/** The rows of a table as text: its text columns, its header unless left out, its text rows. */
function tableRows(block: TableBlock): { rows: string[][]; align: Align[] } {
  const kept = block.columns.flatMap((c, i) => (c.only === 'html' ? [] : [i]));
  const pick = (cells: CellValue[]): string[] => kept.map((i) => cellText(cells[i] ?? ''));
  const rows = block.rows.flatMap((row: Row) => (Array.isArray(row) ? [pick(row)] : row.only === 'html' ? [] : [pick(row.cells)]));
  if (block.textHeader !== false) rows.unshift(kept.map((i) => block.columns[i]?.head ?? ''));
  return { rows, align: kept.map((i) => block.columns[i]?.align ?? 'right') };
}

function matrixLines(block: MatrixBlock): string[] {
  const rows = [[block.textCorner ?? block.corner, ...block.columns]];
  block.rows.forEach((r, i) => rows.push([r, ...(block.counts[i] ?? []).map((n) => (n === 0 ? '.' : formatCount(n)))]));
  return table(rows, ['left', ...block.columns.map((): Align => 'right')]);
}

function blockLines(block: Block, paint: Paint): string[] {
  switch (block.kind) {
    case 'table': {
      if (block.only === 'html') return [];
      const { rows, align } = tableRows(block);
      return [...(block.gap === true ? [''] : []), ...table(rows, align)];
    }
    case 'tables': {
      // One table with a blank row between the parts, so their columns line up.
      const parts = block.tables.map(tableRows);
      const rows = parts.flatMap((part, i) => (i === 0 ? part.rows : [[''], ...part.rows]));
      return table(rows, parts[0]?.align ?? []).map((line) => line.trimEnd());
    }
    case 'matrix':
      return matrixLines(block);
    case 'note':
      return block.text === undefined ? [] : [`  ${block.text}`];
    case 'heading':
      return ['', paint('1', block.text)];
    case 'rendered':
      return block.text;
  }
}

function sectionLines(section: Section, paint: Paint): string[] {
  return [paint('1', section.title) + (section.detail ?? ''), ...section.blocks.flatMap((block) => blockLines(block, paint)), ''];
}

function headerLines(report: Report, paint: Paint): string[] {
  const files = report.reading?.files.length ?? 0;
  const out = [
    paint('1', 'express-shadow report') +
      (report.reading === null ? '' : ` — ${files} file${files === 1 ? '' : 's'}`) +
      `, ${formatTime(report.period.from)} → ${formatTime(report.period.to)}`,
  ];
  const filters = [
    report.filters.route === null ? null : `route ${report.filters.route}`,
    report.filters.since === null ? null : `since ${formatTime(report.filters.since)}`,
    report.filters.until === null ? null : `until ${formatTime(report.filters.until)}`,
  ].filter((f) => f !== null);
  if (filters.length > 0) out.push(`Filters: ${filters.join(', ')}`);
  return out;
}

export function renderText(unsafeReport: Report, options: TextRenderOptions = {}): string {
  // Routes, targets, labels, paths and reasons come from the logs: no control character or escape reaches the terminal.
  const report = escapeControls(unsafeReport);
  const paint: Paint = options.color === true ? (code, text) => `\u001b[${code}m${text}\u001b[0m` : (_code, text) => text;
  const out = [...headerLines(report, paint), '', ...verdictLines(report, paint), ''];
  for (const section of reportSections(report)) out.push(...sectionLines(section, paint));
  return out.join('\n').replace(/\n+$/, '') + '\n';
}
