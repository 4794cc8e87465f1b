/**
 * One self-contained HTML page: inline CSS, charts pre-drawn as SVG, no script, no external resource (a CSP forbids
 * them). Every string from the logs is escaped.
 */
import {
  describeCounts,
  plural,
  formatCount,
  formatInterval,
  formatMs,
  formatNumber,
  formatPercent,
  formatRatio,
  formatTime,
  formatDuration,
  requestFaultRows,
} from './format.js';
import { escapeXml as esc, lineChart } from './svg-chart.js';
import { similarityHtml } from './similarity-render.js';
import type { CriterionResult, LatencyFigures, LatencyRatio, Rate, Report } from './types.js';

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
  return `<details id="criteria"${criteria.some((c) => c.status === 'fail' || c.status === 'marginal') ? ' open' : ''}><summary>Criteria (${criteria.length})</summary>${tableHtml(['status', 'criterion', 'reason', 'test'], rows, 3, true)}</details>`;
}

function rateCell(rate: Rate): string {
  return `<td>${esc(formatPercent(rate.rate))}</td><td>${esc(formatInterval(rate))}</td>`;
}

function tableHtml(head: string[], rows: string[][], leftColumns = 1, raw = false): string {
  const th = head.map((h, i) => `<th${i < leftColumns ? ' class="l"' : ''}>${esc(h)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell, i) => (raw && cell.startsWith('<td') ? cell : `<td${i < leftColumns ? ' class="l"' : ''}>${esc(cell)}</td>`)).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function matrixHtml(corner: string, rowsLabels: string[], columns: string[], counts: number[][], diagonal: (row: string, column: string) => boolean): string {
  const head = `<tr><th class="l">${esc(corner)}</th>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = rowsLabels
    .map((r, i) => {
      const cells = columns
        .map((c, j) => {
          const n = counts[i]?.[j] ?? 0;
          const cls = n === 0 ? '' : diagonal(r, c) ? ' class="diag"' : ' class="off"';
          return `<td${cls}>${n === 0 ? '·' : esc(formatCount(n))}</td>`;
        })
        .join('');
      return `<tr><th class="l">${esc(r)}</th>${cells}</tr>`;
    })
    .join('');
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function latencyRow(name: string, figures: LatencyFigures, count = figures.count): string[] {
  return [name, formatCount(count), formatMs(figures.p50), formatMs(figures.p90), formatMs(figures.p99), formatMs(figures.max)];
}

function ratioRow(name: string, ratio: LatencyRatio): string[] {
  return [name, '', formatRatio(ratio.p50), formatRatio(ratio.p90), formatRatio(ratio.p99), formatRatio(ratio.max)];
}

export function renderHtml(report: Report): string {
  const { totals, match, latency, differences, verdict, timeline } = report;
  const percent = (v: number): string => `${Math.round(v * 100)}%`;
  const bucketLabel = `time (UTC, ${formatDuration(timeline.bucketMs)} buckets)`;
  const times = timeline.buckets.map((b) => Date.parse(b.start) + timeline.bucketMs / 2);

  const charts = [
    {
      caption: 'Latency CDF',
      svg: lineChart({
        id: 'latency-cdf',
        title: 'Latency CDF of production and shadow',
        x: { scale: 'log', label: 'latency (log scale)' },
        y: { max: 1, format: percent, label: 'requests at or below' },
        series: [
          { name: 'production', color: PRODUCTION_COLOUR, points: latency.production.cdf, step: true },
          { name: 'shadow', color: SHADOW_COLOUR, points: latency.shadow.cdf, step: true },
        ],
      }),
    },
    {
      caption: 'Match rate over time',
      svg: lineChart({
        id: 'match-rate',
        title: 'Match rate over time',
        x: { scale: 'time', label: bucketLabel },
        y: { max: 1, format: percent, label: 'match rate' },
        series: [
          {
            name: 'match rate',
            color: MATCH_COLOUR,
            points: timeline.buckets.map((b, i) => (b.comparisons === 0 ? null : [times[i] ?? 0, b.matches / b.comparisons])),
          },
        ],
      }),
    },
    {
      caption: 'Shadow error rate over time',
      svg: lineChart({
        id: 'error-rate',
        title: 'Shadow error rate over time',
        x: { scale: 'time', label: bucketLabel },
        y: {
          max: Math.max(0.05, ...timeline.buckets.map((b) => (b.shadowCalls === 0 ? 0 : b.shadowErrors / b.shadowCalls))),
          format: (v) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`,
          label: 'share of shadow calls',
        },
        series: [
          {
            name: 'errors',
            color: ERROR_COLOUR,
            points: timeline.buckets.map((b, i) => (b.shadowCalls === 0 ? null : [times[i] ?? 0, b.shadowErrors / b.shadowCalls])),
          },
          {
            name: 'timeouts',
            color: TIMEOUT_COLOUR,
            points: timeline.buckets.map((b, i) => (b.shadowCalls === 0 ? null : [times[i] ?? 0, b.timeouts / b.shadowCalls])),
          },
        ],
      }),
    },
  ];

  const s: string[] = [];
  s.push('<!doctype html><html lang="en"><head><meta charset="utf-8">');
  s.push(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  s.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  s.push(`<title>express-shadow report${report.period.from === null ? '' : ` ${esc(formatTime(report.period.from))}`}</title>`);
  s.push(`<style>${CSS}</style></head><body><main>`);
  s.push('<h1>express-shadow report</h1>');
  const fileCount = report.reading?.files.length ?? 0;
  const filters = [
    report.filters.route === null ? null : `route ${report.filters.route}`,
    report.filters.since === null ? null : `since ${formatTime(report.filters.since)}`,
    report.filters.until === null ? null : `until ${formatTime(report.filters.until)}`,
  ].filter((f) => f !== null);
  s.push(
    `<p class="sub">${esc(formatTime(report.period.from))} → ${esc(formatTime(report.period.to))}` +
      (report.reading === null ? '' : ` · ${fileCount} file${fileCount === 1 ? '' : 's'}`) +
      (filters.length > 0 ? ` · ${esc(filters.join(', '))}` : '') +
      '</p>',
  );
  const status = verdict.status === 'none' ? 'NOT JUDGED' : verdict.status.toUpperCase();
  s.push(
    `<div class="verdict ${verdict.status}" id="verdict">${esc(status)}${verdict.score === null ? '' : ` · score ${verdict.score}/100`} — ${esc(verdict.headline)}` +
      `<div class="summary">${esc(verdict.summary.replace(/^[A-Z]+ \(score [^)]*\): /, 'Criteria: '))}</div></div>`,
  );
  if (verdict.noiseNote !== null) s.push(`<p class="note" id="noise-note">${esc(verdict.noiseNote)}</p>`);
  s.push(criteriaHtml(verdict.criteria));

  const noiseFree = match.withoutNoise.total > 0;
  const cards: [string, string, string][] = [
    noiseFree
      ? ['Noise-free match', formatPercent(match.withoutNoise.rate), `95% CI ${formatInterval(match.withoutNoise)}; raw ${formatPercent(match.overall.rate)}`]
      : ['Match rate', formatPercent(match.overall.rate), `95% CI ${formatInterval(match.overall)}`],
    ['Compared', formatCount(totals.comparisons), `of ${formatCount(totals.mirrored)} mirrored`],
    ['Shadow errors', formatCount(totals.shadowErrors), `${formatCount(totals.timeouts)} timeouts`],
    ['p50 latency', `${formatMs(latency.shadow.p50)} ms`, `production ${formatMs(latency.production.p50)} ms (${formatRatio(latency.ratio.p50)})`],
    ['p99 latency', `${formatMs(latency.shadow.p99)} ms`, `production ${formatMs(latency.production.p99)} ms (${formatRatio(latency.ratio.p99)})`],
  ];
  s.push(`<div class="cards">${cards.map(([k, v, n]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="note">${esc(n)}</div></div>`).join('')}</div>`);

  s.push('<h2>Charts</h2><div class="charts">');
  for (const chart of charts) s.push(`<figure><figcaption>${esc(chart.caption)}</figcaption>${chart.svg}</figure>`);
  s.push('</div>');

  s.push('<h2>Totals</h2>');
  s.push(
    tableHtml(
      ['', 'count', 'detail'],
      [
        ['requests seen', formatCount(totals.requestsSeen), `mirrored + skipped + not mirrored`],
        ['mirrored', formatCount(totals.mirrored), `${formatCount(totals.production)} production, ${plural(totals.shadowCalls, 'shadow call')}`],
        ['compared', formatCount(totals.comparisons), ''],
        ['skipped', formatCount(totals.skipped), describeCounts(totals.skippedByReason)],
        ['not mirrored', formatCount(totals.notMirrored), report.filters.route === null ? describeCounts(totals.notMirroredByReason) : 'not counted per route'],
        ['shadow errors', formatCount(totals.shadowErrors), describeCounts(totals.shadowErrorsByCode)],
        ...requestFaultRows(totals),
        ['timeouts', formatCount(totals.timeouts), ''],
        ['shadow 5xx', formatCount(totals.shadow5xx), ''],
        ['orphans: production without shadow', formatCount(totals.orphans.noShadow), ''],
        ['orphans: shadow without production', formatCount(totals.orphans.noProduction), ''],
        ['late records', formatCount(totals.orphans.late), 'records for a request already joined'],
      ],
    ).replace(/<td>([^<]*)<\/td><\/tr>/g, '<td class="l">$1</td></tr>'),
  );

  s.push('<h2>Match rate by route</h2>');
  s.push(
    tableHtml(
      ['route', 'requests', 'compared', ...(noiseFree ? ['noise-free', '95% CI'] : []), 'matches', 'raw', '95% CI', 'errors', 'timeouts', 'p50 prod', 'p50 shadow', 'p99 prod', 'p99 shadow'],
      [
        [
          '<td class="l"><strong>all</strong></td>',
          `<td>${formatCount(totals.production)}</td>`,
          `<td>${formatCount(match.overall.total)}</td>`,
          ...(noiseFree ? [rateCell(match.withoutNoise)] : []),
          `<td>${formatCount(match.overall.count)}</td>`,
          rateCell(match.overall),
          `<td>${formatCount(totals.shadowErrors)}</td>`,
          `<td>${formatCount(totals.timeouts)}</td>`,
          `<td>${esc(formatMs(latency.production.p50))}</td>`,
          `<td>${esc(formatMs(latency.shadow.p50))}</td>`,
          `<td>${esc(formatMs(latency.production.p99))}</td>`,
          `<td>${esc(formatMs(latency.shadow.p99))}</td>`,
        ],
        ...match.byRoute.map((r) => [
          `<td class="l"><code>${esc(r.route)}</code></td>`,
          `<td>${formatCount(r.requests)}</td>`,
          `<td>${formatCount(r.match.total)}</td>`,
          ...(noiseFree ? [rateCell(r.withoutNoise)] : []),
          `<td>${formatCount(r.match.count)}</td>`,
          rateCell(r.match),
          `<td>${formatCount(r.shadowErrors)}</td>`,
          `<td>${formatCount(r.timeouts)}</td>`,
          `<td>${esc(formatMs(r.productionP50))}</td>`,
          `<td>${esc(formatMs(r.shadowP50))}</td>`,
          `<td>${esc(formatMs(r.productionP99))}</td>`,
          `<td>${esc(formatMs(r.shadowP99))}</td>`,
        ]),
      ],
      1,
      true,
    ),
  );
  s.push(`<p class="note">Status match: ${esc(formatPercent(match.statusMatch.rate))} of comparisons (95% CI ${esc(formatInterval(match.statusMatch))}). Intervals are 95% Wilson score intervals.</p>`);
  if (match.withoutNoise.total > 0 || match.secondary.total > 0) {
    s.push(
      `<p class="note">Noise-free: <code>matchWithoutNoise</code>, ignoring paths where production also differed from its replica, over ${formatCount(match.withoutNoise.total)} comparisons. ` +
        `Noise floor, production against its own replica: ${esc(formatPercent(match.secondary.rate))} (${esc(formatInterval(match.secondary))}) over ${formatCount(match.secondary.total)}.</p>`,
    );
  }
  if (totals.comparatorErrors > 0) s.push(`<p class="note">Comparator errors: ${formatCount(totals.comparatorErrors)} (counted as mismatches).</p>`);
  if (match.byTarget.length > 1) {
    s.push('<h2 id="candidates">Candidates</h2><p class="note">Each candidate against production. A <code>--fail-under-match</code> gate applies to each: every candidate must reach it.</p>');
    const noiseAware = match.byTarget.some((t) => t.withoutNoise.total > 0);
    s.push(
      tableHtml(
        ['candidate', 'calls', 'compared', ...(noiseAware ? ['noise-free', '95% CI', 'noise-aware'] : []), 'matches', 'raw', '95% CI', 'errors', 'timeouts', '5xx'],
        match.byTarget.map((t) => [
          `<td class="l"><code>${esc(t.target)}</code></td>`,
          `<td>${formatCount(t.shadowCalls)}</td>`,
          `<td>${formatCount(t.match.total)}</td>`,
          ...(noiseAware ? [rateCell(t.withoutNoise), `<td>${formatCount(t.withoutNoise.total)}</td>`] : []),
          `<td>${formatCount(t.match.count)}</td>`,
          rateCell(t.match),
          `<td>${formatCount(t.shadowErrors)}</td>`,
          `<td>${formatCount(t.timeouts)}</td>`,
          `<td>${formatCount(t.shadow5xx)}</td>`,
        ]),
        1,
        true,
      ),
    );
    if (noiseAware) {
      s.push('<p class="note">Noise-free: <code>matchWithoutNoise</code> over the comparisons where the secondary answered too (noise-aware).</p>');
    }
    s.push('<h3>Match by route and candidate</h3>');
    s.push(
      tableHtml(
        ['route', 'candidate', 'compared', ...(noiseAware ? ['noise-free', '95% CI'] : []), 'raw', '95% CI'],
        match.byRouteTarget.map((rt) => [
          `<td class="l"><code>${esc(rt.route)}</code></td>`,
          `<td class="l"><code>${esc(rt.target)}</code></td>`,
          `<td>${formatCount(rt.match.total)}</td>`,
          ...(noiseAware ? [rateCell(rt.withoutNoise)] : []),
          rateCell(rt.match),
        ]),
        2,
        true,
      ),
    );
    s.push(
      tableHtml(
        ['latency (ms)', 'count', 'p50', 'p90', 'p99', 'max'],
        [latencyRow('production', latency.production), ...match.byTarget.flatMap((t) => [latencyRow(t.target, t.latency), ratioRow(`${t.target} / production`, t.ratio)])],
      ),
    );
  }

  s.push('<h2>Status agreement</h2><p class="note">Rows: production status. Columns: shadow status, or the error code when the shadow call failed.</p>');
  const st = report.statusAgreement;
  s.push(st.production.length === 0 ? '<p>No production/shadow pairs.</p>' : matrixHtml('production \\ shadow', st.production, st.shadow, st.counts, (r, c) => r === c));

  s.push('<h2>Latency (ms)</h2>');
  s.push(
    tableHtml(
      ['', 'count', 'p50', 'p90', 'p99', 'max'],
      [
        latencyRow('production', latency.production),
        latencyRow('shadow', latency.shadow),
        ratioRow('shadow / production', latency.ratio),
      ],
    ),
  );
  s.push('<p class="note">Percentiles are within 2% of the exact value (log-bucketed histogram); max is exact. Shadow latency counts calls that got an answer.</p>');

  const similarity = similarityHtml(report.similarity ?? null);
  if (similarity !== '') s.push(similarity);

  const streaming = report.streaming;
  if (streaming !== null) {
    const sides = [streaming.production, ...streaming.candidates];
    s.push('<h2 id="streaming">Streaming</h2><p class="note">Answers with stream measurements only (no content-length, or an event-stream / JSON-lines type).</p>');
    s.push(tableHtml(['time to first byte (ms)', 'answers', 'p50', 'p90', 'p99', 'max'], sides.map((side) => latencyRow(side.name, side.ttfb, side.answers))));
    s.push(tableHtml(['total time (ms)', 'answers', 'p50', 'p90', 'p99', 'max'], sides.map((side) => latencyRow(side.name, side.total, side.answers))));
    s.push(
      tableHtml(
        ['median per answer', 'chunks', 'events'],
        sides.map((side) => [side.name, side.chunksP50 === null ? '–' : formatNumber(side.chunksP50), side.eventsP50 === null ? '–' : formatNumber(side.eventsP50)]),
      ),
    );
  }

  s.push('<h2>Most frequent differing paths</h2>');
  if (differences.paths.length === 0) s.push('<p>None.</p>');
  else {
    s.push(
      tableHtml(
        ['path', 'count', 'example requestIds'],
        differences.paths.map((p) => [`<td class="l"><code>${esc(p.path)}</code></td>`, `<td>${formatCount(p.count)}</td>`, `<td class="l"><code>${esc(p.exampleRequestIds.join(', '))}</code></td>`]),
        1,
        true,
      ),
    );
    if (differences.distinctPaths > differences.paths.length || differences.otherPaths > 0 || differences.truncatedLists > 0) {
      s.push(
        `<p class="note">${formatCount(differences.distinctPaths)} distinct paths; ${formatCount(differences.otherPaths)} differences beyond the path cap; ${formatCount(differences.truncatedLists)} comparisons with a cut list of differences.</p>`,
      );
    }
  }
  if (differences.numeric.length > 0) {
    s.push('<h2>Numeric differences</h2>');
    s.push(
      tableHtml(
        ['path', 'count', 'mean |Δ|', 'max |Δ|'],
        differences.numeric.map((n) => [`<td class="l"><code>${esc(n.path)}</code></td>`, `<td>${formatCount(n.count)}</td>`, `<td>${esc(formatNumber(n.meanAbsoluteDifference))}</td>`, `<td>${esc(formatNumber(n.maxAbsoluteDifference))}</td>`]),
        1,
        true,
      ),
    );
  }

  const noise = report.noise;
  if (noise !== null) {
    s.push('<h2 id="noise">Noise</h2>');
    s.push(
      `<p class="note">Production against its replica ${esc(noise.targets.join(', '))}: ${esc(plural(noise.comparisons, 'comparison'))}` +
        (noise.errors > 0 ? `; ${formatCount(noise.errors)} of ${esc(plural(noise.calls, 'call'))} failed` : '') +
        '. Rate: share of those comparisons that differed at the path. Marked in candidates: candidate differences at the path that the replica also had for the same request.</p>',
    );
    if (noise.paths.length === 0) s.push(`<p>${noise.comparisons === 0 ? 'Nothing compared.' : 'None: production and its replica never differed.'}</p>`);
    else {
      s.push(
        tableHtml(
          ['path', 'differed', 'rate', '95% CI', 'marked in candidates'],
          noise.paths.map((p) => [`<td class="l"><code>${esc(p.path)}</code></td>`, `<td>${formatCount(p.rate.count)}</td>`, rateCell(p.rate), `<td>${formatCount(p.markedInCandidates)}</td>`]),
          1,
          true,
        ),
      );
      if (noise.distinctPaths > noise.paths.length || noise.otherPaths > 0) {
        s.push(`<p class="note">${formatCount(noise.distinctPaths)} distinct paths; ${formatCount(noise.otherPaths)} differences beyond the path cap.</p>`);
      }
    }
  }

  const labels = report.labels;
  if (labels !== null) {
    s.push(`<h2>Labels at <code>${esc(labels.path)}</code></h2>`);
    s.push(
      `<p>Agreement ${esc(formatPercent(labels.agreement.rate))} (${formatCount(labels.agreement.count)} of ${formatCount(labels.agreement.total)}, 95% CI ${esc(formatInterval(labels.agreement))})` +
        (labels.missing > 0 ? `; ${formatCount(labels.missing)} pair${labels.missing === 1 ? '' : 's'} without a label left out` : '') +
        '.</p>',
    );
    if (labels.labels.length > 0) {
      s.push(matrixHtml('production \\ shadow', labels.labels, labels.labels, labels.matrix, (r, c) => r === c));
      s.push(
        tableHtml(
          ['label', 'production', 'shadow', 'agreed', 'rate', '95% CI'],
          labels.perLabel.map((l) => [`<td class="l">${esc(l.label)}</td>`, `<td>${formatCount(l.agreement.total)}</td>`, `<td>${formatCount(l.shadowCount)}</td>`, `<td>${formatCount(l.agreement.count)}</td>`, rateCell(l.agreement)]),
          1,
          true,
        ),
      );
    }
  }

  const breakers = report.breakers;
  if (breakers.transitions.length > 0 || Object.keys(breakers.openDrops).length > 0) {
    s.push('<h2>Circuit breaker</h2>');
    if (breakers.transitions.length > 0) {
      s.push(tableHtml(['time', 'target', 'state', 'reason'], breakers.transitions.map((t) => [formatTime(t.timestamp), t.target, t.state, t.reason]), 4));
    }
    if (breakers.moreTransitions > 0) s.push(`<p class="note">… and ${formatCount(breakers.moreTransitions)} more transitions.</p>`);
    if (Object.keys(breakers.openDrops).length > 0) s.push(`<p>Not sent while open: ${esc(describeCounts(breakers.openDrops))}.</p>`);
  }

  const reading = report.reading;
  if (reading !== null) {
    s.push('<h2>Reading</h2>');
    s.push(
      tableHtml(
        ['file', 'gzip', 'bytes', 'lines', 'records', 'unparseable', 'unrecognised', 'truncated', 'error'],
        reading.files.map((f) => [f.path, f.gzip ? 'yes' : '', formatCount(f.bytes), formatCount(f.lines), formatCount(f.records), formatCount(f.unparseable), formatCount(f.unrecognised), f.truncated ? 'yes' : '', f.error ?? '']),
      ),
    );
    s.push(
      `<p class="note">Joined ${formatCount(reading.entries)} requests: ${formatCount(reading.closedBy.complete)} complete, ${formatCount(reading.closedBy.time_window + reading.closedBy.count_window)} closed by the join window, ${formatCount(reading.closedBy.end_of_input)} at end of input; ${formatCount(reading.duplicates)} duplicate records; ${formatCount(reading.missingComparisons)} without their comparison; at most ${formatCount(reading.peakOpenEntries)} open at once.</p>`,
    );
    if (reading.badLines.length > 0) {
      s.push(tableHtml(['file', 'line', 'problem', 'text'], reading.badLines.map((b) => [b.file, String(b.line), b.problem, b.text]), 4));
    }
  }
  s.push('</main></body></html>\n');
  return s.join('\n');
}
