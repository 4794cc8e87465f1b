/**
 * Line charts as static SVG strings: drawn when the report is rendered, so the HTML needs no script and no network.
 */

interface ChartSeries {
  name: string;
  color: string;
  /** Points in data units; `null` breaks the line (no data in that period). */
  points: ([number, number] | null)[];
  /** Draw as a step function (for CDFs). */
  step?: boolean;
}

interface ChartOptions {
  id: string;
  title: string;
  x: { scale: 'log' | 'time'; label: string };
  y: { max: number; format: (v: number) => string; label: string };
  series: ChartSeries[];
  width?: number;
  height?: number;
}

const PAD = { left: 56, right: 16, top: 30, bottom: 44 };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function round(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks.length > 8 ? ticks.filter((v) => Number.isInteger(Math.log10(v))) : ticks;
}

function formatLogTick(v: number): string {
  if (v >= 1000) return `${v / 1000} s`;
  return `${v < 1 ? v.toPrecision(1) : v} ms`;
}

function timeTicks(min: number, max: number): { ticks: number[]; format: (v: number) => string } {
  const span = max - min;
  const steps = [1e3, 5e3, 15e3, 60e3, 300e3, 900e3, 3600e3, 6 * 3600e3, 86400e3, 7 * 86400e3, 30 * 86400e3];
  // Past a month, whole years by powers of ten: at most 6 ticks however far apart the times are (years 0001 to 9999).
  const year = 365.25 * 86400e3;
  const step = steps.find((s) => span / s <= 6) ?? year * 10 ** Math.max(0, Math.ceil(Math.log10(span / year / 6)));
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max && ticks.length < 12; t += step) ticks.push(t);
  // A bucket's middle can fall past the last time a Date can hold: clamp what is printed.
  const iso = (v: number): string => new Date(Math.max(-8.64e15, Math.min(8.64e15, v))).toISOString();
  const format =
    step >= year ? (v: number) => iso(v).replace(/-\d\d-\d\dT.*$/, '') : step >= 86400e3 ? (v: number) => iso(v).slice(5, 10) : span >= 86400e3 ? (v: number) => `${iso(v).slice(5, 10)} ${iso(v).slice(11, 16)}` : step >= 60e3 ? (v: number) => iso(v).slice(11, 16) : (v: number) => iso(v).slice(11, 19);
  return { ticks, format };
}

/** An SVG line chart, or a framed "no data" note when no series has a point. */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 260;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const all = options.series.flatMap((s) => s.points.filter((p): p is [number, number] => p !== null));
  const xs = all.map((p) => p[0]).filter((x) => (options.x.scale === 'log' ? x > 0 : true));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(options.title)}" data-chart="${escapeXml(options.id)}">`,
  );
  parts.push(`<rect class="plot" x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}"/>`);
  if (xs.length === 0) {
    parts.push(`<text class="empty" x="${PAD.left + plotW / 2}" y="${PAD.top + plotH / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join('');
  }
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (options.x.scale === 'log') {
    xMin = 10 ** (Math.floor(Math.log10(xMin) * 4) / 4);
    xMax = 10 ** (Math.ceil(Math.log10(xMax) * 4) / 4);
    if (xMax <= xMin) xMax = xMin * 10;
  } else if (xMax <= xMin) {
    xMin -= 30_000;
    xMax += 30_000;
  }
  const sx =
    options.x.scale === 'log'
      ? (x: number) => PAD.left + ((Math.log10(Math.max(x, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * plotW
      : (x: number) => PAD.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const yMax = options.y.max;
  const sy = (y: number) => PAD.top + plotH - (Math.min(Math.max(y, 0), yMax) / yMax) * plotH;

  // Grid and y axis.
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    const y = round(sy(v));
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(options.y.format(v))}</text>`);
  }
  // X axis.
  const { ticks, format } = options.x.scale === 'log' ? { ticks: logTicks(xMin, xMax), format: formatLogTick } : timeTicks(xMin, xMax);
  for (const t of ticks) {
    const x = round(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + plotH}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${PAD.top + plotH + 16}" text-anchor="middle">${escapeXml(format(t))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${PAD.left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escapeXml(options.x.label)}</text>`);
  parts.push(
    `<text class="axis-label" x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${PAD.top + plotH / 2})">${escapeXml(options.y.label)}</text>`,
  );

  options.series.forEach((series, index) => parts.push(...seriesSvg(series, index, sx, sy)));
  parts.push('</svg>');
  return parts.join('');
}

/** One series: its line (or steps), its dots, and its legend entry. */
function seriesSvg(series: ChartOptions['series'][number], index: number, sx: (x: number) => number, sy: (y: number) => number): string[] {
  const parts: string[] = [];
  let d = '';
  let previous: [number, number] | null = null;
  const dots: string[] = [];
  for (const point of series.points) {
    if (point === null) {
      previous = null;
      continue;
    }
    const x = round(sx(point[0]));
    const y = round(sy(point[1]));
    if (previous === null) {
      d += `M${x} ${y}`;
      if (series.step === true) d = `M${x} ${round(sy(0))}V${y}`;
    } else if (series.step === true) {
      d += `H${x}V${y}`;
    } else {
      d += `L${x} ${y}`;
    }
    if (series.step !== true) dots.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${series.color}"/>`);
    previous = point;
  }
  parts.push(`<g class="series-group"><title>${escapeXml(series.name)}</title>`);
  if (d !== '') parts.push(`<path class="series" data-series="${escapeXml(series.name)}" d="${d}" stroke="${series.color}"/>`);
  parts.push(...dots, '</g>');
  const lx = PAD.left + 8 + index * 150;
  parts.push(`<rect x="${lx}" y="10" width="12" height="4" fill="${series.color}"/>`);
  parts.push(`<text class="legend" x="${lx + 16}" y="16">${escapeXml(series.name)}</text>`);
  return parts;
}
