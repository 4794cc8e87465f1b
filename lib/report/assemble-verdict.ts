/**
 * Puts the verdict together: the `failUnderMatch` gate (noise-free where measured), the judged criteria, whether a
 * gate had enough evidence to judge (it fails closed), the headline and summary sentences, and what to do when noise
 * could not be measured.
 */
import type { Criteria } from './criteria.js';
import { formatPercent, formatTime, plural } from './format.js';
import type { MatchGate, Rate, Report, TargetFigures, Verdict, VerdictStatus } from './types.js';
import type { JudgedCriteria } from './verdict.js';

/** A threshold as the user wrote it: 0.99 → 99%, 0.995 → 99.5%. */
function formatGate(rate: number): string {
  return `${Number((rate * 100).toFixed(4))}%`;
}

/** `77.8% (95% CI 45.3%–93.7%) over 9 comparisons`. */
function rateFigures(rate: Rate): string {
  return `${formatPercent(rate.rate ?? 0)} (95% CI ${formatPercent(rate.low ?? 0)}–${formatPercent(rate.high ?? 0)}) over ${plural(rate.total, 'comparison')}`;
}

/** The rate that leads for a candidate: noise-free when its comparisons carry it, raw otherwise. */
function leadingRate(t: TargetFigures): { rate: Rate; noiseFree: boolean } {
  return t.withoutNoise.total > 0 ? { rate: t.withoutNoise, noiseFree: true } : { rate: t.match, noiseFree: false };
}

function candidateFigures(t: TargetFigures): string {
  const { rate, noiseFree } = leadingRate(t);
  if (rate.rate === null) return `${t.target}: no comparisons`;
  return noiseFree ? `${t.target} noise-free ${rateFigures(rate)}, raw ${formatPercent(t.match.rate)}` : `${t.target} ${rateFigures(rate)}`;
}

function overallFigures(report: Report): { text: string; rate: Rate } {
  const { overall, withoutNoise } = report.match;
  if (withoutNoise.total > 0) return { text: `noise-free match rate ${rateFigures(withoutNoise)} (raw ${formatPercent(overall.rate)})`, rate: withoutNoise };
  return { text: `match rate ${rateFigures(overall)}`, rate: overall };
}

/**
 * The gate. With one candidate (or none) it judges the overall match rate. With several, every candidate must reach it:
 * it fails when any is below it or has no comparisons, and names them. No comparisons at all always fails.
 */
function matchGate(report: Report, gate: number): MatchGate {
  const { byTarget } = report.match;
  const overall = overallFigures(report);
  if (overall.rate.rate === null) {
    return { status: 'fail', threshold: gate, failing: byTarget.map((t) => t.target), headline: `FAIL: no comparisons to judge; the ${formatGate(gate)} match gate needs at least one.` };
  }
  if (byTarget.length <= 1) {
    const pass = overall.rate.rate >= gate;
    return {
      status: pass ? 'pass' : 'fail',
      threshold: gate,
      failing: pass ? [] : byTarget.map((t) => t.target),
      headline: `${pass ? 'PASS' : 'FAIL'}: ${overall.text} is ${pass ? 'at or above' : 'below'} the ${formatGate(gate)} gate.`,
    };
  }
  const failing = byTarget.filter((t) => {
    const rate = leadingRate(t).rate.rate;
    return rate === null || rate < gate;
  });
  if (failing.length === 0) {
    return {
      status: 'pass',
      threshold: gate,
      failing: [],
      headline: `PASS: all ${byTarget.length} candidates are at or above the ${formatGate(gate)} gate: ${byTarget.map(candidateFigures).join('; ')}.`,
    };
  }
  return {
    status: 'fail',
    threshold: gate,
    failing: failing.map((t) => t.target),
    headline: `FAIL: ${failing.length} of ${byTarget.length} candidates below the ${formatGate(gate)} gate: ${failing.map(candidateFigures).join('; ')}.`,
  };
}

function matchHeadline(report: Report): string {
  const { byTarget } = report.match;
  const overall = overallFigures(report);
  if (overall.rate.rate === null) return 'No comparisons in these logs.';
  if (byTarget.length > 1) return `Match rate by candidate: ${byTarget.map(candidateFigures).join('; ')}.`;
  const text = overall.text;
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function summaryOf(judged: JudgedCriteria, criteria: Criteria): string {
  const { criteria: results, score, status } = judged;
  if (status === 'none') {
    return results.length === 0
      ? 'Criteria: nothing to judge.'
      : `Criteria not judged: every one had too few samples (fewer than ${criteria.minSamples} a side).`;
  }
  const count = (s: string): number => results.filter((r) => r.status === s).length;
  return (
    `${status.toUpperCase()} (score ${score}/100): ${count('pass')} passed, ${count('marginal')} marginal, ${count('fail')} failed` +
    (count('too_few') > 0 ? `, ${count('too_few')} with too few samples` : '') +
    '.'
  );
}

const RANK: Record<VerdictStatus, number> = { none: 0, pass: 1, marginal: 2, fail: 3 };

function noiseNoteOf(report: Report, suggestions: string[]): string | null {
  if (report.noise !== null || report.match.overall.total === 0 || report.match.withoutNoise.total > 0) return null;
  const paths = suggestions.length > 0 ? ` Paths whose values look like times or ids, to try as \`ignorePaths\`: ${suggestions.map((p) => JSON.stringify(p)).join(', ')}.` : '';
  return `Noise could not be measured: no secondary (production replica) answered, so differences production has with itself count as mismatches. Configure \`secondary\` to measure them.${paths}`;
}

/** The filters in force, for a sentence: `route /p, since 2030-01-01 00:00:00Z`. */
function filtersOf(report: Report): string {
  const { route, since, until } = report.filters;
  return [route === null ? null : `route ${route}`, since === null ? null : `since ${formatTime(since)}`, until === null ? null : `until ${formatTime(until)}`]
    .filter((part) => part !== null)
    .join(', ');
}

/** Why a gate cannot judge, and the candidates it could not judge; `null` when every candidate had the evidence. */
function missingEvidence(report: Report, judged: JudgedCriteria, criteria: Criteria, matchGate: boolean): { why: string; failing: string[] } | null {
  const { totals, reading } = report;
  if (totals.production === 0) {
    const filters = filtersOf(report);
    const read = reading === null ? '' : `; ${plural(reading.files.length, 'file')} and ${plural(reading.records, 'record')} read`;
    return { why: `no request in the logs${filters === '' ? '' : ` matched the filters (${filters})`}${read}`, failing: [] };
  }
  const candidates = report.match.byTarget.map((t) => t.target);
  if (candidates.length === 0) return { why: `${plural(totals.production, 'request')} but no candidate's answer (no shadow records)`, failing: [] };
  // Agreement is what a model is promoted on: when there are comparisons (or a match gate), each candidate needs enough.
  const needAgreement = matchGate || report.match.overall.total > 0;
  const noun = report.filters.labelPath === null ? 'comparison' : 'label pair';
  const short: string[] = [];
  const failing: string[] = [];
  for (const target of candidates) {
    const own = judged.criteria.filter((c) => c.target === target);
    const agreement = own.find((c) => c.criterion === 'agreement' && c.route === null);
    if (needAgreement && (agreement === undefined || agreement.status === 'too_few')) {
      short.push(`${target} has ${plural(agreement?.samples ?? 0, noun)} to judge agreement on, fewer than minSamples (${criteria.minSamples})`);
      failing.push(target);
    } else if (!needAgreement && own.every((c) => c.status === 'too_few')) {
      short.push(`${target}: every criterion had too few samples (fewer than ${criteria.minSamples} a side)`);
      failing.push(target);
    }
  }
  return short.length === 0 ? null : { why: short.join('; '), failing };
}

/** Whether the report is a gate, and the match gate's threshold if one was set. */
interface GateSetting {
  failUnderMatch: number | undefined;
  gated: boolean;
}

export function assembleVerdict(report: Report, setting: GateSetting, judged: JudgedCriteria, criteria: Criteria, suggestions: string[]): Verdict {
  const { failUnderMatch, gated } = setting;
  const gate = failUnderMatch === undefined ? null : matchGate(report, failUnderMatch);
  const evidence = gated ? missingEvidence(report, judged, criteria, gate !== null) : null;
  let status: VerdictStatus = judged.status;
  if (gate !== null && RANK[gate.status] > RANK[status]) status = gate.status;
  if (evidence !== null) status = 'fail';
  const failing = new Set([...(gate?.failing ?? []), ...(evidence?.failing ?? [])]);
  for (const r of judged.criteria) if (r.status === 'fail') failing.add(r.target);
  const noiseNote = noiseNoteOf(report, suggestions);
  let headline = gate?.headline ?? matchHeadline(report);
  if (evidence !== null) headline = `Too little evidence to judge, and a gate fails closed: ${evidence.why}.`;
  else if (gate?.status === 'pass' && status === 'fail') headline += ' The verdict fails on the criteria below.';
  return {
    status,
    score: judged.score,
    failUnderMatch: failUnderMatch ?? null,
    gated,
    tooLittleEvidence: evidence?.why ?? null,
    failing: [...failing].sort(),
    headline,
    summary: summaryOf(judged, criteria),
    gate,
    criteria: judged.criteria,
    thresholds: criteria,
    noiseFree: report.match.withoutNoise.total > 0,
    noiseNote,
    suggestedIgnorePaths: noiseNote === null ? [] : suggestions,
  };
}
