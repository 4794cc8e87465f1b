/**
 * The report's similarity section, as text lines and as HTML: per target and route the score distribution (median
 * with its interval, share under the threshold), per path the same, the lowest-scoring pairs with both texts, and the
 * embed and judge hooks' scores. In HTML each target's histogram is drawn beside the secondary's. Texts come from the
 * logs, already masked; here they are escaped (HTML) and cut.
 */
import { formatCount, formatInterval, formatPercent } from './format.js';
import type { JudgementFigures, SimilarityCell, SimilarityFigures } from './similarity.js';
import { escapeXml as esc } from './svg-chart.js';

const CANDIDATE_COLOUR = '#ea580c';
const SECONDARY_COLOUR = '#2563eb';
const TEXT_IN_TERMINAL = 240;

function score(value: number | null): string {
  return value === null ? '–' : value.toFixed(2);
}

function interval(cell: SimilarityCell): string {
  return cell.low === null || cell.high === null ? '–' : `${cell.low.toFixed(2)}–${cell.high.toFixed(2)}`;
}

function who(target: string, role: 'candidate' | 'secondary'): string {
  return role === 'secondary' ? `${target} (replica)` : target;
}

function columns(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => indent + row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
}

function cut(text: string | null, max: number): string {
  if (text === null) return '(not logged)';
  const oneLine = text.replace(/\s+/g, ' ');
  return JSON.stringify(oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine);
}

function hookLine(j: JudgementFigures): string {
  const failed = Object.entries(j.failed).map(([code, n]) => `${code} ${formatCount(n)}`).join(', ');
  return `${who(j.target, j.role)} ${j.hook}: ${formatCount(j.count)} scores, median ${score(j.median)}, p10 ${score(j.p10)}${failed ? `; failed: ${failed}` : ''}`;
}

function judgingLine(judging: NonNullable<SimilarityFigures['judging']>): string {
  const counts = (map: Record<string, number>): string => Object.entries(map).map(([k, n]) => `${k} ${formatCount(n)}`).join(', ') || 'none';
  return `hooks: ${formatCount(judging.sampled)} comparisons sampled, ${formatCount(judging.calls)} calls, ${formatCount(judging.succeeded)} scored; failed: ${counts(judging.failed)}; not called: ${counts(judging.skipped)}`;
}

/** What the text heading line says after the title. */
export const SIMILARITY_TEXT_DETAIL = ' (each comparison\'s lowest text score against production; median with 95% CI)';

/** The section's body as plain-text lines (the heading is the section's). */
export function similarityTextLines(figures: SimilarityFigures): string[] {
  const out: string[] = [];
  if (figures.cells.length > 0) {
    const rows = [['target', 'route', 'scored', 'median', '95% CI', 'under', 'threshold']];
    for (const c of figures.cells) rows.push([who(c.target, c.role), c.route ?? 'all routes', formatCount(c.count), score(c.median), interval(c), formatPercent(c.below.rate), score(c.threshold)]);
    out.push(...columns(rows));
  }
  if (figures.paths.length > 1 || figures.otherPaths > 0) {
    out.push('  by path (all routes):');
    const rows = [['target', 'path', 'measure', 'scored', 'median', 'under']];
    for (const p of figures.paths) rows.push([who(p.target, p.role), p.path, p.measure, formatCount(p.count), score(p.median), formatPercent(p.below.rate)]);
    out.push(...columns(rows, '    '));
    if (figures.otherPaths > 0) out.push(`    ${formatCount(figures.otherPaths)} scores at paths beyond the 20 tracked per target`);
  }
  if (figures.lowest.length > 0) {
    out.push('  lowest-scoring pairs:');
    for (const pair of figures.lowest) {
      out.push(`    ${pair.target} ${score(pair.score)} at ${pair.path}, ${pair.route}, request ${pair.requestId}`);
      out.push(`      production: ${cut(pair.production, TEXT_IN_TERMINAL)}`);
      out.push(`      candidate:  ${cut(pair.candidate, TEXT_IN_TERMINAL)}`);
    }
  }
  for (const j of figures.judgements) {
    out.push(`  ${hookLine(j)}`);
    for (const low of j.lowest.filter((l) => l.reason !== null)) out.push(`    ${score(low.score)} ${low.requestId}: ${cut(low.reason, TEXT_IN_TERMINAL)}`);
  }
  if (figures.judging !== null) out.push(`  ${judgingLine(figures.judging)}`);
  return out;
}

/** A histogram of one target's scores (share per 0.05 bin) beside the secondary's. */
function histogramSvg(id: string, candidate: SimilarityCell, secondary: SimilarityCell | undefined): string {
  const width = 480;
  const height = 200;
  const left = 44;
  const bottom = 34;
  const top = 24;
  const plotWidth = width - left - 12;
  const plotHeight = height - top - bottom;
  const sides = [candidate, ...(secondary ? [secondary] : [])];
  const shares = sides.map((c) => c.histogram.map((n) => (c.count === 0 ? 0 : n / c.count)));
  const max = Math.max(0.05, ...shares.flat());
  const slot = plotWidth / 20;
  const barWidth = (slot - 2) / sides.length;
  const bars = shares.flatMap((values, side) =>
    values.map((share, bin) => {
      const h = (share / max) * plotHeight;
      const x = left + bin * slot + 1 + side * barWidth;
      return `<rect x="${x.toFixed(1)}" y="${(top + plotHeight - h).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${side === 0 ? CANDIDATE_COLOUR : SECONDARY_COLOUR}"><title>${esc(`${sides[side]!.target}: ${(bin * 0.05).toFixed(2)}–${((bin + 1) * 0.05).toFixed(2)} ${formatPercent(share)}`)}</title></rect>`;
    }),
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((v) => `<text class="tick" x="${(left + v * plotWidth).toFixed(1)}" y="${height - bottom + 14}" text-anchor="middle">${v}</text>`);
  const legend = sides.map((c, i) => `<rect x="${left + i * 170}" y="6" width="10" height="10" fill="${i === 0 ? CANDIDATE_COLOUR : SECONDARY_COLOUR}"/><text class="legend" x="${left + 14 + i * 170}" y="15">${esc(who(c.target, c.role))} (n=${formatCount(c.count)})</text>`);
  const threshold = candidate.threshold === null ? '' : `<line x1="${(left + candidate.threshold * plotWidth).toFixed(1)}" x2="${(left + candidate.threshold * plotWidth).toFixed(1)}" y1="${top}" y2="${top + plotHeight}" stroke="#6b7280" stroke-dasharray="4 3"><title>threshold ${candidate.threshold}</title></line>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" id="${esc(id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(`similarity histogram of ${candidate.target}`)}">` +
    `<rect class="plot" x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}"/>${bars.join('')}${threshold}${ticks.join('')}${legend.join('')}` +
    `<text class="axis-label" x="${left + plotWidth / 2}" y="${height - 4}" text-anchor="middle">similarity to production</text></svg>`
  );
}

/** The section's body as HTML (the heading is the section's). */
export function similarityHtml(figures: SimilarityFigures): string {
  const s: string[] = [];
  s.push('<p class="note">Each comparison counts its lowest text score (<code>compare.similarity</code>) against production. The median\'s 95% interval is distribution-free (order statistics). "Under": comparisons with a score under its path\'s threshold, which is what makes them mismatches.</p>');
  if (figures.cells.length > 0) {
    const rows = figures.cells.map((c) => [who(c.target, c.role), c.route ?? 'all routes', formatCount(c.count), score(c.median), interval(c), formatPercent(c.below.rate), formatInterval(c.below), score(c.threshold)]);
    s.push(table(['target', 'route', 'scored', 'median', '95% CI', 'under', '95% CI', 'threshold'], rows, 2));
    const overall = figures.cells.filter((c) => c.route === null);
    const secondary = overall.find((c) => c.role === 'secondary');
    const charts = overall.filter((c) => c.role === 'candidate').map((c, i) => `<figure><figcaption>${esc(c.target)}${secondary ? ' beside production\'s replica' : ''}</figcaption>${histogramSvg(`similarity-${i}`, c, secondary)}</figure>`);
    if (charts.length === 0 && secondary) charts.push(`<figure><figcaption>${esc(who(secondary.target, 'secondary'))}</figcaption>${histogramSvg('similarity-secondary', secondary, undefined)}</figure>`);
    if (charts.length > 0) s.push(`<div class="charts">${charts.join('')}</div>`);
  }
  if (figures.paths.length > 0) {
    s.push(table(['target', 'path', 'measure', 'scored', 'median', 'under', 'threshold'], figures.paths.map((p) => [who(p.target, p.role), p.path, p.measure, formatCount(p.count), score(p.median), formatPercent(p.below.rate), score(p.threshold)]), 3));
  }
  if (figures.lowest.length > 0) {
    s.push('<h3>Lowest-scoring pairs</h3>');
    const rows = figures.lowest.map(
      (p) =>
        `<tr><td class="l">${esc(p.target)}</td><td>${score(p.score)}</td><td class="l"><code>${esc(p.path)}</code><br>${esc(p.route)}<br><code>${esc(p.requestId)}</code></td>` +
        `<td class="wrap">${esc(p.production ?? '(not logged)')}</td><td class="wrap">${esc(p.candidate ?? '(not logged)')}</td></tr>`,
    );
    s.push(`<table><thead><tr><th class="l">target</th><th>score</th><th class="l">where</th><th class="l">production</th><th class="l">candidate</th></tr></thead><tbody>${rows.join('')}</tbody></table>`);
  }
  if (figures.judgements.length > 0) {
    s.push('<h3>Embedding and judge hooks</h3>');
    for (const j of figures.judgements) {
      s.push(`<p>${esc(hookLine(j))}</p>`);
      const reasons = j.lowest.filter((l) => l.reason !== null);
      if (reasons.length > 0) s.push(`<ul>${reasons.map((l) => `<li>${score(l.score)} <code>${esc(l.requestId)}</code>: ${esc(l.reason!)}</li>`).join('')}</ul>`);
    }
  }
  if (figures.judging !== null) s.push(`<p class="note">${esc(judgingLine(figures.judging))}</p>`);
  return s.join('\n');
}

function table(head: string[], rows: string[][], leftColumns: number): string {
  const th = head.map((h, i) => `<th${i < leftColumns ? ' class="l"' : ''}>${esc(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell, i) => `<td${i < leftColumns ? ' class="l"' : ''}>${esc(cell)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}
