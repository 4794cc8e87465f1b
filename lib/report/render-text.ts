/**
 * Plain-text report for a terminal or a CI log: sections of aligned tables, colour only when asked for.
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
  requestFaultRows,
} from './format.js';
import { escapeControls } from './escape.js';
import { similarityTextLines } from './similarity-render.js';
import type { CriterionResult, LatencyFigures, LatencyRatio, Rate, Report } from './types.js';

export interface TextRenderOptions {
  /** ANSI colour and bold. Default false. */
  color?: boolean;
}

type Align = 'left' | 'right';

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

function latencyRow(name: string, figures: LatencyFigures, count = figures.count): string[] {
  return [name, formatCount(count), formatMs(figures.p50), formatMs(figures.p90), formatMs(figures.p99), formatMs(figures.max)];
}

function ratioRow(name: string, ratio: LatencyRatio): string[] {
  return [name, '', formatRatio(ratio.p50), formatRatio(ratio.p90), formatRatio(ratio.p99), formatRatio(ratio.max)];
}

const NUMBERS: Align[] = ['left', 'right', 'right', 'right', 'right', 'right'];

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

/** `95.1%  93.2%–96.6%` cells for a rate, or dashes. */
function rateCells(rate: Rate): string[] {
  return [formatPercent(rate.rate), formatInterval(rate)];
}

export function renderText(unsafeReport: Report, options: TextRenderOptions = {}): string {
  // Routes, targets, labels, paths and reasons come from the logs: no control character or escape reaches the terminal.
  const report = escapeControls(unsafeReport);
  const color = options.color === true;
  const paint = (code: string, text: string): string => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const heading = (text: string): string => paint('1', text);
  const out: string[] = [];
  const { totals, match, latency, differences } = report;

  const files = report.reading?.files.length ?? 0;
  out.push(
    heading('express-shadow report') +
      (report.reading === null ? '' : ` — ${files} file${files === 1 ? '' : 's'}`) +
      `, ${formatTime(report.period.from)} → ${formatTime(report.period.to)}`,
  );
  const filters = [
    report.filters.route === null ? null : `route ${report.filters.route}`,
    report.filters.since === null ? null : `since ${formatTime(report.filters.since)}`,
    report.filters.until === null ? null : `until ${formatTime(report.filters.until)}`,
  ].filter((f) => f !== null);
  if (filters.length > 0) out.push(`Filters: ${filters.join(', ')}`);
  out.push('');
  out.push(...verdictLines(report, paint));
  out.push('');

  out.push(heading('Totals'));
  const orphanTotal = totals.orphans.noShadow + totals.orphans.noProduction;
  const totalRows: string[][] = [
    [
      'requests seen',
      formatCount(totals.requestsSeen),
      `mirrored ${formatCount(totals.mirrored)} + skipped ${formatCount(totals.skipped)} + not mirrored ${formatCount(totals.notMirrored)}`,
    ],
    ['mirrored', formatCount(totals.mirrored), `${formatCount(totals.production)} production, ${plural(totals.shadowCalls, 'shadow call')}`],
    ['compared', formatCount(totals.comparisons), ''],
    ['skipped', formatCount(totals.skipped), describeCounts(totals.skippedByReason)],
    [
      'not mirrored',
      formatCount(totals.notMirrored),
      report.filters.route === null ? describeCounts(totals.notMirroredByReason) : 'not counted per route',
    ],
    ['shadow errors', formatCount(totals.shadowErrors), describeCounts(totals.shadowErrorsByCode)],
    ...requestFaultRows(totals),
    ['timeouts', formatCount(totals.timeouts), ''],
    ['shadow 5xx', formatCount(totals.shadow5xx), ''],
    [
      'orphans',
      formatCount(orphanTotal),
      `production without shadow ${formatCount(totals.orphans.noShadow)}, shadow without production ${formatCount(totals.orphans.noProduction)}` +
        (totals.orphans.late > 0 ? `; late records ${formatCount(totals.orphans.late)}` : ''),
    ],
  ];
  out.push(...table(totalRows, ['left', 'right', 'left']));
  out.push('');

  const noiseFree = match.withoutNoise.total > 0;
  out.push(heading('Match rate') + (noiseFree ? ' (noise-free first, raw beside it; 95% Wilson intervals)' : ' (95% Wilson interval)'));
  const matchRows: string[][] = [
    ['route', 'requests', 'compared', ...(noiseFree ? ['noise-free', '95% CI'] : []), 'matches', noiseFree ? 'raw' : 'rate', '95% CI', 'errors', 'p50 prod', 'p50 shadow'],
  ];
  matchRows.push([
    'all',
    formatCount(totals.production),
    formatCount(match.overall.total),
    ...(noiseFree ? rateCells(match.withoutNoise) : []),
    formatCount(match.overall.count),
    ...rateCells(match.overall),
    formatCount(totals.shadowErrors),
    formatMs(latency.production.p50),
    formatMs(latency.shadow.p50),
  ]);
  for (const r of match.byRoute) {
    matchRows.push([
      r.route,
      formatCount(r.requests),
      formatCount(r.match.total),
      ...(noiseFree ? rateCells(r.withoutNoise) : []),
      formatCount(r.match.count),
      ...rateCells(r.match),
      formatCount(r.shadowErrors),
      formatMs(r.productionP50),
      formatMs(r.shadowP50),
    ]);
  }
  out.push(...table(matchRows, ['left', ...Array.from({ length: noiseFree ? 10 : 8 }, (): Align => 'right')]));
  out.push(`  status match: ${formatPercent(match.statusMatch.rate)} of comparisons (${formatInterval(match.statusMatch)})`);
  if (noiseFree && match.withoutNoise.total < match.overall.total) {
    out.push(`  noise-free is over the ${plural(match.withoutNoise.total, 'comparison')} where the secondary answered too`);
  }
  if (match.secondary.total > 0) {
    out.push(`  noise floor: production matched its own replica on ${formatPercent(match.secondary.rate)} (${formatInterval(match.secondary)}) of ${plural(match.secondary.total, 'request')}`);
  }
  if (totals.comparatorErrors > 0) out.push(`  comparator errors: ${formatCount(totals.comparatorErrors)} (counted as mismatches)`);
  out.push('');

  if (match.byTarget.length > 1) {
    out.push(heading('Candidates') + ' (each against production; a --fail-under-match gate applies to each)');
    const noiseAware = match.byTarget.some((t) => t.withoutNoise.total > 0);
    out.push(
      ...table(
        [
          ['candidate', 'calls', 'compared', ...(noiseAware ? ['noise-free', '95% CI'] : []), 'matches', 'raw', '95% CI', 'errors', 'timeouts', '5xx'],
          ...match.byTarget.map((t) => [
            t.target,
            formatCount(t.shadowCalls),
            formatCount(t.match.total),
            ...(noiseAware ? rateCells(t.withoutNoise) : []),
            formatCount(t.match.count),
            ...rateCells(t.match),
            formatCount(t.shadowErrors),
            formatCount(t.timeouts),
            formatCount(t.shadow5xx),
          ]),
        ],
        ['left', ...Array.from({ length: noiseAware ? 11 : 9 }, (): Align => 'right')],
      ),
    );
    const partial = match.byTarget.filter((t) => t.withoutNoise.total > 0 && t.withoutNoise.total < t.match.total);
    if (partial.length > 0) {
      out.push(`  noise-free is over the comparisons where the secondary answered too: ${partial.map((t) => `${t.target} ${formatCount(t.withoutNoise.total)} of ${formatCount(t.match.total)}`).join(', ')}`);
    }
    out.push('');
    out.push(heading('Match by route and candidate'));
    out.push(
      ...table(
        [
          ['route', 'candidate', 'compared', ...(noiseAware ? ['noise-free', '95% CI'] : []), 'raw', '95% CI'],
          ...match.byRouteTarget.map((rt) => [rt.route, rt.target, formatCount(rt.match.total), ...(noiseAware ? rateCells(rt.withoutNoise) : []), ...rateCells(rt.match)]),
        ],
        ['left', 'left', ...Array.from({ length: noiseAware ? 5 : 3 }, (): Align => 'right')],
      ),
    );
    out.push('');
    out.push(
      ...table(
        [
          ['latency (ms)', 'count', 'p50', 'p90', 'p99', 'max'],
          latencyRow('production', latency.production),
          ...match.byTarget.flatMap((t) => [latencyRow(t.target, t.latency), ratioRow(`${t.target}/production`, t.ratio)]),
        ],
        NUMBERS,
      ),
    );
    out.push('');
  }

  const status = report.statusAgreement;
  out.push(heading('Status agreement') + ' (rows: production status, columns: shadow status or error)');
  if (status.production.length === 0) {
    out.push('  no production/shadow pairs');
  } else {
    const rows = [['', ...status.shadow]];
    status.production.forEach((p, i) => rows.push([p, ...(status.counts[i] ?? []).map((n) => (n === 0 ? '.' : formatCount(n)))]));
    out.push(...table(rows, ['left', ...status.shadow.map((): Align => 'right')]));
  }
  out.push('');

  out.push(heading('Latency') + ' (ms)');
  out.push(
    ...table(
      [
        ['', 'count', 'p50', 'p90', 'p99', 'max'],
        latencyRow('production', latency.production),
        latencyRow('shadow', latency.shadow),
        ratioRow('shadow/production', latency.ratio),
      ],
      NUMBERS,
    ),
  );
  out.push('');

  out.push(...similarityTextLines(report.similarity ?? null, heading));

  const streaming = report.streaming;
  if (streaming !== null) {
    const sides = [streaming.production, ...streaming.candidates];
    out.push(heading('Streaming') + ' (answers with stream measurements; ms)');
    // One table with three blocks, so their columns line up.
    const rows = [
      ['time to first byte', 'answers', 'p50', 'p90', 'p99', 'max'],
      ...sides.map((side) => latencyRow(side.name, side.ttfb, side.answers)),
      [''],
      ['total time', 'answers', 'p50', 'p90', 'p99', 'max'],
      ...sides.map((side) => latencyRow(side.name, side.total, side.answers)),
      [''],
      ['median per answer', 'chunks', 'events'],
      ...sides.map((side) => [side.name, side.chunksP50 === null ? '–' : formatNumber(side.chunksP50), side.eventsP50 === null ? '–' : formatNumber(side.eventsP50)]),
    ];
    out.push(...table(rows, NUMBERS).map((line) => line.trimEnd()));
    out.push('');
  }

  out.push(heading('Most frequent differing paths'));
  if (differences.paths.length === 0) {
    out.push('  none');
  } else {
    out.push(...table([['count', 'path', 'example requestIds'], ...differences.paths.map((p) => [formatCount(p.count), p.path, p.exampleRequestIds.join(', ')])], ['right', 'left', 'left']));
    const notes = [
      differences.distinctPaths > differences.paths.length ? `${formatCount(differences.distinctPaths)} distinct paths in all` : null,
      differences.otherPaths > 0 ? `${formatCount(differences.otherPaths)} differences at paths beyond the cap` : null,
      differences.truncatedLists > 0 ? `${formatCount(differences.truncatedLists)} comparisons had their list of differences cut` : null,
    ].filter((n) => n !== null);
    if (notes.length > 0) out.push(`  (${notes.join('; ')})`);
  }
  if (differences.numeric.length > 0) {
    out.push('');
    out.push(heading('Numeric differences'));
    out.push(
      ...table(
        [['path', 'count', 'mean |Δ|', 'max |Δ|'], ...differences.numeric.map((n) => [n.path, formatCount(n.count), formatNumber(n.meanAbsoluteDifference), formatNumber(n.maxAbsoluteDifference)])],
        ['left', 'right', 'right', 'right'],
      ),
    );
  }
  out.push('');

  const noise = report.noise;
  if (noise !== null) {
    out.push(
      heading('Noise') +
        ` (production against its replica ${noise.targets.join(', ')}: ${plural(noise.comparisons, 'comparison')}` +
        (noise.errors > 0 ? `; ${formatCount(noise.errors)} of ${plural(noise.calls, 'call')} failed` : '') +
        ')',
    );
    if (noise.paths.length === 0) {
      out.push(noise.comparisons === 0 ? '  nothing compared' : '  none: production and its replica never differed');
    } else {
      out.push(
        ...table(
          [
            ['path', 'differed', 'rate', '95% CI', 'marked in candidates'],
            ...noise.paths.map((p) => [p.path, formatCount(p.rate.count), formatPercent(p.rate.rate), formatInterval(p.rate), formatCount(p.markedInCandidates)]),
          ],
          ['left', 'right', 'right', 'right', 'right'],
        ),
      );
      const notes = [
        noise.distinctPaths > noise.paths.length ? `${formatCount(noise.distinctPaths)} distinct paths in all` : null,
        noise.otherPaths > 0 ? `${formatCount(noise.otherPaths)} differences at paths beyond the cap` : null,
      ].filter((n) => n !== null);
      if (notes.length > 0) out.push(`  (${notes.join('; ')})`);
    }
    out.push('');
  }

  const labels = report.labels;
  if (labels !== null) {
    out.push(
      heading(`Labels at ${labels.path}`) +
        `: agreement ${formatPercent(labels.agreement.rate)} (${formatCount(labels.agreement.count)}/${formatCount(labels.agreement.total)}, 95% CI ${formatInterval(labels.agreement)})` +
        (labels.missing > 0 ? `; ${formatCount(labels.missing)} pair${labels.missing === 1 ? '' : 's'} without a label left out` : ''),
    );
    if (labels.labels.length > 0) {
      const rows = [['production \\ shadow', ...labels.labels]];
      labels.labels.forEach((l, i) => rows.push([l, ...(labels.matrix[i] ?? []).map((n) => (n === 0 ? '.' : formatCount(n)))]));
      out.push(...table(rows, ['left', ...labels.labels.map((): Align => 'right')]));
      out.push('');
      out.push(
        ...table(
          [['label', 'production', 'shadow', 'agreed', 'rate', '95% CI'], ...labels.perLabel.map((l) => [
            l.label, formatCount(l.agreement.total), formatCount(l.shadowCount), formatCount(l.agreement.count), formatPercent(l.agreement.rate), formatInterval(l.agreement),
          ])],
          ['left', 'right', 'right', 'right', 'right', 'right'],
        ),
      );
    }
    out.push('');
  }

  const breakers = report.breakers;
  if (breakers.transitions.length > 0 || Object.keys(breakers.openDrops).length > 0) {
    out.push(heading('Circuit breaker'));
    for (const t of breakers.transitions) out.push(`  ${formatTime(t.timestamp)}  ${t.target}  ${t.state}${t.reason === '' ? '' : `  (${t.reason})`}`);
    if (breakers.moreTransitions > 0) out.push(`  … and ${formatCount(breakers.moreTransitions)} more transitions`);
    if (Object.keys(breakers.openDrops).length > 0) out.push(`  not sent while open: ${describeCounts(breakers.openDrops)}`);
    out.push('');
  }

  const reading = report.reading;
  if (reading !== null) {
    out.push(heading('Reading'));
    out.push(
      `  ${plural(reading.files.length, 'file')}, ${formatCount(reading.lines)} lines, ${formatCount(reading.records)} records; ` +
        `unparseable ${formatCount(reading.unparseable)}, unrecognised ${formatCount(reading.unrecognised)}, truncated files ${formatCount(reading.truncated)}, duplicates ${formatCount(reading.duplicates)}`,
    );
    const evicted = reading.closedBy.time_window + reading.closedBy.count_window;
    out.push(
      `  joined ${formatCount(reading.entries)} requests: ${formatCount(reading.closedBy.complete)} complete, ${formatCount(evicted)} closed by the window, ${formatCount(reading.closedBy.end_of_input)} at end of input` +
        (reading.missingComparisons > 0 ? `; ${formatCount(reading.missingComparisons)} without their comparison` : ''),
    );
    for (const f of reading.files) {
      if (f.truncated || f.error !== null || f.unparseable > 0 || f.unrecognised > 0) {
        const problems = [
          f.unparseable > 0 ? `${formatCount(f.unparseable)} unparseable` : null,
          f.unrecognised > 0 ? `${formatCount(f.unrecognised)} unrecognised` : null,
          f.truncated ? 'truncated at the end' : null,
          f.error === null ? null : `error: ${f.error}`,
        ].filter((p) => p !== null);
        out.push(`  ${f.path}: ${problems.join(', ')}`);
      }
    }
    for (const bad of reading.badLines) out.push(`  ${bad.file}:${bad.line} ${bad.problem}: ${JSON.stringify(bad.text)}`);
    if (reading.unmatchedPatterns.length > 0) out.push(`  patterns matching no file: ${reading.unmatchedPatterns.join(', ')}`);
  }
  return out.join('\n').replace(/\n+$/, '') + '\n';
}
