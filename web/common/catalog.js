// catalog.js — how a catalog dataset's quality and availability are shown,
// on the broker's pages and in the connector's catalog.
import { h, fmtSeconds, fmtPercent } from './dom.js';

export function qualityBadges(q) {
  const out = [];
  if (!q || typeof q !== 'object') return out;
  const level = (x, good, fair) => (x >= good ? 'good' : x >= fair ? 'fair' : 'poor');
  if (typeof q.completeness === 'number') out.push(h('span', { class: `badge ${level(q.completeness, 0.95, 0.8)}` }, `complete ${fmtPercent(q.completeness)}`));
  if (typeof q.plausibility === 'number') out.push(h('span', { class: `badge ${level(q.plausibility, 0.99, 0.9)}` }, `plausible ${fmtPercent(q.plausibility)}`));
  if (typeof q.freshnessSeconds === 'number') {
    const f = q.freshnessSeconds;
    out.push(h('span', { class: `badge ${f <= 86400 ? 'good' : f <= 7 * 86400 ? 'fair' : 'poor'}` }, `updated ${fmtSeconds(f)} ago`));
  }
  if (typeof q.recordCount === 'number') out.push(h('span', { class: 'badge neutral' }, `${q.recordCount.toLocaleString('en')} records`));
  return out;
}

export function availability(d) {
  return d.available === false
    ? h('span', { class: 'badge poor' }, 'provider offline')
    : h('span', { class: 'badge good' }, 'available');
}

