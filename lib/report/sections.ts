/**
 * The report as sections of tables, matrices and notes, worked out once from a `Report`: the text and HTML renderers
 * walk the same sections, so a figure is phrased in one place. Where the two formats differ (a terminal is narrow, a
 * page can hold more columns), a column, row or block says which format it is `only` for.
 *
 * Adding a section: a function here returning it, and one line in `reportSections`.
 */
import { describeCounts, requestFaultRows, formatCount, formatInterval, formatMs, formatNumber, formatPercent, formatRatio, formatTime, plural } from './format.js';
import { SIMILARITY_TEXT_DETAIL, similarityHtml, similarityTextLines } from './similarity-render.js';
import type { LatencyFigures, LatencyRatio, Rate, Report } from './types.js';

type Format = 'text' | 'html';
export type Align = 'left' | 'right';

/** A table cell: plain text, or text shown as code or in bold (HTML), or with other text in HTML. */
export interface Cell {
  text: string;
  html?: string;
  code?: boolean;
  strong?: boolean;
}
export type CellValue = string | Cell;

export interface Column {
  head: string;
  htmlHead?: string;
  /** Default `right` (numbers). */
  align?: Align;
  only?: Format;
}

/** A row of cells, one per column (those of both formats). */
export type Row = CellValue[] | { only: Format; cells: CellValue[] };

export interface TableBlock {
  kind: 'table';
  columns: Column[];
  rows: Row[];
  only?: Format;
  /** Text: print the header row (default true). */
  textHeader?: boolean;
  /** Text: a blank line before. */
  gap?: boolean;
}

/** Counts of rows × columns; zeros shown as a dot, the diagonal marked in HTML. */
export interface MatrixBlock {
  kind: 'matrix';
  corner: string;
  textCorner?: string;
  rows: string[];
  columns: string[];
  counts: number[][];
}

/** Tables that the text format prints as one, so their columns line up. */
interface TablesBlock {
  kind: 'tables';
  tables: TableBlock[];
}

/** Inline text: plain, or code. */
export type Inline = string | { code: string };

/** A sentence; `text` and `html` say what each format shows (absent: nothing). */
interface NoteBlock {
  kind: 'note';
  text?: string;
  html?: string | Inline[];
  /** HTML: a plain paragraph rather than a muted note. */
  plain?: boolean;
}

/** A heading inside a section. */
interface HeadingBlock {
  kind: 'heading';
  text: string;
}

/** Content its own module renders in both formats (the similarity section's charts and side-by-side texts). */
interface RenderedBlock {
  kind: 'rendered';
  text: string[];
  html: string;
}

export type Block = TableBlock | MatrixBlock | TablesBlock | NoteBlock | HeadingBlock | RenderedBlock;

export interface Section {
  id?: string;
  title: string;
  /** HTML: shown as code after the title. */
  titleCode?: string;
  /** Text: follows the title on the heading line. */
  detail?: string;
  /** HTML: the heading, when not the title. */
  htmlTitle?: string;
  blocks: Block[];
}

const note = (text: string | undefined, html?: string | Inline[], plain?: boolean): NoteBlock => ({ kind: 'note', text, html, plain });
const left = (head: string, only?: Format): Column => ({ head, align: 'left', only });
const right = (head: string, only?: Format): Column => ({ head, only });
const code = (text: string): Cell => ({ text, code: true });
const rateCells = (rate: Rate): string[] => [formatPercent(rate.rate), formatInterval(rate)];
const LATENCY_COLUMNS = (first: string, count = 'count'): Column[] => [left(first), right(count), right('p50'), right('p90'), right('p99'), right('max')];

function latencyRow(name: string, figures: LatencyFigures, count = figures.count): CellValue[] {
  return [name, formatCount(count), formatMs(figures.p50), formatMs(figures.p90), formatMs(figures.p99), formatMs(figures.max)];
}

function ratioRow(of: string, ratio: LatencyRatio): CellValue[] {
  return [{ text: `${of}/production`, html: `${of} / production` }, '', formatRatio(ratio.p50), formatRatio(ratio.p90), formatRatio(ratio.p99), formatRatio(ratio.max)];
}

function totalsSection(report: Report): Section {
  const { totals, filters } = report;
  const o = totals.orphans;
  const rows: Row[] = [
    { only: 'text', cells: ['requests seen', formatCount(totals.requestsSeen), `mirrored ${formatCount(totals.mirrored)} + skipped ${formatCount(totals.skipped)} + not mirrored ${formatCount(totals.notMirrored)}`] },
    { only: 'html', cells: ['requests seen', formatCount(totals.requestsSeen), 'mirrored + skipped + not mirrored'] },
    ['mirrored', formatCount(totals.mirrored), `${formatCount(totals.production)} production, ${plural(totals.shadowCalls, 'shadow call')}`],
    ['compared', formatCount(totals.comparisons), ''],
    ['skipped', formatCount(totals.skipped), describeCounts(totals.skippedByReason)],
    ['not mirrored', formatCount(totals.notMirrored), filters.route === null ? describeCounts(totals.notMirroredByReason) : 'not counted per route'],
    ['shadow errors', formatCount(totals.shadowErrors), describeCounts(totals.shadowErrorsByCode)],
    ...requestFaultRows(totals),
    ['timeouts', formatCount(totals.timeouts), ''],
    ['shadow 5xx', formatCount(totals.shadow5xx), ''],
    {
      only: 'text',
      cells: [
        'orphans',
        formatCount(o.noShadow + o.noProduction),
        `production without shadow ${formatCount(o.noShadow)}, shadow without production ${formatCount(o.noProduction)}` + (o.late > 0 ? `; late records ${formatCount(o.late)}` : ''),
      ],
    },
    { only: 'html', cells: ['orphans: production without shadow', formatCount(o.noShadow), ''] },
    { only: 'html', cells: ['orphans: shadow without production', formatCount(o.noProduction), ''] },
    { only: 'html', cells: ['late records', formatCount(o.late), 'records for a request already joined'] },
  ];
  return { title: 'Totals', blocks: [{ kind: 'table', columns: [left(''), right('count'), left('detail')], rows, textHeader: false }] };
}

function matchTable(report: Report, noiseFree: boolean): TableBlock {
  const { totals, match, latency } = report;
  const nf = (rate: Rate): string[] => (noiseFree ? rateCells(rate) : []);
  const columns = [
    left('route'), right('requests'), right('compared'), ...(noiseFree ? [right('noise-free'), right('95% CI')] : []), right('matches'),
    { head: noiseFree ? 'raw' : 'rate', htmlHead: 'raw' }, right('95% CI'), right('errors'), right('timeouts', 'html'), right('p50 prod'), right('p50 shadow'),
    right('p99 prod', 'html'), right('p99 shadow', 'html'),
  ];
  const all: CellValue[] = [
    { text: 'all', strong: true }, formatCount(totals.production), formatCount(match.overall.total), ...nf(match.withoutNoise), formatCount(match.overall.count),
    ...rateCells(match.overall), formatCount(totals.shadowErrors), formatCount(totals.timeouts), formatMs(latency.production.p50), formatMs(latency.shadow.p50),
    formatMs(latency.production.p99), formatMs(latency.shadow.p99),
  ];
  const routes = match.byRoute.map((r): CellValue[] => [
    code(r.route), formatCount(r.requests), formatCount(r.match.total), ...nf(r.withoutNoise), formatCount(r.match.count), ...rateCells(r.match),
    formatCount(r.shadowErrors), formatCount(r.timeouts), formatMs(r.productionP50), formatMs(r.shadowP50), formatMs(r.productionP99), formatMs(r.shadowP99),
  ]);
  return { kind: 'table', columns, rows: [all, ...routes] };
}

function matchSection(report: Report): Section {
  const { match, totals } = report;
  const noiseFree = match.withoutNoise.total > 0;
  const blocks: Block[] = [matchTable(report, noiseFree)];
  const status = match.statusMatch;
  blocks.push(note(`status match: ${formatPercent(status.rate)} of comparisons (${formatInterval(status)})`, `Status match: ${formatPercent(status.rate)} of comparisons (95% CI ${formatInterval(status)}). Intervals are 95% Wilson score intervals.`));
  if (noiseFree && match.withoutNoise.total < match.overall.total) {
    blocks.push(note(`noise-free is over the ${plural(match.withoutNoise.total, 'comparison')} where the secondary answered too`));
  }
  if (match.secondary.total > 0) {
    blocks.push(note(`noise floor: production matched its own replica on ${formatPercent(match.secondary.rate)} (${formatInterval(match.secondary)}) of ${plural(match.secondary.total, 'request')}`));
  }
  if (match.withoutNoise.total > 0 || match.secondary.total > 0) {
    blocks.push(note(undefined, [
      'Noise-free: ', { code: 'matchWithoutNoise' }, `, ignoring paths where production also differed from its replica, over ${formatCount(match.withoutNoise.total)} comparisons. `,
      `Noise floor, production against its own replica: ${formatPercent(match.secondary.rate)} (${formatInterval(match.secondary)}) over ${formatCount(match.secondary.total)}.`,
    ]));
  }
  if (totals.comparatorErrors > 0) {
    blocks.push(note(`comparator errors: ${formatCount(totals.comparatorErrors)} (counted as mismatches)`, `Comparator errors: ${formatCount(totals.comparatorErrors)} (counted as mismatches).`));
  }
  return {
    title: 'Match rate',
    htmlTitle: 'Match rate by route',
    detail: noiseFree ? ' (noise-free first, raw beside it; 95% Wilson intervals)' : ' (95% Wilson interval)',
    blocks,
  };
}

function candidatesSection(report: Report): Section | null {
  const { match, latency } = report;
  if (match.byTarget.length <= 1) return null;
  const noiseAware = match.byTarget.some((t) => t.withoutNoise.total > 0);
  const candidates: TableBlock = {
    kind: 'table',
    columns: [
      left('candidate'), right('calls'), right('compared'), ...(noiseAware ? [right('noise-free'), right('95% CI'), right('noise-aware', 'html')] : []),
      right('matches'), right('raw'), right('95% CI'), right('errors'), right('timeouts'), right('5xx'),
    ],
    rows: match.byTarget.map((t) => [
      code(t.target), formatCount(t.shadowCalls), formatCount(t.match.total), ...(noiseAware ? [...rateCells(t.withoutNoise), formatCount(t.withoutNoise.total)] : []),
      formatCount(t.match.count), ...rateCells(t.match), formatCount(t.shadowErrors), formatCount(t.timeouts), formatCount(t.shadow5xx),
    ]),
  };
  const partial = match.byTarget.filter((t) => t.withoutNoise.total > 0 && t.withoutNoise.total < t.match.total);
  const byRouteTarget: TableBlock = {
    kind: 'table',
    columns: [left('route'), left('candidate'), right('compared'), ...(noiseAware ? [right('noise-free'), right('95% CI')] : []), right('raw'), right('95% CI')],
    rows: match.byRouteTarget.map((rt) => [code(rt.route), code(rt.target), formatCount(rt.match.total), ...(noiseAware ? rateCells(rt.withoutNoise) : []), ...rateCells(rt.match)]),
  };
  const latencies: TableBlock = {
    kind: 'table',
    gap: true,
    columns: LATENCY_COLUMNS('latency (ms)'),
    rows: [latencyRow('production', latency.production), ...match.byTarget.flatMap((t) => [latencyRow(t.target, t.latency), ratioRow(t.target, t.ratio)])],
  };
  return {
    id: 'candidates',
    title: 'Candidates',
    detail: ' (each against production; a --fail-under-match gate applies to each)',
    blocks: [
      note(undefined, ['Each candidate against production. A ', { code: '--fail-under-match' }, ' gate applies to each: every candidate must reach it.']),
      candidates,
      ...(partial.length > 0 ? [note(`noise-free is over the comparisons where the secondary answered too: ${partial.map((t) => `${t.target} ${formatCount(t.withoutNoise.total)} of ${formatCount(t.match.total)}`).join(', ')}`)] : []),
      ...(noiseAware ? [note(undefined, ['Noise-free: ', { code: 'matchWithoutNoise' }, ' over the comparisons where the secondary answered too (noise-aware).'])] : []),
      { kind: 'heading', text: 'Match by route and candidate' },
      byRouteTarget,
      latencies,
    ],
  };
}

function statusSection(report: Report): Section {
  const st = report.statusAgreement;
  return {
    title: 'Status agreement',
    detail: ' (rows: production status, columns: shadow status or error)',
    blocks: [
      note(undefined, 'Rows: production status. Columns: shadow status, or the error code when the shadow call failed.'),
      st.production.length === 0
        ? note('no production/shadow pairs', 'No production/shadow pairs.', true)
        : { kind: 'matrix', corner: 'production \\ shadow', textCorner: '', rows: st.production, columns: st.shadow, counts: st.counts },
    ],
  };
}

function latencySection(report: Report): Section {
  const { latency } = report;
  return {
    title: 'Latency',
    detail: ' (ms)',
    htmlTitle: 'Latency (ms)',
    blocks: [
      { kind: 'table', columns: LATENCY_COLUMNS(''), rows: [latencyRow('production', latency.production), latencyRow('shadow', latency.shadow), ratioRow('shadow', latency.ratio)] },
      note(undefined, 'Percentiles are within 2% of the exact value (log-bucketed histogram); max is exact. Shadow latency counts calls that got an answer.'),
    ],
  };
}

function streamingSection(report: Report): Section | null {
  const streaming = report.streaming;
  if (streaming === null) return null;
  const sides = [streaming.production, ...streaming.candidates];
  const median = (n: number | null): string => (n === null ? '–' : formatNumber(n));
  return {
    id: 'streaming',
    title: 'Streaming',
    detail: ' (answers with stream measurements; ms)',
    blocks: [
      note(undefined, 'Answers with stream measurements only (no content-length, or an event-stream / JSON-lines type).'),
      {
        kind: 'tables',
        tables: [
          { kind: 'table', columns: LATENCY_COLUMNS('time to first byte', 'answers').map((c, i) => (i === 0 ? { ...c, htmlHead: 'time to first byte (ms)' } : c)), rows: sides.map((s) => latencyRow(s.name, s.ttfb, s.answers)) },
          { kind: 'table', columns: LATENCY_COLUMNS('total time', 'answers').map((c, i) => (i === 0 ? { ...c, htmlHead: 'total time (ms)' } : c)), rows: sides.map((s) => latencyRow(s.name, s.total, s.answers)) },
          { kind: 'table', columns: [left('median per answer'), right('chunks'), right('events')], rows: sides.map((s) => [s.name, median(s.chunksP50), median(s.eventsP50)]) },
        ],
      },
    ],
  };
}

function differencesSection(report: Report): Section {
  const d = report.differences;
  if (d.paths.length === 0) return { title: 'Most frequent differing paths', blocks: [note('none', 'None.', true)] };
  const notes = [
    d.distinctPaths > d.paths.length ? `${formatCount(d.distinctPaths)} distinct paths in all` : null,
    d.otherPaths > 0 ? `${formatCount(d.otherPaths)} differences at paths beyond the cap` : null,
    d.truncatedLists > 0 ? `${formatCount(d.truncatedLists)} comparisons had their list of differences cut` : null,
  ].filter((n) => n !== null);
  return {
    title: 'Most frequent differing paths',
    blocks: [
      {
        kind: 'table',
        columns: [right('count'), left('path'), left('example requestIds')],
        rows: d.paths.map((p) => [formatCount(p.count), code(p.path), code(p.exampleRequestIds.join(', '))]),
      },
      ...(notes.length > 0 ? [note(`(${notes.join('; ')})`, `${formatCount(d.distinctPaths)} distinct paths; ${formatCount(d.otherPaths)} differences beyond the path cap; ${formatCount(d.truncatedLists)} comparisons with a cut list of differences.`)] : []),
    ],
  };
}

function numericSection(report: Report): Section | null {
  const numeric = report.differences.numeric;
  if (numeric.length === 0) return null;
  return {
    title: 'Numeric differences',
    blocks: [
      {
        kind: 'table',
        columns: [left('path'), right('count'), right('mean |Δ|'), right('max |Δ|')],
        rows: numeric.map((n) => [code(n.path), formatCount(n.count), formatNumber(n.meanAbsoluteDifference), formatNumber(n.maxAbsoluteDifference)]),
      },
    ],
  };
}

function noiseSection(report: Report): Section | null {
  const noise = report.noise;
  if (noise === null) return null;
  const failed = noise.errors > 0 ? `; ${formatCount(noise.errors)} of ${plural(noise.calls, 'call')} failed` : '';
  const blocks: Block[] = [
    note(
      undefined,
      `Production against its replica ${noise.targets.join(', ')}: ${plural(noise.comparisons, 'comparison')}${failed}. Rate: share of those comparisons that differed at the path. ` +
        'Marked in candidates: candidate differences at the path that the replica also had for the same request.',
    ),
  ];
  if (noise.paths.length === 0) {
    blocks.push(noise.comparisons === 0 ? note('nothing compared', 'Nothing compared.', true) : note('none: production and its replica never differed', 'None: production and its replica never differed.', true));
  } else {
    blocks.push({
      kind: 'table',
      columns: [left('path'), right('differed'), right('rate'), right('95% CI'), right('marked in candidates')],
      rows: noise.paths.map((p) => [code(p.path), formatCount(p.rate.count), ...rateCells(p.rate), formatCount(p.markedInCandidates)]),
    });
    const notes = [
      noise.distinctPaths > noise.paths.length ? `${formatCount(noise.distinctPaths)} distinct paths in all` : null,
      noise.otherPaths > 0 ? `${formatCount(noise.otherPaths)} differences at paths beyond the cap` : null,
    ].filter((n) => n !== null);
    if (notes.length > 0) blocks.push(note(`(${notes.join('; ')})`, `${formatCount(noise.distinctPaths)} distinct paths; ${formatCount(noise.otherPaths)} differences beyond the path cap.`));
  }
  return { id: 'noise', title: 'Noise', detail: ` (production against its replica ${noise.targets.join(', ')}: ${plural(noise.comparisons, 'comparison')}${failed})`, blocks };
}

function labelsSection(report: Report): Section | null {
  const labels = report.labels;
  if (labels === null) return null;
  const a = labels.agreement;
  const missing = labels.missing > 0 ? `; ${formatCount(labels.missing)} pair${labels.missing === 1 ? '' : 's'} without a label left out` : '';
  const blocks: Block[] = [note(undefined, `Agreement ${formatPercent(a.rate)} (${formatCount(a.count)} of ${formatCount(a.total)}, 95% CI ${formatInterval(a)})${missing}.`, true)];
  if (labels.labels.length > 0) {
    blocks.push({ kind: 'matrix', corner: 'production \\ shadow', rows: labels.labels, columns: labels.labels, counts: labels.matrix });
    blocks.push({
      kind: 'table',
      gap: true,
      columns: [left('label'), right('production'), right('shadow'), right('agreed'), right('rate'), right('95% CI')],
      rows: labels.perLabel.map((l) => [l.label, formatCount(l.agreement.total), formatCount(l.shadowCount), formatCount(l.agreement.count), ...rateCells(l.agreement)]),
    });
  }
  return {
    title: `Labels at ${labels.path}`,
    htmlTitle: 'Labels at',
    titleCode: labels.path,
    detail: `: agreement ${formatPercent(a.rate)} (${formatCount(a.count)}/${formatCount(a.total)}, 95% CI ${formatInterval(a)})${missing}`,
    blocks,
  };
}

function breakersSection(report: Report): Section | null {
  const { transitions, moreTransitions, openDrops } = report.breakers;
  const drops = Object.keys(openDrops).length > 0;
  if (transitions.length === 0 && !drops) return null;
  const blocks: Block[] = transitions.map((t) => note(`${formatTime(t.timestamp)}  ${t.target}  ${t.state}${t.reason === '' ? '' : `  (${t.reason})`}`));
  if (transitions.length > 0) {
    blocks.push({
      kind: 'table',
      only: 'html',
      columns: [left('time'), left('target'), left('state'), left('reason')],
      rows: transitions.map((t) => [formatTime(t.timestamp), t.target, t.state, t.reason]),
    });
  }
  if (moreTransitions > 0) blocks.push(note(`… and ${formatCount(moreTransitions)} more transitions`, `… and ${formatCount(moreTransitions)} more transitions.`));
  if (drops) blocks.push(note(`not sent while open: ${describeCounts(openDrops)}`, `Not sent while open: ${describeCounts(openDrops)}.`, true));
  return { title: 'Circuit breaker', blocks };
}

function readingSection(report: Report): Section | null {
  const reading = report.reading;
  if (reading === null) return null;
  const evicted = reading.closedBy.time_window + reading.closedBy.count_window;
  const blocks: Block[] = [
    note(
      `${plural(reading.files.length, 'file')}, ${formatCount(reading.lines)} lines, ${formatCount(reading.records)} records; ` +
        `unparseable ${formatCount(reading.unparseable)}, unrecognised ${formatCount(reading.unrecognised)}, truncated files ${formatCount(reading.truncated)}, duplicates ${formatCount(reading.duplicates)}`,
    ),
    note(
      `joined ${formatCount(reading.entries)} requests: ${formatCount(reading.closedBy.complete)} complete, ${formatCount(evicted)} closed by the window, ${formatCount(reading.closedBy.end_of_input)} at end of input` +
        (reading.missingComparisons > 0 ? `; ${formatCount(reading.missingComparisons)} without their comparison` : ''),
    ),
    {
      kind: 'table',
      only: 'html',
      columns: [left('file'), right('gzip'), right('bytes'), right('lines'), right('records'), right('unparseable'), right('unrecognised'), right('truncated'), right('error')],
      rows: reading.files.map((f) => [f.path, f.gzip ? 'yes' : '', formatCount(f.bytes), formatCount(f.lines), formatCount(f.records), formatCount(f.unparseable), formatCount(f.unrecognised), f.truncated ? 'yes' : '', f.error ?? '']),
    },
    note(
      undefined,
      `Joined ${formatCount(reading.entries)} requests: ${formatCount(reading.closedBy.complete)} complete, ${formatCount(evicted)} closed by the join window, ${formatCount(reading.closedBy.end_of_input)} at end of input; ` +
        `${formatCount(reading.duplicates)} duplicate records; ${formatCount(reading.missingComparisons)} without their comparison; at most ${formatCount(reading.peakOpenEntries)} open at once.`,
    ),
  ];
  for (const f of reading.files) {
    const problems = [
      f.unparseable > 0 ? `${formatCount(f.unparseable)} unparseable` : null,
      f.unrecognised > 0 ? `${formatCount(f.unrecognised)} unrecognised` : null,
      f.truncated ? 'truncated at the end' : null,
      f.error === null ? null : `error: ${f.error}`,
    ].filter((p) => p !== null);
    if (problems.length > 0) blocks.push(note(`${f.path}: ${problems.join(', ')}`));
  }
  for (const bad of reading.badLines) blocks.push(note(`${bad.file}:${bad.line} ${bad.problem}: ${JSON.stringify(bad.text)}`));
  if (reading.badLines.length > 0) {
    blocks.push({ kind: 'table', only: 'html', columns: [left('file'), left('line'), left('problem'), left('text')], rows: reading.badLines.map((b) => [b.file, String(b.line), b.problem, b.text]) });
  }
  if (reading.unmatchedPatterns.length > 0) blocks.push(note(`patterns matching no file: ${reading.unmatchedPatterns.join(', ')}`));
  return { title: 'Reading', blocks };
}

function similaritySection(report: Report): Section | null {
  const figures = report.similarity ?? null;
  if (figures === null) return null;
  return { id: 'similarity', title: 'Similarity', detail: SIMILARITY_TEXT_DETAIL, blocks: [{ kind: 'rendered', text: similarityTextLines(figures), html: similarityHtml(figures) }] };
}

/** Every section, in order; sections with nothing to show are left out. */
export function reportSections(report: Report): Section[] {
  return [
    totalsSection(report),
    matchSection(report),
    candidatesSection(report),
    statusSection(report),
    latencySection(report),
    similaritySection(report),
    streamingSection(report),
    differencesSection(report),
    numericSection(report),
    noiseSection(report),
    labelsSection(report),
    breakersSection(report),
    readingSection(report),
  ].filter((s): s is Section => s !== null);
}
