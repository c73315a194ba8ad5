/**
 * A small SVG line chart (no dependencies): offered rate (log scale) against CPU µs per
 * reading, one line per system through the medians at each rate; a filled marker where
 * the rate was sustained, a hollow one where it was not.
 */
import type { SystemQosResult } from './plan.js';
import { cellPair, type MatrixResult } from './matrix.js';
import { figuresAt, ratesOf } from './results.js';

const COLORS: Record<string, string> = { baseline: '#6b6b6b', edgeflux: '#1f6fb4', 'edgeflux-shaped': '#27a0a0', nodered: '#c0392b' };
const W = 680;
const H = 420;
const M = { left: 64, right: 150, top: 40, bottom: 52 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1e-9)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function cpuChart(blocks: readonly SystemQosResult[], title: string): string {
  const series = blocks.map((b) => ({
    name: b.label,
    color: COLORS[b.system] ?? '#333',
    points: ratesOf(b)
      .map((r) => ({ ...figuresAt(b, r) }))
      .filter((f) => f.cpu !== undefined),
  }));
  const all = series.flatMap((s) => s.points);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (all.length === 0) {
    out.push(`<text x="${M.left}" y="${M.top + 40}">no data</text></svg>`);
    return out.join('\n');
  }
  const xMin = 10 ** Math.floor(Math.log10(Math.min(...all.map((p) => p.rate))));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p.rate)) * 1.05));
  // Both axes on log scales: CPU per reading spans from a few µs (fast, busy) to hundreds (idle costs at 1k/s).
  const lowest = Math.min(...all.map((p) => p.cpu!));
  const decade = 10 ** Math.floor(Math.log10(lowest));
  const yMin = [5, 2, 1].map((m) => m * decade).find((v) => v <= lowest) ?? decade;
  const yMax = niceMax(Math.max(...all.map((p) => p.cpu!)) * 1.1);
  const scale = (v: number, lo: number, hi: number): number => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const x = (r: number): number => M.left + scale(r, xMin, xMax) * pw;
  const y = (v: number): number => M.top + ph - scale(v, yMin, yMax) * ph;
  const r1 = (v: number): string => v.toFixed(1);
  // Grid and axes: ticks at 1, 2, 5 × 10^k.
  const ticks = (lo: number, hi: number): number[] => {
    const t: number[] = [];
    const first = 10 ** Math.floor(Math.log10(lo));
    for (let d = first; d <= hi; d *= 10) for (const m of [1, 2, 5]) if (d * m >= lo * 0.999 && d * m <= hi * 1.001) t.push(d * m);
    return t;
  };
  for (const v of ticks(yMin, yMax)) {
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${r1(y(v))}" y2="${r1(y(v))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 6}" y="${r1(y(v) + 4)}" text-anchor="end">${Number(v.toPrecision(3))}</text>`);
  }
  for (const r of ticks(xMin, xMax)) {
    out.push(`<line x1="${r1(x(r))}" x2="${r1(x(r))}" y1="${M.top}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${r1(x(r))}" y="${M.top + ph + 16}" text-anchor="middle">${r >= 1000 ? `${r / 1000}k` : r}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">offered rate, readings/s (log scale)</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">CPU µs per reading, median (log scale)</text>`);
  // Series.
  series.forEach((s, i) => {
    if (s.points.length > 1) {
      const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${x(p.rate).toFixed(1)},${y(p.cpu!).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
    for (const p of s.points) {
      const ok = p.sustained * 2 > p.reps;
      out.push(
        `<circle cx="${x(p.rate).toFixed(1)}" cy="${y(p.cpu!).toFixed(1)}" r="4" fill="${ok ? s.color : '#fff'}" stroke="${s.color}" stroke-width="2">` +
          `<title>${esc(s.name)}: ${p.rate}/s, ${p.cpu!.toFixed(1)} µs/reading, ${p.sustained}/${p.reps} sustained</title></circle>`,
      );
    }
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${M.left + pw + 12}" x2="${M.left + pw + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${M.left + pw + 38}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  const ly = M.top + 10 + series.length * 20 + 10;
  out.push(`<circle cx="${M.left + pw + 22}" cy="${ly}" r="4" fill="#333"/><text x="${M.left + pw + 38}" y="${ly + 4}">sustained</text>`);
  out.push(
    `<circle cx="${M.left + pw + 22}" cy="${ly + 18}" r="4" fill="#fff" stroke="#333" stroke-width="2"/><text x="${M.left + pw + 38}" y="${ly + 22}">not sustained</text>`,
  );
  out.push('</svg>');
  return out.join('\n');
}

/**
 * The matrix at a glance: one bar per cell, edgeflux's CPU per reading at 10k/s over its
 * reference's, with the limits (1.2× at QoS 0, 1.3× at QoS 1) marked; green within the
 * cell's limit, red beyond it. Cells without a reference (serial) are left out.
 */
export function matrixChart(m: MatrixResult, title: string): string {
  const bars = m.cells.flatMap((r) => {
    const { ref, ef } = cellPair(r);
    if (!ref || !ef) return [];
    const e = figuresAt(ef, 10_000).cpu;
    const b = figuresAt(ref, 10_000).cpu;
    return e !== undefined && b ? [{ id: r.cell.id, ratio: e / b, limit: r.cell.qos === 0 ? 1.2 : 1.3 }] : [];
  });
  const rowH = 18;
  const left = 190;
  const width = 640;
  const plotW = width - left - 30;
  const height = 60 + bars.length * rowH + 30;
  const xMax = Math.max(2, Math.ceil(Math.max(...bars.map((b) => b.ratio), 1.3) * 2) / 2);
  const x = (v: number): number => left + (v / xMax) * plotW;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let v = 0; v <= xMax + 1e-9; v += 0.5) {
    out.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="40" y2="${height - 25}" stroke="#eee"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${height - 10}" text-anchor="middle">${v.toFixed(1)}×</text>`);
  }
  for (const lim of [1.2, 1.3])
    out.push(
      `<line x1="${x(lim).toFixed(1)}" x2="${x(lim).toFixed(1)}" y1="36" y2="${height - 25}" stroke="#999" stroke-dasharray="4 3"/><text x="${x(lim).toFixed(1)}" y="34" text-anchor="middle" fill="#666">${lim}×</text>`,
    );
  bars.forEach((b, i) => {
    const y = 44 + i * rowH;
    out.push(`<text x="${left - 6}" y="${y + 11}" text-anchor="end">${esc(b.id)}</text>`);
    out.push(
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(Math.min(b.ratio, xMax)) - left).toFixed(1)}" height="${rowH - 5}" fill="${b.ratio <= b.limit ? '#3c9a5f' : '#c0392b'}"><title>${esc(b.id)}: ${b.ratio.toFixed(2)}× (limit ${b.limit}×)</title></rect>`,
    );
    out.push(`<text x="${(x(Math.min(b.ratio, xMax)) + 4).toFixed(1)}" y="${y + 11}">${b.ratio.toFixed(2)}×</text>`);
  });
  if (bars.length === 0) out.push(`<text x="${left}" y="60">no cell with a reference</text>`);
  out.push('</svg>');
  return out.join('\n');
}
