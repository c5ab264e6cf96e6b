// dom.js — building the page without innerHTML (no markup from data, ever).

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

// h('a', {href: '/', class: 'x', onclick: f}, 'text', child, [more]) → element.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs && (attrs instanceof Node || typeof attrs !== 'object' || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  apply(el, attrs);
  append(el, kids);
  return el;
}

// The same for SVG elements.
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...kids) {
  clear(el);
  append(el, kids);
  return el;
}

// Say something to screen-reader users (the page's aria-live region).
export function announce(text) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 30);
}

// A readable error box (role=alert) for an Error or ApiError.
export function errorBox(err, prefix) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'error', role: 'alert' }, prefix ? `${prefix}: ${msg}` : msg);
}

export function notice(text, kind = 'info') {
  return h('div', { class: `notice ${kind}`, role: 'status' }, text);
}

export function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/:00 UTC$/, ' UTC');
}

export function fmtDay(iso) {
  if (!iso) return 'open';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(0, 10);
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

export function fmtSeconds(sec) {
  if (sec === undefined || sec === null) return '—';
  const s2 = Math.round(Number(sec));
  if (s2 < 90) return `${s2} s`;
  if (s2 < 5400) return `${Math.round(s2 / 60)} min`;
  if (s2 < 172800) return `${Math.round(s2 / 3600)} h`;
  return `${Math.round(s2 / 86400)} days`;
}

export function fmtPercent(x) {
  if (typeof x !== 'number') return '—';
  return `${(x * 100).toFixed(x >= 0.995 || x === 0 ? 0 : 1)} %`;
}

export function shortId(id) {
  if (!id) return '';
  const str = String(id);
  return str.length > 24 ? `${str.slice(0, 13)}…${str.slice(-8)}` : str;
}

// JSON shown to people who asked for it (the raw ODRL, a receipt).
export function jsonBlock(obj, label) {
  return h('pre', { class: 'json', tabindex: '0', 'aria-label': label || 'JSON' },
    JSON.stringify(obj, null, 2));
}

// Links inside the app that change the query: same page, no reload.
export function appLink(href, text, attrs = {}) {
  return h('a', { href, 'data-nav': '', ...attrs }, text);
}
