// chart.js — small SVG charts drawn by the page: a time-series line, a
// gauge for a 0..1 measure.  Every chart has a <title> for assistive tech.
import { s, h } from './dom.js';

let uid = 0;

// points: [[isoTime, number], …].  Returns a <figure>.
export function lineChart(points, { label = 'Time series', unit = '' } = {}) {
  const pts = points
    .map(([t, v]) => [Date.parse(t), Number(v)])
    .filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v))
    .sort((a, b) => a[0] - b[0]);
  const W = 600; const H = 220; const L = 48; const R = 12; const T = 12; const B = 36;
  const id = `chart-${++uid}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-t`, class: 'chart' },
    s('title', { id: `${id}-t`, text: `${label}: ${pts.length} points` }));
  if (pts.length === 0) {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis', text: 'no data points' }));
    return h('figure', { class: 'chart-figure' }, svg, h('figcaption', label));
  }
  const t0 = pts[0][0]; const t1 = pts[pts.length - 1][0] || t0 + 1;
  let v0 = Math.min(...pts.map((p) => p[1])); let v1 = Math.max(...pts.map((p) => p[1]));
  if (v0 === v1) { v0 -= 1; v1 += 1; }
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - v0) / (v1 - v0)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = v0 + ((v1 - v0) * i) / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis', text: fmtNum(v) }));
  }
  const d = pts.map(([t, v], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.append(s('path', { d, class: 'series' }));
  if (pts.length <= 60) for (const [t, v] of pts) svg.append(s('circle', { cx: x(t), cy: y(v), r: 2.5, class: 'dot' }));
  svg.append(s('text', { x: L, y: H - 10, class: 'axis', text: new Date(t0).toISOString().slice(0, 16).replace('T', ' ') }));
  svg.append(s('text', { x: W - R, y: H - 10, 'text-anchor': 'end', class: 'axis', text: new Date(t1).toISOString().slice(0, 16).replace('T', ' ') }));
  const last = pts[pts.length - 1][1];
  return h('figure', { class: 'chart-figure' }, svg,
    h('figcaption', `${label}${unit ? ` (${unit})` : ''}: ${pts.length} points, from ${fmtNum(Math.min(...pts.map((p) => p[1])))} to ${fmtNum(Math.max(...pts.map((p) => p[1])))}, latest ${fmtNum(last)}`));
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a >= 1000 || a === 0) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

// A semicircle gauge for a ratio in [0, 1].
export function gauge(value, label) {
  const v = Math.max(0, Math.min(1, Number(value) || 0));
  const id = `gauge-${++uid}`;
  const r = 40; const cx = 50; const cy = 50;
  const arc = (frac) => {
    const a = Math.PI * (1 - frac);
    return `${(cx + r * Math.cos(a)).toFixed(2)},${(cy - r * Math.sin(a)).toFixed(2)}`;
  };
  const level = v >= 0.95 ? 'good' : v >= 0.8 ? 'fair' : 'poor';
  const text = `${Math.round(v * 100)}%`;
  const svg = s('svg', { viewBox: '0 0 100 60', role: 'img', 'aria-labelledby': `${id}-t`, class: `gauge ${level}` },
    s('title', { id: `${id}-t`, text: `${label}: ${text}` }),
    s('path', { d: `M${arc(0)} A${r},${r} 0 0 1 ${arc(1)}`, class: 'track' }),
    v > 0 ? s('path', { d: `M${arc(0)} A${r},${r} 0 0 1 ${arc(v)}`, class: 'value' }) : null,
    s('text', { x: cx, y: cy - 2, 'text-anchor': 'middle', class: 'gauge-text', text }));
  return h('figure', { class: 'gauge-figure' }, svg, h('figcaption', label));
}

// The bounding box [minLon, minLat, maxLon, maxLat] on a small world grid.
export function bboxMap(bbox) {
  const [a, b, c, d] = bbox.map(Number);
  const W = 360; const H = 180;
  const x = (lon) => ((lon + 180) / 360) * W;
  const y = (lat) => ((90 - lat) / 180) * H;
  const id = `map-${++uid}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-t`, class: 'map' },
    s('title', { id: `${id}-t`, text: `Spatial extent: longitude ${a} to ${c}, latitude ${b} to ${d}` }));
  for (let lon = -180; lon <= 180; lon += 30) svg.append(s('line', { x1: x(lon), x2: x(lon), y1: 0, y2: H, class: 'grid' }));
  for (let lat = -90; lat <= 90; lat += 30) svg.append(s('line', { x1: 0, x2: W, y1: y(lat), y2: y(lat), class: 'grid' }));
  const w = Math.max(3, x(c) - x(a)); const hh = Math.max(3, y(b) - y(d));
  svg.append(s('rect', { x: x(a) - (w === 3 ? 1.5 : 0), y: y(d) - (hh === 3 ? 1.5 : 0), width: w, height: hh, class: 'bbox' }));
  svg.append(s('circle', { cx: (x(a) + x(c)) / 2, cy: (y(b) + y(d)) / 2, r: 6, class: 'bbox-ring' }));
  return h('figure', { class: 'map-figure' }, svg,
    h('figcaption', `Longitude ${a} to ${c}, latitude ${b} to ${d}`));
}
