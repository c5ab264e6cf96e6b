// app.js — the broker's public UI: catalog search, dataset page,
// participants and the ledger explorer.  Anonymous; only the broker's
// public API is called.
import { api, qs, seg } from '../common/api.js';
import { h, replace, errorBox, notice, announce, fmtDate, fmtDay, fmtBytes, fmtSeconds, fmtPercent, jsonBlock, appLink } from '../common/dom.js';
import { start, params, navigate, withParams, markNav } from '../common/router.js';
import { lineChart, gauge, bboxMap } from '../common/chart.js';
import { checkReceipt, verifySth } from '../common/merkle.js';
import { qualityBadges, availability } from '../common/catalog.js';

const main = document.getElementById('main');
const FACETS = [
  ['theme', 'Theme'], ['keyword', 'Keyword'], ['publisher', 'Publisher'], ['format', 'Format'], ['license', 'License'],
];
const PAGE = 10;
let renderSeq = 0;

function setTitle(t) { document.title = t ? `${t} — Agora` : 'Agora — data catalog'; }

start(async (p) => {
  const seq = ++renderSeq;
  const view = p.get('view') || 'search';
  markNav(view === 'dataset' ? 'search' : view);
  const current = () => seq === renderSeq;
  try {
    if (view === 'dataset') await datasetView(p, current);
    else if (view === 'participants') await participantsView(current);
    else if (view === 'ledger') await ledgerView(p, current);
    else await searchView(p, current);
  } catch (e) {
    if (current()) replace(main, h('h1', 'Something went wrong'), errorBox(e));
  }
});

// ---- quality badges, offers ------------------------------------------------

// ---- search -------------------------------------------------------------------

function apiQuery(p, extra = {}) {
  const q = {};
  for (const k of ['q', 'theme', 'keyword', 'publisher', 'format', 'license', 'sort', 'cursor']) if (p.get(k)) q[k] = p.get(k);
  if (p.get('from')) q.from = `${p.get('from')}T00:00:00Z`;
  if (p.get('to')) q.to = `${p.get('to')}T23:59:59Z`;
  q.limit = PAGE;
  return { ...q, ...extra };
}

function searchForm(p) {
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Search the catalog' },
    field('q', 'Search datasets', h('input', { id: 'q', name: 'q', type: 'search', value: p.get('q') || '', placeholder: 'e.g. air quality', autocomplete: 'off' })),
    field('from', 'From', h('input', { id: 'from', name: 'from', type: 'date', value: p.get('from') || '' })),
    field('to', 'To', h('input', { id: 'to', name: 'to', type: 'date', value: p.get('to') || '' })),
    field('sort', 'Sort by', h('select', { id: 'sort', name: 'sort' },
      [['', 'Relevance'], ['modified', 'Recently updated'], ['title', 'Title (A–Z)']].map(([v, t]) => h('option', { value: v, selected: (p.get('sort') || '') === v }, t)))),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    navigate(withParams({ q: fd.get('q').trim(), from: fd.get('from'), to: fd.get('to'), sort: fd.get('sort'), cursor: null, start: null, view: null }, p));
  });
  form.querySelector('#sort').addEventListener('change', () => form.requestSubmit());
  return form;
}

function facetPanel(p, facets) {
  const panel = h('aside', { class: 'facets', 'aria-label': 'Filters' }, h('h2', { class: 'visually-hidden' }, 'Filters'));
  for (const [key, title] of FACETS) {
    const values = (facets && facets[key]) || [];
    const selected = p.get(key);
    if (!values.length && !selected) continue;
    const list = h('ul');
    for (const v of values) {
      const on = selected === v.name;
      const label = v.label || v.name;
      list.append(h('li', h('button', {
        type: 'button', class: 'facet', 'aria-pressed': on ? 'true' : 'false',
        'aria-label': `${title}: ${label}, ${v.count} dataset${v.count === 1 ? '' : 's'}${on ? ' (selected)' : ''}`,
        onclick: () => navigate(withParams({ [key]: on ? null : v.name, cursor: null, start: null }, p)),
      }, h('span', label), h('span', { class: 'count' }, String(v.count)))));
    }
    panel.append(h('details', { open: window.innerWidth >= 800 || !!selected }, h('summary', title), list));
  }
  return panel;
}

function activeFilters(p) {
  const chips = [];
  for (const [key, title] of [...FACETS, ['from', 'From'], ['to', 'To']]) {
    const v = p.get(key);
    if (v) chips.push(h('button', { type: 'button', class: 'chip', 'aria-label': `Remove filter ${title}: ${v}`, onclick: () => navigate(withParams({ [key]: null, cursor: null, start: null }, p)) }, `${title}: ${v} ✕`));
  }
  return chips.length ? h('div', { class: 'active-filters' }, h('span', { class: 'muted small' }, 'Filters: '), chips) : null;
}

function resultCard(d) {
  return h('li', { class: 'card result' },
    h('h2', appLink(`/?view=dataset&id=${encodeURIComponent(d.id)}`, d.title || d.id)),
    h('p', { class: 'muted small' }, 'by ', d.publisher ? appLink(withParams({ publisher: d.publisher.id }, new URLSearchParams()), d.publisher.name || d.publisher.id) : 'unknown publisher',
      d.modified ? ` · updated ${fmtDay(d.modified)}` : ''),
    d.description ? h('p', d.description.length > 280 ? `${d.description.slice(0, 280)}…` : d.description) : null,
    h('div', { class: 'badges' }, availability(d), qualityBadges(d.quality)),
    (d.offers || []).slice(0, 2).map((o) => h('p', { class: 'offer' }, h('span', { class: 'visually-hidden' }, 'Offer: '), o.description || 'Terms without a description')),
    (d.theme || []).length || (d.keyword || []).length
      ? h('p', [...(d.theme || []), ...(d.keyword || [])].slice(0, 8).map((t) => h('span', { class: 'chip' }, t))) : null);
}

async function searchView(p, current) {
  setTitle(p.get('q') ? `“${p.get('q')}”` : null);
  const results = h('section', { 'aria-labelledby': 'results-h' }, h('p', { class: 'muted' }, 'Searching…'));
  replace(main, h('h1', 'Find data'), searchForm(p), h('div', { class: 'layout' }, h('div', { id: 'facets' }), h('div', activeFilters(p), results)));
  let res;
  try {
    res = await api(`/api/v1/catalog/datasets${qs(apiQuery(p))}`);
  } catch (e) {
    if (current()) replace(results, h('h2', { id: 'results-h' }, 'Results'), errorBox(e, 'The search failed'));
    return;
  }
  if (!current()) return;
  replace(main.querySelector('#facets'), facetPanel(p, res.facets));
  const startIdx = Number(p.get('start') || 0);
  const n = res.results.length;
  const heading = res.count === 0 ? 'No datasets match'
    : `${res.count} dataset${res.count === 1 ? '' : 's'}${res.count > n ? ` — showing ${startIdx + 1}–${startIdx + n}` : ''}`;
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    p.get('cursor') ? appLink(withParams({ cursor: null, start: null }, p), '« First page') : h('span'),
    res.next ? appLink(withParams({ cursor: res.next, start: String(startIdx + n) }, p), 'Next page »', { rel: 'next' }) : h('span'));
  replace(results, h('h2', { id: 'results-h', 'aria-live': 'polite' }, heading),
    res.count === 0 ? h('p', 'Try fewer words or remove a filter.') : h('ol', { class: 'results', start: startIdx + 1 }, res.results.map(resultCard)),
    pager);
  announce(heading);
}

// ---- dataset ------------------------------------------------------------------

function metaList(rows) {
  const dl = h('dl', { class: 'meta' });
  for (const [k, v] of rows) if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && !v.length)) dl.append(h('dt', k), h('dd', v));
  return dl;
}

function qualitySection(q) {
  if (!q || typeof q !== 'object' || !Object.keys(q).length) return h('p', { class: 'muted' }, 'The provider publishes no quality measures for this dataset.');
  const ratios = [['completeness', 'Completeness'], ['plausibility', 'Plausibility'], ['schemaConformance', 'Schema conformance']];
  const gauges = h('div', { class: 'gauges' }, ratios.filter(([k]) => typeof q[k] === 'number').map(([k, l]) => gauge(q[k], l)));
  if (typeof q.duplicateRate === 'number') gauges.append(gauge(1 - q.duplicateRate, 'Without duplicates'));
  return h('div', gauges, metaList([
    ['Records', typeof q.recordCount === 'number' ? q.recordCount.toLocaleString('en') : null],
    ['Expected records', typeof q.expectedRecords === 'number' ? q.expectedRecords.toLocaleString('en') : null],
    ['Newest record', typeof q.freshnessSeconds === 'number' ? `${fmtSeconds(q.freshnessSeconds)} old` : null],
    ['Duplicate rate', typeof q.duplicateRate === 'number' ? fmtPercent(q.duplicateRate) : null],
  ]));
}

function offerBlock(o, i) {
  return h('div', { class: 'card offer-card' },
    h('h3', `Offer ${i + 1}`),
    h('p', { class: 'offer' }, o.description || 'Terms without a plain-language description.'),
    h('details', h('summary', 'Show the ODRL policy'), jsonBlock(o.policy, `ODRL policy of offer ${i + 1}`)),
    h('p', { class: 'small muted' }, 'Offer id ', h('code', o.id)),
    h('p', { class: 'small muted' }, 'To use this data, request access from your own connector\'s catalog page.'));
}

async function datasetView(p, current) {
  const id = p.get('id');
  if (!id) { replace(main, h('h1', 'Dataset'), errorBox(new Error('No dataset was named in the address.'))); return; }
  replace(main, h('p', { class: 'muted' }, 'Loading the dataset…'));
  let d;
  try {
    d = await api(`/api/v1/catalog/datasets/${seg(id)}`);
  } catch (e) {
    if (current()) replace(main, h('h1', 'Dataset'), errorBox(e, 'This dataset cannot be shown'), h('p', appLink('/', '← Back to the catalog')));
    return;
  }
  if (!current()) return;
  setTitle(d.title);
  const dist = (d.distribution || []).map((x) => `${x.format || ''}${x.mediaType ? ` (${x.mediaType})` : ''}${x.byteSize !== undefined ? `, ${fmtBytes(x.byteSize)}` : ''}`).join('; ');
  const sample = d.sample && Array.isArray(d.sample.points) && d.sample.points.length ? d.sample : null;
  const others = h('div', h('p', { class: 'muted' }, 'Loading…'));
  replace(main,
    h('p', { class: 'small' }, appLink('/', '← Catalog')),
    h('h1', d.title || d.id),
    h('div', { class: 'badges' }, availability(d), qualityBadges(d.quality)),
    d.description ? h('p', d.description) : null,
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'meta-h' }, h('h2', { id: 'meta-h' }, 'About this dataset'), metaList([
        ['Publisher', d.publisher ? appLink(withParams({ publisher: d.publisher.id }, new URLSearchParams()), d.publisher.name || d.publisher.id) : null],
        ['Identifier', h('code', d.id)],
        ['Themes', (d.theme || []).join(', ')],
        ['Keywords', (d.keyword || []).join(', ')],
        ['License', d.license ? (/^https?:\/\//.test(d.license) ? h('a', { href: d.license, rel: 'noopener noreferrer' }, d.license) : d.license) : null],
        ['Issued', d.issued ? fmtDate(d.issued) : null],
        ['Modified', d.modified ? fmtDate(d.modified) : null],
        ['Time covered', d.temporal ? `${fmtDay(d.temporal.start)} to ${d.temporal.end ? fmtDay(d.temporal.end) : 'ongoing'}` : null],
        ['Update frequency', d.accrualPeriodicity],
        ['Media type', d.mediaType],
        ['Distributions', dist],
        ['Catalog version', d.version !== undefined ? String(d.version) : null],
      ])),
      h('section', { class: 'card', 'aria-labelledby': 'quality-h' }, h('h2', { id: 'quality-h' }, 'Quality'), qualitySection(d.quality))),
    h('section', { 'aria-labelledby': 'offers-h' }, h('h2', { id: 'offers-h' }, 'Terms of use'),
      (d.offers || []).length ? d.offers.map(offerBlock) : h('p', { class: 'muted' }, 'No offer is visible to you.')),
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'where-h' }, h('h2', { id: 'where-h' }, 'Where'),
        d.spatial && Array.isArray(d.spatial.bbox) && d.spatial.bbox.length === 4 ? bboxMap(d.spatial.bbox) : h('p', { class: 'muted' }, 'No spatial extent is published.')),
      h('section', { class: 'card', 'aria-labelledby': 'preview-h' }, h('h2', { id: 'preview-h' }, 'Preview'),
        sample ? lineChart(sample.points, { label: sample.field || 'value', unit: sample.unit })
          : h('p', { class: 'muted' }, 'The provider publishes no sample of this dataset.'))),
    h('section', { 'aria-labelledby': 'others-h' }, h('h2', { id: 'others-h' }, `More from ${d.publisher ? d.publisher.name || d.publisher.id : 'this publisher'}`), others));
  if (!d.publisher) { replace(others, h('p', { class: 'muted' }, 'Unknown publisher.')); return; }
  try {
    const res = await api(`/api/v1/catalog/datasets${qs({ publisher: d.publisher.id, sort: 'modified', limit: 7 })}`);
    if (!current()) return;
    const list = res.results.filter((x) => x.id !== d.id).slice(0, 6);
    replace(others, list.length
      ? h('ul', list.map((x) => h('li', appLink(`/?view=dataset&id=${encodeURIComponent(x.id)}`, x.title || x.id), x.modified ? h('span', { class: 'muted small' }, ` — updated ${fmtDay(x.modified)}`) : null)))
      : h('p', { class: 'muted' }, 'No other datasets from this publisher.'));
  } catch (e) {
    if (current()) replace(others, errorBox(e));
  }
}

// ---- participants -----------------------------------------------------------------

async function allEntries(size, want) {
  const out = [];
  for (let s0 = 0; s0 < size; s0 += 1000) {
    const end = Math.min(size - 1, s0 + 999);
    const r = await api(`/api/v1/ledger/entries${qs({ start: s0, end })}`);
    for (const e of r.entries) if (!want || want(e)) out.push(e);
  }
  return out;
}

async function participantsView(current) {
  setTitle('Participants');
  replace(main, h('h1', 'Participants'), h('p', { class: 'muted' }, 'Loading…'));
  const [sth, search] = await Promise.all([api('/api/v1/ledger/sth'), api(`/api/v1/catalog/datasets${qs({ limit: 1 })}`)]);
  const regs = await allEntries(sth.treeSize, (e) => e.entry && e.entry.kind === 'participant_registered');
  if (!current()) return;
  const counts = new Map(((search.facets && search.facets.publisher) || []).map((f) => [f.name, f.count]));
  const byId = new Map();
  for (const e of regs) byId.set(e.entry.participant.id, { ...e.entry.participant, registered: e.entry.timestamp, index: e.index });
  const rows = [...byId.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  const table = h('table', { class: 'stack' },
    h('caption', { class: 'visually-hidden' }, 'Registered participants'),
    h('thead', h('tr', ['Name', 'Identifier', 'Country', 'Industry', 'Datasets', 'Registered'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', rows.map((r) => h('tr',
      h('td', { 'data-label': 'Name' }, r.name || r.id),
      h('td', { 'data-label': 'Identifier' }, h('code', r.id)),
      h('td', { 'data-label': 'Country' }, (r.attributes && r.attributes.country) || '—'),
      h('td', { 'data-label': 'Industry' }, (r.attributes && r.attributes.industry) || '—'),
      h('td', { 'data-label': 'Datasets' }, counts.get(r.id) ? appLink(withParams({ publisher: r.id }, new URLSearchParams()), `${counts.get(r.id)} dataset${counts.get(r.id) === 1 ? '' : 's'}`) : '0'),
      h('td', { 'data-label': 'Registered' }, fmtDate(r.registered), h('br'), appLink(`/?view=ledger&entry=${r.index}`, `ledger entry #${r.index}`, { class: 'small' }))))));
  replace(main, h('h1', 'Participants'),
    h('p', 'The organisations registered in this dataspace, as recorded in the broker\'s public ledger, with the number of datasets each publishes.'),
    rows.length ? h('div', { class: 'table-wrap' }, table) : h('p', { class: 'muted' }, 'No participant is registered yet.'));
}

// ---- ledger ---------------------------------------------------------------------------

let jwksCache = null;
async function brokerJwks() {
  if (!jwksCache) jwksCache = await api('/.well-known/jwks.json');
  return jwksCache;
}

function describeEntry(e) {
  const x = e.entry || {};
  switch (x.kind) {
    case 'participant_registered': return `${(x.participant && (x.participant.name || x.participant.id)) || 'a participant'} joined`;
    case 'agreement': return `Agreement ${x.agreementId || ''} between ${x.assigner || '?'} and ${x.assignee || '?'}`;
    case 'revoked': return `Agreement ${x.agreementId || ''} revoked`;
    case 'transfer_started': return `Transfer ${x.transferId || x.transfer || ''} started`;
    case 'transfer_completed': return `Transfer ${x.transferId || x.transfer || ''} completed`;
    case 'deleted': return `Data deleted under agreement ${x.agreementId || ''}`;
    default: return x.kind || 'entry';
  }
}

function receiptChecker(prefill) {
  const ta = h('textarea', { id: 'receipt', rows: 8, spellcheck: 'false', 'aria-describedby': 'receipt-hint' });
  if (prefill) ta.value = prefill;
  const out = h('div', { id: 'receipt-result', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { 'aria-labelledby': 'check-h' },
    h('div', { class: 'field' }, h('label', { for: 'receipt' }, 'Receipt or agreement (JSON)'), ta,
      h('p', { class: 'hint', id: 'receipt-hint' }, 'Paste a ledger receipt ({index, treeSize, sth, proof, entry}) or a whole agreement document from a connector. The check runs in this browser: the entry is hashed, the inclusion proof is replayed with WebCrypto, and the broker\'s signature on the tree head is verified.')),
    h('button', { type: 'submit' }, 'Check the receipt'), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let doc;
    try { doc = JSON.parse(ta.value); } catch (err) {
      replace(out, h('p', { class: 'error verdict' }, 'This is not valid JSON; paste the receipt exactly as you received it.'));
      return;
    }
    replace(out, h('p', { class: 'muted' }, 'Checking…'));
    let jwks = null;
    try { jwks = await brokerJwks(); } catch (err) { /* signature check reported as skipped */ }
    const r = await checkReceipt(doc, jwks);
    replace(out, h('div', { class: r.holds ? 'notice ok' : 'error' },
      h('p', { class: 'verdict' }, r.holds ? `✔ ${r.summary}` : `✘ The receipt does not hold. ${r.summary}`),
      h('ul', { class: 'steps' }, r.steps.map((st) => h('li', { class: st.ok === false ? 'bad' : '' }, st.text)))));
    announce(r.holds ? 'The receipt holds.' : 'The receipt does not hold.');
  });
  return form;
}

async function receiptFor(index, sth) {
  const [proof, entries] = await Promise.all([
    api(`/api/v1/ledger/proof${qs({ index, tree_size: sth.treeSize })}`),
    api(`/api/v1/ledger/entries${qs({ start: index, end: index })}`),
  ]);
  const e = entries.entries[0];
  return { index, treeSize: sth.treeSize, sth, proof: proof.proof, leafHash: e.leafHash, entry: e.entry };
}

async function ledgerView(p, current) {
  setTitle('Ledger');
  replace(main, h('h1', 'Ledger'), h('p', { class: 'muted' }, 'Loading…'));
  const sth = await api('/api/v1/ledger/sth');
  if (!current()) return;
  const size = sth.treeSize;
  const perPage = 20;
  const top = Math.min(size - 1, p.get('before') ? Number(p.get('before')) : size - 1);
  const low = Math.max(0, top - perPage + 1);
  const entries = size > 0 ? (await api(`/api/v1/ledger/entries${qs({ start: low, end: top })}`)).entries.reverse() : [];
  if (!current()) return;
  const sigState = h('span', { class: 'muted' }, 'checking…');
  const checkerSlot = h('div');
  const check = async (index) => {
    const rc = await receiptFor(index, sth);
    replace(checkerSlot, receiptChecker(JSON.stringify(rc, null, 2)));
    checkerSlot.querySelector('form').requestSubmit();
    checkerSlot.querySelector('textarea').focus();
  };
  const rows = entries.map((e) => h('tr',
    h('td', { 'data-label': 'Index' }, String(e.index)),
    h('td', { 'data-label': 'Kind' }, h('code', e.entry.kind)),
    h('td', { 'data-label': 'What' }, describeEntry(e), h('details', h('summary', { class: 'small' }, 'Entry JSON'), jsonBlock(e.entry, `Ledger entry ${e.index}`))),
    h('td', { 'data-label': 'Time' }, fmtDate(e.entry.timestamp)),
    h('td', { 'data-label': 'Proof' }, h('button', { type: 'button', class: 'secondary', 'aria-label': `Check the inclusion of entry ${e.index}`, onclick: () => check(e.index).catch((err) => replace(checkerSlot, errorBox(err))) }, 'Check inclusion'))));
  replace(checkerSlot, receiptChecker());
  replace(main, h('h1', 'Ledger'),
    h('p', 'Every registration, agreement, revocation and transfer in this dataspace is recorded in an append-only Merkle tree log (RFC 9162). Anyone can check that an entry is in the log the broker signed.'),
    h('section', { class: 'card', 'aria-labelledby': 'sth-h' }, h('h2', { id: 'sth-h' }, 'Latest signed tree head'), h('dl', { class: 'meta' },
      h('dt', 'Entries'), h('dd', { id: 'sth-size' }, String(size)),
      h('dt', 'Signed at'), h('dd', fmtDate(sth.timestamp)),
      h('dt', 'Root hash'), h('dd', h('code', sth.rootHash)),
      h('dt', 'Signature'), h('dd', sigState))),
    h('section', { class: 'card', 'aria-labelledby': 'check-h' }, h('h2', { id: 'check-h' }, 'Check a receipt'), checkerSlot),
    h('section', { 'aria-labelledby': 'entries-h' }, h('h2', { id: 'entries-h' }, size ? `Entries ${low}–${top} (newest first)` : 'Entries'),
      entries.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
        h('thead', h('tr', ['Index', 'Kind', 'What', 'Time', 'Proof'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', rows)))
        : h('p', { class: 'muted' }, 'The ledger is empty.'),
      h('nav', { class: 'pager', 'aria-label': 'Ledger pages' },
        top < size - 1 ? appLink(withParams({ before: null }, p), '« Newest') : h('span'),
        low > 0 ? appLink(withParams({ before: String(low - 1) }, p), 'Older »') : h('span'))));
  try {
    const v = await verifySth(sth, await brokerJwks());
    if (current()) replace(sigState, v.ok ? h('span', { class: 'badge good' }, '✔ verified in this browser') : h('span', { class: `badge ${v.ok === null ? 'neutral' : 'poor'}` }, v.ok === null ? v.reason : `✘ ${v.reason}`));
  } catch (e) {
    if (current()) replace(sigState, errorBox(e));
  }
  if (p.get('entry') && current()) {
    const i = Number(p.get('entry'));
    if (Number.isSafeInteger(i) && i >= 0 && i < size) await check(i).catch((err) => replace(checkerSlot, errorBox(err)));
  }
}
