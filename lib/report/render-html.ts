/**
 * One self-contained HTML page: inline CSS, charts pre-drawn as SVG, no script, no external resource (a CSP forbids
 * them). Every string from the logs is escaped.
 */
import { formatCount, formatDuration, formatInterval, formatMs, formatPercent, formatRatio, formatTime } from './format.js';
import { reportSections, type Block, type Cell, type CellValue, type Column, type Inline, type MatrixBlock, type Row, type Section, type TableBlock } from './sections.js';
import { escapeXml as esc, lineChart } from './svg-chart.js';
import type { CriterionResult, Report } from './types.js';

const PRODUCTION_COLOUR = '#2563eb';
const SHADOW_COLOUR = '#ea580c';
const MATCH_COLOUR = '#16a34a';
const ERROR_COLOUR = '#dc2626';
const TIMEOUT_COLOUR = '#9333ea';

const CSS = `
:root{color-scheme:light;--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--pass:#15803d;--fail:#b91c1c;--none:#374151}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:var(--muted)}
.verdict{margin:16px 0;padding:14px 18px;border-radius:8px;font-size:17px;font-weight:600;color:#fff}
.verdict.pass{background:var(--pass)}.verdict.fail{background:var(--fail)}.verdict.none{background:var(--none)}.verdict.marginal{background:#b45309}
.verdict .summary{font-size:13px;font-weight:400;margin-top:4px}
td.st-fail{color:var(--fail);font-weight:600}td.st-marginal{color:#b45309;font-weight:600}td.st-pass{color:var(--pass)}td.wrap{white-space:normal;text-align:left}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px}
.card .v{font-size:22px;font-weight:600}.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}
svg{max-width:100%;height:auto;font:11px system-ui,sans-serif}
svg .plot{fill:#fff;stroke:#d1d5db}svg .grid{stroke:#eef0f3}svg .tick,svg .empty{fill:#6b7280}
svg .axis-label{fill:#374151}svg .legend{fill:#1f2937}svg .series{fill:none;stroke-width:2}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);margin:4px 0 8px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:#f3f4f6;font-weight:600}
td.l,th.l{text-align:left}td.diag{background:#dcfce7;font-weight:600}td.off{background:#fee2e2}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.note{color:var(--muted);font-size:12px}
`;

/** Every criterion that did not pass, then the rest: status, criterion, reason, adjusted p. */
function criteriaHtml(criteria: CriterionResult[]): string {
  if (criteria.length === 0) return '';
  const rows = criteria.map((c) => [
    `<td class="l st-${c.status}">${esc(c.status === 'too_few' ? 'too few samples' : c.status)}</td>`,
    `<td class="l">${esc(c.criterion.replace('_', ' '))}</td>`,
    `<td class="wrap">${esc(c.reason)}</td>`,
    `<td class="l">${esc(c.test)}</td>`,
  ]);
  const head = '<tr><th class="l">status</th><th class="l">criterion</th><th class="l">reason</th><th>test</th></tr>';
  const table = `<table><thead>${head}</thead><tbody>${rows.map((row) => `<tr>${row.join('')}</tr>`).join('')}</tbody></table>`;
  return `<details id="criteria"${criteria.some((c) => c.status === 'fail' || c.status === 'marginal') ? ' open' : ''}><summary>Criteria (${criteria.length})</summary>${table}</details>`;
}

function cellHtml(cell: CellValue, column: Column): string {
  const c: Cell = typeof cell === 'string' ? { text: cell } : cell;
  const text = esc(c.html ?? c.text);
  const inner = c.code === true ? `<code>${text}</code>` : c.strong === true ? `<strong>${text}</strong>` : text;
  return `<td${column.align === 'left' ? ' class="l"' : ''}>${inner}</td>`;
}

function tableHtml(block: TableBlock): string {
  if (block.only === 'text') return '';
  const kept = block.columns.flatMap((c, i) => (c.only === 'text' ? [] : [i]));
  const th = kept.map((i) => {
    const c = block.columns[i] as Column;
    return `<th${c.align === 'left' ? ' class="l"' : ''}>${esc(c.htmlHead ?? c.head)}</th>`;
  });
  const body = block.rows.flatMap((row: Row) => {
    const cells = Array.isArray(row) ? row : row.only === 'text' ? null : row.cells;
    return cells === null ? [] : [`<tr>${kept.map((i) => cellHtml(cells[i] ?? '', block.columns[i] as Column)).join('')}</tr>`];
  });
  return `<table><thead><tr>${th.join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function matrixHtml(block: MatrixBlock): string {
  const head = `<tr><th class="l">${esc(block.corner)}</th>${block.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = block.rows
    .map((r, i) => {
      const cells = block.columns.map((c, j) => {
        const n = block.counts[i]?.[j] ?? 0;
        const cls = n === 0 ? '' : r === c ? ' class="diag"' : ' class="off"';
        return `<td${cls}>${n === 0 ? '·' : esc(formatCount(n))}</td>`;
      });
      return `<tr><th class="l">${esc(r)}</th>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function inlineHtml(content: string | Inline[]): string {
  const parts = typeof content === 'string' ? [content] : content;
  return parts.map((part) => (typeof part === 'string' ? esc(part) : `<code>${esc(part.code)}</code>`)).join('');
}

function blockHtml(block: Block): string {
  switch (block.kind) {
    case 'table':
      return tableHtml(block);
    case 'tables':
      return block.tables.map(tableHtml).join('\n');
    case 'matrix':
      return matrixHtml(block);
    case 'note':
      return block.html === undefined ? '' : `<p${block.plain === true ? '' : ' class="note"'}>${inlineHtml(block.html)}</p>`;
    case 'heading':
      return `<h3>${esc(block.text)}</h3>`;
    case 'rendered':
      return block.html;
  }
}

function sectionHtml(section: Section): string {
  const id = section.id === undefined ? '' : ` id="${esc(section.id)}"`;
  const code = section.titleCode === undefined ? '' : ` <code>${esc(section.titleCode)}</code>`;
  const blocks = section.blocks.map(blockHtml).filter((html) => html !== '');
  return [`<h2${id}>${esc(section.htmlTitle ?? section.title)}${code}</h2>`, ...blocks].join('\n');
}

const percent = (v: number): string => `${Math.round(v * 100)}%`;

/** The three charts: latency CDFs, match rate and error rate over time. */
function chartsHtml(report: Report): string {
  const { latency, timeline } = report;
  const bucketLabel = `time (UTC, ${formatDuration(timeline.bucketMs)} buckets)`;
  const times = timeline.buckets.map((b) => Date.parse(b.start) + timeline.bucketMs / 2);
  const over = (value: (b: (typeof timeline.buckets)[number]) => number | null): ([number, number] | null)[] =>
    timeline.buckets.map((b, i) => {
      const v = value(b);
      return v === null ? null : [times[i] ?? 0, v];
    });
  const errorShare = (b: (typeof timeline.buckets)[number]): number | null => (b.shadowCalls === 0 ? null : b.shadowErrors / b.shadowCalls);
  const charts = [
    ['Latency CDF', lineChart({
      id: 'latency-cdf', title: 'Latency CDF of production and shadow', x: { scale: 'log', label: 'latency (log scale)' }, y: { max: 1, format: percent, label: 'requests at or below' },
      series: [{ name: 'production', color: PRODUCTION_COLOUR, points: latency.production.cdf, step: true }, { name: 'shadow', color: SHADOW_COLOUR, points: latency.shadow.cdf, step: true }],
    })],
    ['Match rate over time', lineChart({
      id: 'match-rate', title: 'Match rate over time', x: { scale: 'time', label: bucketLabel }, y: { max: 1, format: percent, label: 'match rate' },
      series: [{ name: 'match rate', color: MATCH_COLOUR, points: over((b) => (b.comparisons === 0 ? null : b.matches / b.comparisons)) }],
    })],
    ['Shadow error rate over time', lineChart({
      id: 'error-rate', title: 'Shadow error rate over time', x: { scale: 'time', label: bucketLabel },
      y: { max: Math.max(0.05, ...timeline.buckets.map((b) => errorShare(b) ?? 0)), format: (v) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`, label: 'share of shadow calls' },
      series: [
        { name: 'errors', color: ERROR_COLOUR, points: over(errorShare) },
        { name: 'timeouts', color: TIMEOUT_COLOUR, points: over((b) => (b.shadowCalls === 0 ? null : b.timeouts / b.shadowCalls)) },
      ],
    })],
  ];
  return `<h2>Charts</h2><div class="charts">\n${charts.map(([caption, svg]) => `<figure><figcaption>${esc(caption as string)}</figcaption>${svg as string}</figure>`).join('\n')}\n</div>`;
}

/** The headline figures as cards. */
function cardsHtml(report: Report): string {
  const { totals, match, latency } = report;
  const cards: [string, string, string][] = [
    match.withoutNoise.total > 0
      ? ['Noise-free match', formatPercent(match.withoutNoise.rate), `95% CI ${formatInterval(match.withoutNoise)}; raw ${formatPercent(match.overall.rate)}`]
      : ['Match rate', formatPercent(match.overall.rate), `95% CI ${formatInterval(match.overall)}`],
    ['Compared', formatCount(totals.comparisons), `of ${formatCount(totals.mirrored)} mirrored`],
    ['Shadow errors', formatCount(totals.shadowErrors), `${formatCount(totals.timeouts)} timeouts`],
    ['p50 latency', `${formatMs(latency.shadow.p50)} ms`, `production ${formatMs(latency.production.p50)} ms (${formatRatio(latency.ratio.p50)})`],
    ['p99 latency', `${formatMs(latency.shadow.p99)} ms`, `production ${formatMs(latency.production.p99)} ms (${formatRatio(latency.ratio.p99)})`],
  ];
  return `<div class="cards">${cards.map(([k, v, n]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="note">${esc(n)}</div></div>`).join('')}</div>`;
}

/** The page's head, title line and verdict. */
function headHtml(report: Report): string[] {
  const { verdict } = report;
  const fileCount = report.reading?.files.length ?? 0;
  const filters = [
    report.filters.route === null ? null : `route ${report.filters.route}`,
    report.filters.since === null ? null : `since ${formatTime(report.filters.since)}`,
    report.filters.until === null ? null : `until ${formatTime(report.filters.until)}`,
  ].filter((f) => f !== null);
  const status = verdict.status === 'none' ? 'NOT JUDGED' : verdict.status.toUpperCase();
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>express-shadow report${report.period.from === null ? '' : ` ${esc(formatTime(report.period.from))}`}</title>`,
    `<style>${CSS}</style></head><body><main>`,
    '<h1>express-shadow report</h1>',
    `<p class="sub">${esc(formatTime(report.period.from))} → ${esc(formatTime(report.period.to))}` +
      (report.reading === null ? '' : ` · ${fileCount} file${fileCount === 1 ? '' : 's'}`) +
      (filters.length > 0 ? ` · ${esc(filters.join(', '))}` : '') +
      '</p>',
    `<div class="verdict ${verdict.status}" id="verdict">${esc(status)}${verdict.score === null ? '' : ` · score ${verdict.score}/100`} — ${esc(verdict.headline)}` +
      `<div class="summary">${esc(verdict.summary.replace(/^[A-Z]+ \(score [^)]*\): /, 'Criteria: '))}</div></div>`,
    ...(verdict.noiseNote === null ? [] : [`<p class="note" id="noise-note">${esc(verdict.noiseNote)}</p>`]),
    criteriaHtml(verdict.criteria),
  ];
}

export function renderHtml(report: Report): string {
  return [...headHtml(report), cardsHtml(report), chartsHtml(report), ...reportSections(report).map(sectionHtml), '</main></body></html>\n'].join('\n');
}
