// app.js — a connector's management UI: sign in with an API key (kept in
// session storage), my datasets (register, upload, ingest, quality), the
// policy builder and offers, the federated catalog with "request access",
// negotiations, agreements and transfers with live state.  Only this
// connector's own API is called.
import { api, upload, session, qs, seg, ApiError } from '../common/api.js';
import { h, replace, errorBox, notice, announce, fmtDate, fmtDay, fmtBytes, jsonBlock, appLink, shortId } from '../common/dom.js';
import { start, navigate, withParams, markNav } from '../common/router.js';
import { gauge } from '../common/chart.js';
import { qualityBadges, availability } from '../common/catalog.js';
import { buildPolicy, describeTerms } from '../common/policy.js';
import { leafHash, rootFromInclusionProof } from '../common/merkle.js';

const main = document.getElementById('main');
let renderSeq = 0;
const POLL_MS = 1000;

function setTitle(t) { document.title = t ? `${t} — Agora connector` : 'Agora connector'; }

document.getElementById('signout').addEventListener('click', () => {
  session.key = null;
  announce('Signed out.');
  navigate('/');
});

// Run fn every POLL_MS while this view is shown (live state without
// reload); a tab in the background is not refreshed until it is shown.
function poll(current, fn) {
  const tick = async () => {
    if (!current()) return;
    if (!document.hidden) {
      try { await fn(); } catch (e) { /* shown by fn; keep polling */ }
    }
    if (current()) setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

function field(id, label, input, hint) {
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  input.id = id;
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null, err);
}

function setFieldError(form, id, msg) {
  const input = form.querySelector(`#${id}`);
  const err = form.querySelector(`#${id}-error`);
  if (!input || !err) return false;
  err.textContent = msg || '';
  err.hidden = !msg;
  if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  return true;
}

function stateBadge(st) {
  return h('span', { class: `state ${st}` }, st);
}

// ---- sign in ------------------------------------------------------------------------

function signInView(p) {
  setTitle('Sign in');
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h' }, 'Sign in to this connector'),
    field('apikey', 'API key', input, 'The key your connector administrator gave you. It is kept in this tab only and forgotten when you close it.'),
    h('button', { type: 'submit' }, 'Sign in'), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) { setFieldError(form, 'apikey', 'Enter your API key.'); input.focus(); return; }
    setFieldError(form, 'apikey', null);
    try {
      await api('/api/v1/datasets?limit=1', { key });
    } catch (err) {
      setFieldError(form, 'apikey', err.message);
      input.focus();
      return;
    }
    session.key = key;
    announce('Signed in.');
    navigate(p.get('view') ? withParams({}, p) : '/', { replace: true });
  });
  replace(main, form);
  input.focus();
}

// ---- my datasets ----------------------------------------------------------------------

async function datasetsView(current) {
  setTitle('My datasets');
  replace(main, h('h1', 'My datasets'), h('p', { class: 'muted' }, 'Loading…'));
  const res = await api(`/api/v1/datasets${qs({ limit: 100 })}`);
  if (!current()) return;
  const rows = res.results.map((d) => h('tr',
    h('td', { 'data-label': 'Title' }, appLink(`/?view=dataset&id=${encodeURIComponent(d.id)}`, d.title || d.id)),
    h('td', { 'data-label': 'Source' }, d.source ? d.source.type : '—'),
    h('td', { 'data-label': 'Quality' }, qualityBadges(d.quality).length ? h('div', { class: 'badges' }, qualityBadges(d.quality)) : h('span', { class: 'muted' }, 'not measured yet')),
    h('td', { 'data-label': 'Published' }, d.published ? 'in the catalog' : 'not offered yet'),
    h('td', { 'data-label': 'Modified' }, fmtDate(d.modified))));
  replace(main, h('h1', 'My datasets'),
    h('p', h('a', { href: '/?view=new-dataset', 'data-nav': '', class: 'button' }, 'Register a dataset')),
    res.results.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
      h('caption', { class: 'visually-hidden' }, 'Datasets of this connector'),
      h('thead', h('tr', ['Title', 'Source', 'Quality', 'Published', 'Modified'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows)))
      : h('p', { class: 'muted' }, 'No dataset yet. Register one to publish it.'),
    res.next ? h('p', { class: 'muted small' }, 'Only the first 100 datasets are listed.') : null);
}

const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

function readFields(text) {
  // One field per line: NAME TYPE [UNIT] [MIN] [MAX]
  const out = [];
  const problems = [];
  String(text || '').split('\n').map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
    const [name, type, unit, min, max] = line.split(/\s+/);
    if (!['number', 'integer', 'string', 'boolean'].includes(type)) {
      problems.push(`line ${i + 1}: the type must be number, integer, string or boolean`);
      return;
    }
    const f = { name, type };
    if (unit && unit !== '-') f.unit = unit;
    if (min !== undefined && min !== '-') f.min = Number(min);
    if (max !== undefined && max !== '-') f.max = Number(max);
    if ((f.min !== undefined && Number.isNaN(f.min)) || (f.max !== undefined && Number.isNaN(f.max))) problems.push(`line ${i + 1}: min and max must be numbers`);
    out.push(f);
  });
  return { fields: out, problems };
}

function newDatasetView() {
  setTitle('Register a dataset');
  const inp = (attrs = {}) => h('input', { type: 'text', ...attrs });
  const bbox = ['minlon', 'minlat', 'maxlon', 'maxlat'];
  const srcSel = h('select', { name: 'source' }, h('option', { value: 'file' }, 'A file I upload'), h('option', { value: 'observations' }, 'IoT observations (CSV or JSON rows)'));
  const obsBox = h('fieldset', { hidden: true }, h('legend', 'Observations'),
    field('fields', 'Fields', h('textarea', { rows: 3, placeholder: 'no2 number ug/m3 0 400' }), 'One per line: name, type (number, integer, string, boolean), then optionally unit, min and max (use - to skip).'),
    h('div', { class: 'grid2' },
      field('timeField', 'Time column', inp({ value: 'timestamp' })),
      field('thingField', 'Sensor column', inp({ value: 'sensor' }))));
  srcSel.addEventListener('change', () => { obsBox.hidden = srcSel.value !== 'observations'; });
  const status = h('div', { 'aria-live': 'polite' });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'new-h' },
    field('title', 'Title (required)', inp({ required: true, maxlength: 500 })),
    field('description', 'Description', h('textarea', { rows: 3 })),
    h('div', { class: 'grid2' },
      field('keyword', 'Keywords', inp(), 'Separated by commas, e.g. air quality, no2'),
      field('theme', 'Themes', inp(), 'Separated by commas, e.g. environment')),
    field('license', 'License', inp({ placeholder: 'https://creativecommons.org/licenses/by/4.0/' })),
    h('fieldset', h('legend', 'Spatial extent (optional bounding box)'),
      h('div', { class: 'grid2' }, bbox.map((b, i) => field(b, ['Minimum longitude', 'Minimum latitude', 'Maximum longitude', 'Maximum latitude'][i], inp({ inputmode: 'decimal' }))))),
    h('fieldset', h('legend', 'Time covered'),
      h('div', { class: 'grid2' },
        field('start', 'Start', h('input', { type: 'date' })),
        field('end', 'End (empty: ongoing)', h('input', { type: 'date' })))),
    h('div', { class: 'grid2' },
      field('accrualPeriodicity', 'Update frequency', inp({ placeholder: 'PT1H' }), 'An ISO 8601 duration: PT1H hourly, P1D daily.'),
      field('mediaType', 'Media type', inp({ placeholder: 'text/csv' }))),
    field('source', 'Data source', srcSel),
    obsBox,
    h('button', { type: 'submit' }, 'Register'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    const errors = {};
    const body = { title: v('title') };
    if (!body.title) errors.title = 'A title is required.';
    else if (new TextEncoder().encode(body.title).length > 500) errors.title = 'At most 500 bytes.';
    if (v('description')) body.description = v('description');
    const listOf = (id) => v(id).split(',').map((x) => x.trim()).filter(Boolean);
    if (listOf('keyword').length) body.keyword = listOf('keyword');
    if (listOf('keyword').length > 50) errors.keyword = 'At most 50 keywords.';
    if (listOf('theme').length) body.theme = listOf('theme');
    if (listOf('theme').length > 20) errors.theme = 'At most 20 themes.';
    if (v('license')) body.license = v('license');
    const bb = bbox.map(v);
    if (bb.some(Boolean)) {
      const nums = bb.map(Number);
      bb.forEach((x, i) => {
        const lim = i % 2 === 0 ? 180 : 90;
        if (x === '' || !Number.isFinite(Number(x))) errors[bbox[i]] = 'Give all four numbers, or none.';
        else if (Math.abs(Number(x)) > lim) errors[bbox[i]] = `Must lie between -${lim} and ${lim}.`;
      });
      if (!errors.maxlon && nums[2] < nums[0]) errors.maxlon = 'Must not be less than the minimum longitude.';
      if (!errors.maxlat && nums[3] < nums[1]) errors.maxlat = 'Must not be less than the minimum latitude.';
      body.spatial = { bbox: nums };
    }
    if (v('start') || v('end')) {
      body.temporal = { start: v('start') ? `${v('start')}T00:00:00Z` : null, end: v('end') ? `${v('end')}T23:59:59Z` : null };
      if (v('start') && v('end') && v('end') < v('start')) errors.end = 'The end must not be before the start.';
    }
    if (v('accrualPeriodicity')) {
      body.accrualPeriodicity = v('accrualPeriodicity');
      if (!DURATION.test(body.accrualPeriodicity)) errors.accrualPeriodicity = 'Not an ISO 8601 duration (e.g. PT1H, P1D).';
    }
    if (v('mediaType')) {
      body.mediaType = v('mediaType');
      if (!/^[\w.+-]+\/[\w.+-]+$/.test(body.mediaType)) errors.mediaType = 'Write it as type/subtype, e.g. text/csv.';
    }
    if (srcSel.value === 'observations') {
      const { fields, problems } = readFields(v('fields'));
      if (problems.length) errors.fields = problems.join('; ');
      else if (!fields.length) errors.fields = 'Declare at least one field.';
      body.source = { type: 'observations', fields, timeField: v('timeField') || 'timestamp', thingField: v('thingField') || 'sensor' };
    } else {
      body.source = { type: 'file' };
    }
    const ids = ['title', 'keyword', 'theme', ...bbox, 'end', 'accrualPeriodicity', 'mediaType', 'fields', 'description', 'license', 'start'];
    for (const id of ids) setFieldError(form, id, errors[id]);
    const first = ids.find((id) => errors[id]);
    if (first) {
      replace(status, h('p', { class: 'error', role: 'alert' }, 'Please correct the fields marked below.'));
      form.querySelector(`#${first}`).focus();
      return;
    }
    replace(status, h('p', { class: 'muted' }, 'Registering…'));
    try {
      const d = await api('/api/v1/datasets', { json: body });
      announce('Dataset registered.');
      navigate(`/?view=dataset&id=${encodeURIComponent(d.id)}&created=1`);
    } catch (err) {
      // Put the server's complaint next to the field it names, if any.
      const detail = (err.body && err.body.detail) || '';
      const named = ids.find((id) => new RegExp(`\\b${id === 'minlon' || id === 'minlat' || id === 'maxlon' || id === 'maxlat' ? 'bbox' : id}\\b`).test(detail));
      const target = named && ['minlon', 'minlat', 'maxlon', 'maxlat'].includes(named) ? 'minlon' : named;
      if (target) setFieldError(form, target, err.message);
      replace(status, errorBox(err, 'The connector refused the dataset'));
    }
  });
  replace(main, h('p', { class: 'small' }, appLink('/', '← My datasets')), h('h1', { id: 'new-h' }, 'Register a dataset'), form);
  form.querySelector('#title').focus();
}

function progressBlock(label) {
  const bar = h('progress', { max: 100, value: 0, 'aria-label': label });
  const text = h('p', { class: 'small muted', 'aria-live': 'polite' });
  return { el: h('div', { hidden: true }, bar, text), bar, text };
}

function qualityGauges(q) {
  if (!q || typeof q !== 'object' || !Object.keys(q).length) return h('p', { class: 'muted' }, 'No quality measures yet: upload content or ingest observations.');
  const ratios = [['completeness', 'Completeness'], ['plausibility', 'Plausibility'], ['schemaConformance', 'Schema conformance']];
  return h('div', h('div', { class: 'gauges' }, ratios.filter(([k]) => typeof q[k] === 'number').map(([k, l]) => gauge(q[k], l))),
    h('div', { class: 'badges' }, qualityBadges(q)));
}

async function datasetView(p, current) {
  const id = p.get('id');
  const d = await api(`/api/v1/datasets/${seg(id)}`);
  if (!current()) return;
  setTitle(d.title);
  const type = d.source ? d.source.type : 'file';
  const qualitySlot = h('div', qualityGauges(d.quality));
  const refreshQuality = async () => {
    try { replace(qualitySlot, qualityGauges(await api(`/api/v1/datasets/${seg(id)}/quality`))); } catch (e) { replace(qualitySlot, errorBox(e)); }
  };
  let dataCard;
  if (type === 'file') {
    const fileInput = h('input', { type: 'file' });
    const prog = progressBlock('Upload progress');
    const out = h('div', { 'aria-live': 'polite' });
    const form = h('form', field('upload-file', 'File to upload', fileInput, d.byteSize !== undefined && d.byteSize !== null ? `Current content: ${fmtBytes(d.byteSize)}, SHA-256 ${d.sha256 || '—'}` : 'No content uploaded yet.'),
      h('button', { type: 'submit' }, 'Upload'), prog.el, out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = fileInput.files[0];
      if (!f) { setFieldError(form, 'upload-file', 'Choose a file first.'); fileInput.focus(); return; }
      setFieldError(form, 'upload-file', null);
      prog.el.hidden = false;
      replace(out);
      try {
        const r = await upload(`/api/v1/datasets/${seg(id)}/content`, {
          file: f, contentType: f.type || d.mediaType || 'application/octet-stream',
          onProgress: (n, total) => { prog.bar.value = Math.round((n / total) * 100); prog.text.textContent = `${fmtBytes(n)} of ${fmtBytes(total)}`; },
        });
        prog.bar.value = 100;
        replace(out, notice(`Uploaded ${fmtBytes(r.byteSize)} (SHA-256 ${r.sha256}).`, 'ok'));
        refreshQuality();
      } catch (err) { replace(out, errorBox(err, 'The upload failed')); }
    });
    dataCard = h('section', { class: 'card', 'aria-labelledby': 'content-h' }, h('h2', { id: 'content-h' }, 'Content'), form);
  } else if (type === 'observations') {
    const fileInput = h('input', { type: 'file', accept: '.csv,text/csv' });
    const prog = progressBlock('Ingest progress');
    const out = h('div', { 'aria-live': 'polite' });
    const cols = [d.source.timeField || 'timestamp', d.source.thingField || 'sensor', ...(d.source.fields || []).map((f) => f.name)].join(',');
    const form = h('form', field('ingest-file', 'CSV file of observations', fileInput, `The header names the columns: ${cols}`),
      h('button', { type: 'submit' }, 'Ingest'), prog.el, out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = fileInput.files[0];
      if (!f) { setFieldError(form, 'ingest-file', 'Choose a CSV file first.'); fileInput.focus(); return; }
      setFieldError(form, 'ingest-file', null);
      prog.el.hidden = false;
      try {
        const r = await upload(`/api/v1/datasets/${seg(id)}/observations`, {
          method: 'POST', file: f, contentType: 'text/csv',
          onProgress: (n, total) => { prog.bar.value = Math.round((n / total) * 100); prog.text.textContent = `${fmtBytes(n)} of ${fmtBytes(total)}`; },
        });
        prog.bar.value = 100;
        replace(out, notice(`${r.accepted} row${r.accepted === 1 ? '' : 's'} accepted, ${r.rejectedCount || 0} rejected.`, r.rejectedCount ? 'warn' : 'ok'),
          (r.rejected || []).length ? h('ul', r.rejected.slice(0, 20).map((x) => h('li', `Row ${x.row}${x.column ? `, column ${x.column}` : ''}: ${x.reason}`))) : null);
        if (r.quality) replace(qualitySlot, qualityGauges(r.quality));
      } catch (err) { replace(out, errorBox(err, 'The ingest failed')); }
    });
    dataCard = h('section', { class: 'card', 'aria-labelledby': 'content-h' }, h('h2', { id: 'content-h' }, 'Observations'), form);
  } else {
    dataCard = h('section', { class: 'card' }, h('h2', 'Source'), h('p', `Streamed from ${d.source.url}`));
  }
  replace(main, h('p', { class: 'small' }, appLink('/', '← My datasets')),
    h('h1', d.title),
    p.get('created') ? notice('The dataset is registered. Upload its content, then publish it with terms of use.', 'ok') : null,
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'about-h' }, h('h2', { id: 'about-h' }, 'About'), h('dl', { class: 'meta' },
        h('dt', 'Identifier'), h('dd', h('code', d.id)),
        h('dt', 'Source'), h('dd', type),
        h('dt', 'Themes'), h('dd', (d.theme || []).join(', ') || '—'),
        h('dt', 'Keywords'), h('dd', (d.keyword || []).join(', ') || '—'),
        h('dt', 'Published'), h('dd', d.published ? 'yes, an offer covers it' : 'no offer yet'),
        h('dt', 'Modified'), h('dd', fmtDate(d.modified)))),
      h('section', { class: 'card', 'aria-labelledby': 'q-h' }, h('h2', { id: 'q-h' }, 'Quality'), qualitySlot)),
    dataCard,
    h('p', h('a', { href: `/?view=policies&dataset=${encodeURIComponent(d.id)}`, 'data-nav': '', class: 'button secondary' }, 'Publish with terms of use…')));
}

// ---- policies and offers ------------------------------------------------------------------

async function policiesView(p, current) {
  setTitle('Policies and offers');
  const [datasets, policies, offers] = await Promise.all([
    api(`/api/v1/datasets${qs({ limit: 100 })}`), api('/api/v1/policies'), api('/api/v1/offers')]);
  if (!current()) return;
  const inp = (attrs = {}) => h('input', { type: 'text', ...attrs });
  const whoSel = h('select', h('option', { value: 'anyone' }, 'Anyone in the dataspace'), h('option', { value: 'participants' }, 'Only these participants'), h('option', { value: 'countries' }, 'Participants from these countries'));
  const whoExtra = h('div', field('participants', 'Participant ids', inp({ placeholder: 'urn:agora:participant:…' }), 'Separated by commas.'),
    field('countries', 'Countries', inp({ placeholder: 'FR, DE' }), 'ISO country codes, separated by commas.'));
  const odrl = h('pre', { class: 'json', tabindex: '0', 'aria-label': 'ODRL policy', id: 'odrl-preview' });
  const plain = h('p', { class: 'offer', id: 'plain-preview', 'aria-live': 'polite' });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'builder-h' },
    field('policy-who', 'Who may use the data', whoSel), whoExtra,
    field('purpose', 'Purpose', inp({ placeholder: 'research' }), 'Leave empty for any purpose; several separated by commas.'),
    h('div', { class: 'grid2' },
      field('until', 'Until (last day)', h('input', { type: 'date' })),
      field('times', 'How many times', h('input', { type: 'number', min: 1, step: 1 }), 'Leave empty for no limit.')),
    field('anonymize', 'Anonymize fields', inp({ placeholder: 'sensor' }), 'Fields the provider hashes or drops before sending; separated by commas.'),
    field('deleteDays', 'Delete after (days)', h('input', { type: 'number', min: 1, step: 1 }), 'The consumer must delete the data this many days after receipt.'));
  const terms = () => {
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    return { who: whoSel.value, participants: v('participants'), countries: v('countries'), purpose: v('purpose'), until: v('until'), times: v('times'), anonymize: v('anonymize'), deleteDays: v('deleteDays') };
  };
  const update = () => {
    const t = terms();
    form.querySelector('#participants').closest('.field').hidden = t.who !== 'participants';
    form.querySelector('#countries').closest('.field').hidden = t.who !== 'countries';
    odrl.textContent = JSON.stringify(buildPolicy(t), null, 2);
    plain.textContent = describeTerms(t);
  };
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  const dsSel = h('select', datasets.results.map((d) => h('option', { value: d.id, selected: d.id === p.get('dataset') }, d.title)));
  const auto = h('input', { type: 'checkbox', id: 'autoAccept', checked: true });
  const out = h('div', { 'aria-live': 'polite' });
  const save = h('form', { 'aria-label': 'Save and offer' },
    datasets.results.length ? field('offer-dataset', 'Offer for dataset', dsSel) : h('p', { class: 'muted' }, 'Register a dataset first to offer it.'),
    h('div', { class: 'field' }, h('label', { class: 'check', for: 'autoAccept' }, auto, 'Accept requests automatically (otherwise each request waits for your approval)')),
    h('div', { class: 'row' }, h('button', { type: 'submit', name: 'offer', disabled: !datasets.results.length }, 'Save policy and offer the dataset'),
      h('button', { type: 'button', class: 'secondary', id: 'save-only' }, 'Save the policy only')), out);
  const savePolicy = async () => {
    const t = terms();
    const errs = {};
    if (t.who === 'participants' && !t.participants) errs.participants = 'Name at least one participant.';
    if (t.who === 'countries' && !/^\s*[A-Za-z]{2}(\s*,\s*[A-Za-z]{2})*\s*$/.test(t.countries)) errs.countries = 'Two-letter country codes separated by commas.';
    if (t.times && !(Number.isInteger(Number(t.times)) && Number(t.times) > 0)) errs.times = 'A whole number of times, 1 or more.';
    if (t.deleteDays && !(Number.isInteger(Number(t.deleteDays)) && Number(t.deleteDays) > 0)) errs.deleteDays = 'A whole number of days, 1 or more.';
    for (const id of ['participants', 'countries', 'times', 'deleteDays']) setFieldError(form, id, errs[id]);
    if (Object.keys(errs).length) {
      form.querySelector(`#${Object.keys(errs)[0]}`).focus();
      throw new Error('Please correct the terms marked above.');
    }
    return api('/api/v1/policies', { json: { policy: buildPolicy(t) } });
  };
  save.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const pol = await savePolicy();
      const offer = await api('/api/v1/offers', { json: { datasetSelector: { ids: [dsSel.value] }, contractPolicyId: pol.id, autoAccept: auto.checked } });
      replace(out, notice(`Offered: “${pol.description}” (offer ${offer.id}). The catalog is pushed to the broker.`, 'ok'));
      announce('Policy saved and offer created.');
      refreshLists();
    } catch (err) { replace(out, errorBox(err)); }
  });
  save.querySelector('#save-only').addEventListener('click', async () => {
    try {
      const pol = await savePolicy();
      replace(out, notice(`Policy saved: “${pol.description}”`, 'ok'));
      refreshLists();
    } catch (err) { replace(out, errorBox(err)); }
  });
  const lists = h('div');
  const titles = new Map(datasets.results.map((d) => [d.id, d.title]));
  const renderLists = (pols, offs) => replace(lists,
    h('h2', 'Policies'),
    pols.results.length ? h('ul', pols.results.map((x) => h('li', x.description || x.id, ' ', h('details', h('summary', { class: 'small' }, 'ODRL'), jsonBlock(x.policy))))) : h('p', { class: 'muted' }, 'No policy yet.'),
    h('h2', 'Offers'),
    offs.results.length ? h('ul', offs.results.map((o) => h('li',
      `${(o.datasetSelector && o.datasetSelector.ids ? o.datasetSelector.ids.map((i) => titles.get(i) || i).join(', ') : JSON.stringify(o.datasetSelector))} — `,
      o.autoAccept ? 'accepted automatically' : 'each request needs approval', h('span', { class: 'muted small' }, ` (${shortId(o.id)})`)))) : h('p', { class: 'muted' }, 'No offer yet.'));
  const refreshLists = async () => {
    try { const [a, b] = await Promise.all([api('/api/v1/policies'), api('/api/v1/offers')]); renderLists(a, b); } catch (e) { replace(lists, errorBox(e)); }
  };
  renderLists(policies, offers);
  replace(main, h('h1', 'Policies and offers'),
    h('section', { class: 'card', 'aria-labelledby': 'builder-h' }, h('h2', { id: 'builder-h' }, 'Policy builder'),
      h('div', { class: 'side-by-side' },
        form,
        h('div', h('h3', 'In plain language'), plain, h('h3', 'ODRL'), odrl)),
      save),
    lists);
  update();
}

// ---- catalog ------------------------------------------------------------------------------

async function catalogView(p, current) {
  setTitle('Catalog');
  const q = h('input', { type: 'search', name: 'q', value: p.get('q') || '' });
  const form = h('form', { role: 'search', class: 'row', 'aria-label': 'Search the federated catalog' },
    h('div', { class: 'field' }, h('label', { for: 'cq' }, 'Search the dataspace'), Object.assign(q, { id: 'cq' })),
    h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (e) => { e.preventDefault(); navigate(withParams({ q: q.value.trim(), cursor: null })); });
  const results = h('div', h('p', { class: 'muted' }, 'Searching…'));
  replace(main, h('h1', 'Catalog'), h('p', { class: 'muted' }, 'Datasets offered in the dataspace, as the broker shows them to this connector.'), form, results);
  let res;
  try {
    res = await api(`/api/v1/catalog${qs({ q: p.get('q'), cursor: p.get('cursor'), limit: 20 })}`);
  } catch (e) { if (current()) replace(results, errorBox(e, 'The catalog search failed')); return; }
  if (!current()) return;
  const card = (d) => h('li', { class: 'card result' },
    h('h2', d.title || d.id),
    h('p', { class: 'muted small' }, `by ${d.publisher ? d.publisher.name || d.publisher.id : 'unknown'}`),
    d.description ? h('p', d.description) : null,
    h('div', { class: 'badges' }, availability(d), qualityBadges(d.quality)),
    (d.offers || []).map((o) => {
      const out = h('div', { 'aria-live': 'polite' });
      const btn = h('button', { type: 'button', 'aria-label': `Request access to ${d.title} under: ${o.description || o.id}` }, 'Request access');
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          const n = await api('/api/v1/negotiations', { json: { datasetId: d.id, offerId: o.id, provider: d.publisher.id } });
          announce('Access requested.');
          navigate(`/?view=negotiations&id=${encodeURIComponent(n.id)}`);
        } catch (err) { btn.disabled = false; replace(out, errorBox(err, 'The request was refused')); }
      });
      return h('div', { class: 'offer' }, h('p', o.description || 'Terms without a description'),
        h('details', h('summary', { class: 'small' }, 'ODRL'), jsonBlock(o.policy)), btn, out);
    }));
  replace(results, h('h2', `${res.count} dataset${res.count === 1 ? '' : 's'}`),
    h('ul', { class: 'results' }, res.results.map(card)),
    res.next ? h('p', appLink(withParams({ cursor: res.next }), 'Next page »')) : null);
}

// ---- negotiations -------------------------------------------------------------------------

async function negotiationsView(p, current) {
  setTitle('Negotiations');
  const listSlot = h('div', h('p', { class: 'muted' }, 'Loading…'));
  const detailSlot = h('div');
  replace(main, h('h1', 'Negotiations'),
    h('p', { class: 'muted' }, 'Requests you made (consumer) and requests for your data (provider). States update live.'),
    detailSlot, listSlot);
  const seen = new Map();
  let lastList = null;
  let lastDetail = null;
  const decide = async (n, action) => {
    const reason = action === 'reject' ? 'rejected in the connector UI' : undefined;
    try {
      await api(`/api/v1/negotiations/${seg(n.id)}/${action}`, { json: reason ? { reason } : {} });
      announce(action === 'approve' ? 'Approved.' : 'Rejected.');
      await refresh();
    } catch (err) { replace(listSlot.querySelector(`[data-out="${CSS.escape(n.id)}"]`) || listSlot, errorBox(err)); }
  };
  const render = (res) => {
    const rows = res.results.map((n) => {
      const out = h('div', { 'data-out': n.id, 'aria-live': 'polite' });
      const actions = n.role === 'provider' && n.state === 'REQUESTED'
        ? h('div', { class: 'row' },
          h('button', { type: 'button', onclick: () => decide(n, 'approve'), 'aria-label': `Approve the request from ${n.consumer || n.counterpart}` }, 'Approve'),
          h('button', { type: 'button', class: 'danger', onclick: () => decide(n, 'reject'), 'aria-label': `Reject the request from ${n.consumer || n.counterpart}` }, 'Reject'))
        : null;
      return h('tr', { 'data-id': n.id },
        h('td', { 'data-label': 'Negotiation' }, appLink(withParams({ view: 'negotiations', id: n.id }, new URLSearchParams()), shortId(n.id))),
        h('td', { 'data-label': 'Role' }, n.role),
        h('td', { 'data-label': 'With' }, (n.role === 'provider' ? n.consumer : n.provider) || n.counterpart || '—'),
        h('td', { 'data-label': 'Dataset' }, h('code', shortId(n.datasetId))),
        h('td', { 'data-label': 'State' }, stateBadge(n.state), n.agreementId ? h('div', appLink(`/?view=agreements&id=${encodeURIComponent(n.agreementId)}`, 'agreement', { class: 'small' })) : null),
        h('td', { 'data-label': 'Action' }, actions, out));
    });
    replace(listSlot, res.results.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'negotiations' },
      h('caption', { class: 'visually-hidden' }, 'Negotiations'),
      h('thead', h('tr', ['Negotiation', 'Role', 'With', 'Dataset', 'State', 'Action'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows))) : h('p', { class: 'muted' }, 'No negotiation yet. Find a dataset in the catalog and request access.'));
  };
  const renderDetail = (n) => replace(detailSlot, h('section', { class: 'card', 'aria-labelledby': 'neg-h' },
    h('h2', { id: 'neg-h' }, 'Negotiation ', h('code', shortId(n.id))),
    h('p', { id: 'neg-state', 'aria-live': 'polite' }, 'State: ', stateBadge(n.state),
      n.state === 'FINALIZED' && n.agreementId ? h('span', ' — ', appLink(`/?view=agreements&id=${encodeURIComponent(n.agreementId)}`, 'see the agreement')) : null,
      n.state === 'TERMINATED' && n.reason ? h('span', ` — ${n.reason}`) : null),
    h('dl', { class: 'meta' }, h('dt', 'Role'), h('dd', n.role || '—'), h('dt', 'Dataset'), h('dd', h('code', n.datasetId || '—')), h('dt', 'Offer'), h('dd', h('code', n.offerId || '—'))),
    (n.history || []).length ? h('details', h('summary', `Messages (${n.history.length})`),
      h('ol', n.history.map((m) => h('li', `${fmtDate(m.at)} — ${m.direction || ''} ${m.type || ''}`)))) : null));
  const refresh = async () => {
    const res = await api(`/api/v1/negotiations${qs({ limit: 50 })}`);
    if (!current()) return;
    for (const n of res.results) {
      const before = seen.get(n.id);
      if (before && before !== n.state) announce(`Negotiation ${shortId(n.id)} is now ${n.state}.`);
      seen.set(n.id, n.state);
    }
    // Redraw only on change, so keyboard focus stays where it is.
    const now = JSON.stringify(res.results);
    if (now !== lastList) { lastList = now; render(res); }
    if (p.get('id')) {
      const n = await api(`/api/v1/negotiations/${seg(p.get('id'))}`);
      const d = JSON.stringify([n.state, n.agreementId, n.reason, (n.history || []).length]);
      if (current() && d !== lastDetail) { lastDetail = d; renderDetail(n); }
    }
  };
  await refresh();
  poll(current, refresh);
}

// ---- agreements -------------------------------------------------------------------------------

// Does this connector have the transfer API yet?  Its /openapi.json is
// generated from its route table, so asking it costs no failed request
// (which the browser would log as an error).
let transfersApi = null;
async function hasTransfers() {
  if (transfersApi === null) {
    try {
      const doc = await api('/openapi.json', { key: null });
      const paths = doc.paths || {};
      transfersApi = {
        create: !!(paths['/api/v1/transfers'] && paths['/api/v1/transfers'].post),
        list: !!(paths['/api/v1/transfers'] && paths['/api/v1/transfers'].get),
        get: !!(paths['/api/v1/transfers/{id}'] && paths['/api/v1/transfers/{id}'].get),
      };
    } catch (e) {
      return { create: true, list: true, get: true }; // unknown: try the API itself
    }
  }
  return transfersApi;
}

// Transfers started from this tab, for connectors that cannot list them.
function rememberTransfer(id) {
  const ids = JSON.parse(sessionStorage.getItem('agora.transfers') || '[]');
  if (!ids.includes(id)) ids.unshift(id);
  sessionStorage.setItem('agora.transfers', JSON.stringify(ids.slice(0, 50)));
}

const NO_TRANSFERS = 'Transfers are not available on this connector yet: it has no transfer API. Negotiations and agreements work as usual.';

async function startTransfer(agreementId, out) {
  if (!(await hasTransfers()).create) { replace(out, notice(NO_TRANSFERS, 'warn')); return; }
  try {
    const t = await api('/api/v1/transfers', { json: { agreementId, format: 'HttpData-PULL' } });
    rememberTransfer(t.id);
    announce('Transfer requested.');
    navigate(`/?view=transfers&id=${encodeURIComponent(t.id)}`);
  } catch (err) {
    replace(out, err.status === 404 || err.status === 405
      ? notice(NO_TRANSFERS, 'warn')
      : errorBox(err, 'The transfer could not start'));
  }
}

async function receiptCheck(rc) {
  // The inclusion proof, replayed here; the broker's signature on the
  // tree head is checked on the broker's ledger page.
  const leaf = rc.entry !== undefined ? await leafHash(rc.entry) : rc.leafHash;
  if (rc.leafHash && leaf !== rc.leafHash) return { ok: false, text: 'The receipt\'s entry does not hash to its leaf hash.' };
  const root = await rootFromInclusionProof(rc.index, rc.treeSize, leaf, rc.proof || []);
  return root === (rc.sth && rc.sth.rootHash)
    ? { ok: true, text: `The inclusion proof holds: ledger entry #${rc.index} is in the signed tree of ${rc.treeSize} entries.` }
    : { ok: false, text: 'The inclusion proof does not lead to the signed root.' };
}

async function agreementsView(p, current) {
  setTitle('Agreements');
  const res = await api(`/api/v1/agreements${qs({ limit: 50 })}`);
  if (!current()) return;
  const id = p.get('id');
  let detail = null;
  if (id) {
    const a = await api(`/api/v1/agreements/${seg(id)}`);
    if (!current()) return;
    const out = h('div', { 'aria-live': 'polite' });
    const check = h('div', { 'aria-live': 'polite' });
    const sigs = a.signatures || [];
    detail = h('section', { class: 'card', 'aria-labelledby': 'ag-h' },
      h('h2', { id: 'ag-h' }, 'Agreement ', h('code', shortId(a.id))),
      h('p', 'Status: ', stateBadge(a.status || 'active'), ` — you are the ${a.role || 'party'}`),
      h('h3', `Signatures (${sigs.length} of 3)`),
      h('ul', { id: 'signatures' }, sigs.map((x) => h('li', h('strong', x.role), ` — ${x.signer} `, h('details', h('summary', { class: 'small' }, 'JWS'), h('code', x.jws))))),
      h('h3', 'Ledger receipt'),
      a.receipt ? h('div', h('p', `Entry #${a.receipt.index} of ${a.receipt.treeSize}, tree head signed ${fmtDate(a.receipt.sth && a.receipt.sth.timestamp)}.`),
        h('button', { type: 'button', class: 'secondary', onclick: async () => { try { const r = await receiptCheck(a.receipt); replace(check, notice(`${r.ok ? '✔' : '✘'} ${r.text}`, r.ok ? 'ok' : 'warn')); } catch (e) { replace(check, errorBox(e)); } } }, 'Check the inclusion proof'),
        check,
        h('details', h('summary', 'Receipt JSON (paste it into the broker\'s ledger page to verify the signature too)'), jsonBlock(a.receipt, 'Ledger receipt')))
        : h('p', { class: 'muted' }, 'No receipt yet.'),
      h('details', h('summary', 'The agreement (ODRL)'), jsonBlock(a.agreement, 'ODRL agreement')),
      a.role === 'consumer' && (a.status || 'active') === 'active'
        ? h('p', h('button', { type: 'button', onclick: () => startTransfer(a.id, out) }, 'Start a transfer'), out) : null);
  }
  const rows = res.results.map((a) => h('tr',
    h('td', { 'data-label': 'Agreement' }, appLink(`/?view=agreements&id=${encodeURIComponent(a.id)}`, shortId(a.id))),
    h('td', { 'data-label': 'Role' }, a.role || '—'),
    h('td', { 'data-label': 'Dataset' }, h('code', shortId(a.agreement && a.agreement.target))),
    h('td', { 'data-label': 'Signatures' }, String((a.signatures || []).length)),
    h('td', { 'data-label': 'Status' }, stateBadge(a.status || 'active'))));
  replace(main, h('h1', 'Agreements'), detail,
    res.results.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
      h('caption', { class: 'visually-hidden' }, 'Agreements'),
      h('thead', h('tr', ['Agreement', 'Role', 'Dataset', 'Signatures', 'Status'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows))) : h('p', { class: 'muted' }, 'No agreement yet.'));
}

// ---- transfers ---------------------------------------------------------------------------------

// A reason as people read it: a JSON list of strings the connector
// embedded (a broker's refusal reasons) becomes "a; b".
function readableReason(reason) {
  return String(reason).replace(/\[(?:"(?:[^"\\]|\\.)*"(?:,\s*)?)+\]/g, (m) => {
    try { return JSON.parse(m).join('; '); } catch (e) { return m; }
  });
}

// Whether the received bytes hash to what the provider announced: the
// connector's verdict, else (a push whose receipt reached the broker before
// the provider's, where the connector leaves `verified` unset) the two
// hashes it reports, compared here.
function hashVerified(t) {
  if (typeof t.verified === 'boolean') return t.verified;
  return t.sha256 && t.expectedSha256 ? t.sha256 === t.expectedSha256 : undefined;
}

// The state of a transfer in one sentence, from this connector's side.
function transferSentence(t) {
  const consumer = t.role !== 'provider';
  const bytes = fmtBytes(t.bytes || 0);
  switch (t.state) {
    case 'REQUESTED': return 'Requested: waiting for the broker and the provider to start it.';
    case 'STARTED':
      if (!consumer) return t.bytes ? `Sending: ${bytes} sent so far.` : 'Started: the consumer may now fetch the data.';
      if (t.autoPull === false) return 'Started: the data is ready to be fetched by your own client (its address and token from the connector\'s /edr endpoint).';
      if (t.receivedAt) return `Received ${bytes}; reporting the receipt to the broker.`;
      return t.bytes ? `Receiving: ${bytes} so far.` : 'Started: the data is on its way.';
    case 'SUSPENDED': return 'Suspended: the transfer is paused and can be resumed.';
    case 'COMPLETED':
      if (!consumer) return `Completed: ${bytes} sent.`;
      if (hashVerified(t) === true) return `Completed: ${bytes} received, and the SHA-256 matches the one the provider announced.`;
      if (hashVerified(t) === false) return `Completed, but the data does not match: ${bytes} received whose SHA-256 differs from the one the provider announced.`;
      return `Completed: ${bytes} received (the provider announced no SHA-256 to compare with).`;
    case 'TERMINATED': return 'Stopped: the transfer ended before it completed.';
    default: return `State: ${t.state || 'unknown'}.`;
  }
}

// The problem behind a state, if any, as a sentence.
function transferProblem(t) {
  if (!t.reason) return null;
  const why = readableReason(t.reason);
  if (t.state === 'TERMINATED' || t.state === 'SUSPENDED') return `Why: ${why.replace(/^./, (c) => c.toUpperCase())}.`.replace(/\.\.$/, '.');
  if (t.state === 'COMPLETED') return null;
  return `Last problem, retrying: ${why}`;
}

function transferFileName(t) {
  return `transfer-${String(t.id).replace(/^urn:uuid:/, '').replace(/[^A-Za-z0-9-]/g, '_')}.bin`;
}

// Fetch the received bytes with the API key (a plain link could not send
// it) and hand them to the browser as a file through a temporary URL.
async function download(t, out) {
  replace(out, h('p', { class: 'muted' }, 'Downloading…'));
  try {
    const res = await api(`/api/v1/transfers/${seg(t.id)}/data`, { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: transferFileName(t), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    replace(out, notice(`Downloaded ${fmtBytes(blob.size)} as ${transferFileName(t)}.`, 'ok'));
    announce(`Downloaded ${fmtBytes(blob.size)}.`);
  } catch (err) { replace(out, errorBox(err, 'The download failed')); }
}

// Replace el's content and give keyboard focus back to the control that
// had it (the same data-focus-key), so live updates do not lose it.
function redraw(el, ...kids) {
  const had = document.activeElement && el.contains(document.activeElement)
    ? document.activeElement.getAttribute('data-focus-key') : null;
  replace(el, ...kids);
  if (had) {
    const again = el.querySelector(`[data-focus-key="${CSS.escape(had)}"]`);
    if (again) again.focus();
  }
}

function canDownload(t) {
  return t.role !== 'provider' && t.state === 'COMPLETED' && !!t.receivedAt && !t.deletedAt;
}

async function transfersView(p, current) {
  setTitle('Transfers');
  const slot = h('div', h('p', { class: 'muted' }, 'Loading…'));
  const detailSlot = h('div');
  // Outside the redrawn parts, so a download's result stays on screen.
  const out = h('div', { id: 'transfer-out', 'aria-live': 'polite' });
  replace(main, h('h1', 'Transfers'), h('p', { class: 'muted' }, 'Data moving under your agreements. States update live.'), detailSlot, out, slot);
  const states = new Map();
  const downloadButton = (t, label, key) => h('button', {
    type: 'button', 'data-focus-key': key, onclick: () => download(t, out), 'aria-label': label,
  }, 'Download');
  const row = (t) => {
    const received = t.role !== 'provider';
    return h('tr', { 'data-id': t.id },
      h('td', { 'data-label': 'Transfer' }, appLink(withParams({ view: 'transfers', id: t.id }, new URLSearchParams()), shortId(t.id))),
      h('td', { 'data-label': 'Role' }, t.role || '—'),
      h('td', { 'data-label': 'Agreement' }, t.agreementId ? appLink(`/?view=agreements&id=${encodeURIComponent(t.agreementId)}`, shortId(t.agreementId)) : '—'),
      h('td', { 'data-label': 'State' }, stateBadge(t.state), h('div', { class: 'small' }, transferSentence(t)),
        transferProblem(t) ? h('div', { class: 'small' }, transferProblem(t)) : null),
      h('td', { 'data-label': received ? 'Received' : 'Sent' }, t.bytes !== undefined && t.bytes !== null ? fmtBytes(t.bytes) : '—',
        t.sha256 ? h('div', { class: 'small mono' }, `SHA-256 ${t.sha256.slice(0, 16)}…`) : null,
        hashVerified(t) === true ? h('div', { class: 'small' }, '✔ hash verified') : hashVerified(t) === false ? h('div', { class: 'small' }, '✘ hash mismatch') : null,
        t.deletedAt ? h('div', { class: 'small muted' }, `deleted ${fmtDate(t.deletedAt)}`)
          : t.deleteDueAt ? h('div', { class: 'small muted' }, `to be deleted ${fmtDate(t.deleteDueAt)}`) : null),
      h('td', { 'data-label': 'Data' }, canDownload(t)
        ? downloadButton(t, `Download the data of transfer ${shortId(t.id)}`, `row:${t.id}`) : '—'));
  };
  const detail = (t) => {
    const consumer = t.role !== 'provider';
    const problem = transferProblem(t);
    const dd = (label, v) => (v === undefined || v === null || v === '' ? null : [h('dt', label), h('dd', v)]);
    return h('section', { class: 'card', 'aria-labelledby': 'tr-h' },
      h('h2', { id: 'tr-h' }, 'Transfer ', h('code', shortId(t.id))),
      h('p', { id: 'transfer-state' }, stateBadge(t.state), ' ', transferSentence(t)),
      problem ? h('p', { id: 'transfer-problem', class: t.state === 'TERMINATED' ? 'error' : 'notice warn' }, problem) : null,
      t.deletedAt ? h('p', { class: 'muted' }, `The received data was deleted ${fmtDate(t.deletedAt)}, as the agreement's delete duty requires.`) : null,
      canDownload(t) ? h('p', downloadButton(t, 'Download the received data', 'detail'), ' ',
        h('span', { class: 'small muted' }, `${fmtBytes(t.bytes)} as ${transferFileName(t)}`)) : null,
      h('dl', { class: 'meta' },
        dd('Role', t.role ? `${t.role} — ${consumer ? `from ${t.provider || '?'}` : `to ${t.consumer || '?'}`}` : null),
        dd('Agreement', t.agreementId ? appLink(`/?view=agreements&id=${encodeURIComponent(t.agreementId)}`, shortId(t.agreementId)) : null),
        dd('Dataset', t.datasetId ? h('code', t.datasetId) : null),
        dd('Format', t.format),
        dd('Purpose', t.purpose),
        dd(consumer ? 'Received' : 'Sent', fmtBytes(t.bytes || 0)),
        dd('SHA-256', t.sha256 ? h('code', t.sha256) : null),
        dd('Announced SHA-256', t.expectedSha256 && t.expectedSha256 !== t.sha256 ? h('code', t.expectedSha256) : null),
        dd('Hash check', hashVerified(t) === true ? '✔ matches the provider\'s' : hashVerified(t) === false ? '✘ mismatch' : null),
        dd('Received at', t.receivedAt ? fmtDate(t.receivedAt) : null),
        dd('Reported', t.reportedAt ? fmtDate(t.reportedAt) : null),
        dd('To be deleted', t.deleteDueAt && !t.deletedAt ? fmtDate(t.deleteDueAt) : null)),
      (t.events || []).length ? h('details', h('summary', `Messages (${t.events.length})`),
        h('ol', t.events.map((ev) => h('li', `${fmtDate(ev.at || ev.time)} — ${[ev.direction === 'in' ? 'received' : ev.direction === 'out' ? 'sent' : ev.direction, ev.type || ev.state].filter(Boolean).join(' ')}`)))) : null);
  };
  const caps = await hasTransfers();
  if (!caps.list && !caps.get) {
    if (current()) replace(slot, notice(NO_TRANSFERS, 'warn'));
    return;
  }
  const listOf = (res) => (Array.isArray(res) ? res : res.results || res.transfers || []);
  let last = null;
  let lastDetail = null;
  let missing = false; // the transfer of ?id= does not exist: ask once
  const refresh = async () => {
    let items;
    let focus = null;
    try {
      if (caps.list) {
        items = listOf(await api(`/api/v1/transfers${qs({ limit: 50 })}`));
      } else {
        // No list endpoint: the transfers this tab started, one by one.
        const ids = JSON.parse(sessionStorage.getItem('agora.transfers') || '[]');
        if (p.get('id') && !ids.includes(p.get('id'))) ids.unshift(p.get('id'));
        items = (await Promise.all(ids.map((id) => api(`/api/v1/transfers/${seg(id)}`).catch(() => null)))).filter(Boolean);
      }
      if (p.get('id') && caps.get && !missing) focus = await api(`/api/v1/transfers/${seg(p.get('id'))}`);
    } catch (err) {
      if (!current()) return;
      if (err.status === 404 && err.symbol === 'transfer_not_found') {
        missing = true;
        replace(detailSlot, errorBox(err));
      } else if (err.status === 404 || err.status === 405) {
        replace(slot, notice(NO_TRANSFERS, 'warn'));
        throw err; // stop polling quietly
      } else {
        replace(slot, errorBox(err, 'The transfers could not be loaded'));
        return;
      }
    }
    if (!current() || !items) return;
    for (const t of items) {
      const before = states.get(t.id);
      if (before && before !== t.state) announce(`Transfer ${shortId(t.id)}: ${transferSentence(t)}`);
      states.set(t.id, t.state);
    }
    // Redraw only on change, so keyboard focus stays where it is.
    if (focus) {
      const d = JSON.stringify(focus);
      if (d !== lastDetail) { lastDetail = d; redraw(detailSlot, detail(focus)); }
    }
    const now = JSON.stringify(items);
    if (now === last) return;
    last = now;
    redraw(slot, items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'transfers' },
      h('caption', { class: 'visually-hidden' }, 'Transfers'),
      h('thead', h('tr', ['Transfer', 'Role', 'Agreement', 'State', 'Bytes', 'Data'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', items.map(row)))) : h('p', { class: 'muted' }, 'No transfer yet. Start one from an agreement.'));
  };
  try {
    await refresh();
  } catch (e) { return; }
  // Poll until a refresh throws (the API does not exist) or the view changes.
  let stopped = false;
  poll(() => current() && !stopped, async () => { try { await refresh(); } catch (e) { stopped = true; } });
}

// Last, once every module-level binding above exists: the first view is
// drawn synchronously from here (transfersView reads transfersApi before
// its first await; called earlier it threw "Cannot access 'transfersApi'
// before initialization" on a page opened at ?view=transfers).
start(async (p) => {
  const seq = ++renderSeq;
  const current = () => seq === renderSeq;
  const signedIn = !!session.key;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('who').hidden = !signedIn;
  if (!signedIn) { signInView(p); return; }
  const view = p.get('view') || 'datasets';
  markNav({ dataset: 'datasets', 'new-dataset': 'datasets' }[view] || view);
  try {
    switch (view) {
      case 'new-dataset': newDatasetView(); break;
      case 'dataset': await datasetView(p, current); break;
      case 'policies': await policiesView(p, current); break;
      case 'catalog': await catalogView(p, current); break;
      case 'negotiations': await negotiationsView(p, current); break;
      case 'agreements': await agreementsView(p, current); break;
      case 'transfers': await transfersView(p, current); break;
      default: await datasetsView(current);
    }
  } catch (e) {
    if (!current()) return;
    if (e instanceof ApiError && (e.status === 401)) {
      session.key = null;
      replace(main, h('h1', 'Signed out'), errorBox(e), h('p', appLink('/', 'Sign in again')));
      return;
    }
    replace(main, h('h1', 'Something went wrong'), errorBox(e));
  }
});
