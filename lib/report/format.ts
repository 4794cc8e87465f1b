/** Number and time formatting shared by the renderers; locale-independent so output is the same on every machine. */
import type { Rate } from './types.js';

export function formatCount(n: number): string {
  const sign = n < 0 ? '-' : '';
  const digits = String(Math.abs(Math.round(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatPercent(rate: number | null, digits = 1): string {
  return rate === null ? '–' : `${(rate * 100).toFixed(digits)}%`;
}

export function formatInterval(rate: Rate): string {
  return rate.low === null || rate.high === null ? '–' : `${formatPercent(rate.low)}–${formatPercent(rate.high)}`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms >= 10_000 ? formatCount(ms) : ms.toFixed(1);
}

export function formatRatio(ratio: number | null): string {
  return ratio === null ? '–' : `${ratio.toFixed(2)}×`;
}

/** Up to 4 significant decimals, without trailing zeros. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return formatCount(n);
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 1 : abs >= 1 ? 3 : 4;
  return n.toFixed(digits).replace(/\.?0+$/, '');
}

/** `2024-05-01 10:00:00Z` (always UTC). */
export function formatTime(iso: string | null): string {
  if (iso === null) return '–';
  return iso.replace('T', ' ').replace(/\.000Z$/, 'Z').replace(/(\.\d{3})Z$/, '$1Z');
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

export function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([k, n]) => `${k} ${formatCount(n)}`);
  return parts.join(', ');
}

/** `1 file`, `2 files`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : many}`;
}

/** The totals row of request faults, only when there were some (they are not the model's: part of no other figure). */
export function requestFaultRows(totals: { requestFaults: number; requestFaultsByReason: Record<string, number> }): string[][] {
  if (totals.requestFaults === 0) return [];
  return [['request faults', formatCount(totals.requestFaults), `${describeCounts(totals.requestFaultsByReason)}; the request's shape, not the model: left out of every figure`]];
}
