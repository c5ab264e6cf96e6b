// ui.test.mjs — Agora's web UI end to end, in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a real broker and
// two real connectors on a throwaway PostgreSQL (stack.mjs).
//
// Every test fails on a console error, an uncaught page error or a
// request to anything but this machine, and leaves a screenshot in
// screenshots/ when it fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStack, stopStack, call, CITY_KEY, MOBI_KEY, CITY } from './stack.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
let stack;
let browser;

before(async () => {
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopStack(stack, { keep: process.env.AGORA_E2E_KEEP === '1' });
});

// A fresh browser context and page that records what must not happen.
async function openPage(width = 1280) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()} ${m.location().url || ''}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && !['blob:', 'data:'].includes(u.protocol)) problems.push(`third-party request: ${r.url()}`);
  });
  return { ctx, page, problems };
}

// test() with a page; a screenshot on failure; no console errors allowed.
// allow: URLs whose error answer the scenario provokes on purpose (the
// browser logs every 4xx as a console error).
function scenario(name, fn, { width, allow = [] } = {}) {
  test(name, async () => {
    const { ctx, page, problems } = await openPage(width);
    try {
      await fn(page);
      const unexpected = problems.filter((p) => !allow.some((re) => re.test(p)));
      assert.deepEqual(unexpected, [], 'the page logged no errors and asked no other host');
    } catch (e) {
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, `${name.replace(/[^A-Za-z0-9]+/g, '-')}.png`), fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await ctx.close();
    }
  });
}

async function signIn(page, base, key) {
  await page.goto(`${base}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'My datasets' }).waitFor();
}

// Every form control has an accessible name (a label, aria-label or
// aria-labelledby), and every image-like SVG a title.
async function allLabelled(page) {
  const bad = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.closest('[hidden]') || el.type === 'hidden') continue;
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!named) out.push(el.outerHTML.slice(0, 120));
    }
    for (const svg of document.querySelectorAll('svg[role="img"]')) if (!svg.querySelector('title')) out.push(svg.outerHTML.slice(0, 80));
    return out;
  });
  assert.deepEqual(bad, [], `unlabelled controls on ${page.url()}`);
}

async function noHorizontalScroll(page) {
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(sw <= cw, `no horizontal scrolling at ${cw} px (content is ${sw} px wide)`);
}

scenario('broker search with a text query and a facet', async (page) => {
  await page.goto(`${stack.broker}/`);
  await page.getByRole('heading', { name: '3 datasets' }).waitFor();
  // Keyboard only: type the query, Enter submits.
  await page.getByLabel('Search datasets').focus();
  await page.keyboard.type('air');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\?q=air/);
  await page.getByRole('heading', { name: '1 dataset' }).waitFor();
  const facet = page.getByRole('button', { name: /^Theme: environment, 1 dataset/ });
  await facet.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => u.searchParams.get('theme') === 'environment' && u.searchParams.get('q') === 'air');
  assert.equal(await page.getByRole('button', { name: /^Theme: environment.*\(selected\)/ }).getAttribute('aria-pressed'), 'true');
  await page.getByRole('link', { name: 'Air quality, Lyon 3e, hourly' }).waitFor();
  assert.match(await page.locator('.result .offer').first().innerText(), /Anyone may use this dataset/);
  // Back removes the facet again; a shared link opens the same search.
  await page.goBack();
  await page.waitForURL((u) => !u.searchParams.get('theme') && u.searchParams.get('q') === 'air');
  await page.goto(`${stack.broker}/?theme=environment`);
  await page.getByRole('heading', { name: '2 datasets' }).waitFor();
  assert.equal(await page.getByLabel('Search datasets').inputValue(), '');
  await page.goto(`${stack.broker}/?q=traffic`);
  await page.getByRole('link', { name: 'Traffic counts, Part-Dieu' }).waitFor();
  await allLabelled(page);
  await page.setViewportSize({ width: 360, height: 800 });
  await noHorizontalScroll(page);
});

scenario('broker dataset page', async (page) => {
  await page.goto(`${stack.broker}/?q=air`);
  await page.getByRole('link', { name: 'Air quality, Lyon 3e, hourly' }).click();
  await page.waitForURL((u) => u.searchParams.get('view') === 'dataset');
  await page.getByRole('heading', { level: 1, name: 'Air quality, Lyon 3e, hourly' }).waitFor();
  await page.getByText('Anyone may use this dataset.').first().waitFor();
  // The raw ODRL is one click away.
  const odrl = page.getByLabel('ODRL policy of offer 1');
  assert.equal(await odrl.isVisible(), false);
  await page.getByText('Show the ODRL policy').click();
  assert.match(await odrl.innerText(), /"permission"/);
  assert.ok(await page.locator('svg.gauge').count() >= 3, 'quality gauges');
  assert.match(await page.locator('.map-figure figcaption').innerText(), /Longitude 4.83 to 4.87/);
  // The provider publishes a sample of the series; the page draws it.
  assert.match(await page.locator('.chart-figure figcaption').innerText(), /^no2 \(ug\/m3\): 24 points/);
  assert.equal(await page.locator('svg.chart path.series').count(), 1);
  await page.getByRole('heading', { name: 'More from City of Lyon' }).waitFor();
  await page.getByRole('link', { name: 'Traffic counts, Part-Dieu' }).waitFor();
  await allLabelled(page);
  await page.setViewportSize({ width: 360, height: 800 });
  await noHorizontalScroll(page);
  // An unknown dataset is a readable message, not JSON.
  await page.goto(`${stack.broker}/?view=dataset&id=urn:uuid:00000000-0000-0000-0000-000000000000`);
  const alert = page.getByRole('alert');
  assert.match(await alert.innerText(), /No such dataset/);
  assert.doesNotMatch(await alert.innerText(), /[{}]/);
}, { allow: [/status of 404 .*\/api\/v1\/catalog\/datasets\/urn%3Auuid%3A00000000/] });

let agreementId;

scenario('consumer signs in, requests access and watches the negotiation finalize', async (page) => {
  await signIn(page, stack.mobility, MOBI_KEY);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('agora.apiKey')), MOBI_KEY);
  await page.getByRole('link', { name: 'Catalog' }).click();
  await page.getByRole('heading', { name: /datasets?$/ }).first().waitFor();
  await allLabelled(page);
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.getByRole('button', { name: /^Request access to Air quality, Lyon 3e, hourly/ }).click();
  await page.waitForURL((u) => u.searchParams.get('view') === 'negotiations' && !!u.searchParams.get('id'));
  // The state updates live, without a reload.
  await page.locator('#neg-state', { hasText: 'FINALIZED' }).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no page reload');
  await page.getByRole('link', { name: 'see the agreement' }).click();
  await page.getByRole('heading', { level: 2, name: /^Agreement urn/ }).waitFor();
  const sigs = await page.locator('#signatures > li').allInnerTexts();
  assert.equal(sigs.length, 3);
  assert.deepEqual(sigs.map((s) => s.split(' ')[0]), ['provider', 'broker', 'consumer']);
  await page.getByRole('button', { name: 'Check the inclusion proof' }).click();
  await page.getByText(/The inclusion proof holds/).waitFor();
  agreementId = new URL(page.url()).searchParams.get('id');
  // The transfers view renders, with or without the transfer API (no
  // error in the console either way); a transfer is run in its own scenario.
  await page.getByRole('link', { name: 'Transfers' }).click();
  await page.locator('main').getByText(/^Transfers are not available|^No transfer yet/).or(page.locator('#transfers')).waitFor();
  await page.setViewportSize({ width: 360, height: 800 });
  await noHorizontalScroll(page);
});

scenario('provider approves a pending negotiation', async (page) => {
  // The consumer asks for the dataset whose offer needs approval.
  const cat = await call(stack.mobility, 'GET', '/api/v1/catalog?q=traffic', MOBI_KEY);
  const ds = cat.json.results[0];
  const req = await call(stack.mobility, 'POST', '/api/v1/negotiations', MOBI_KEY, { datasetId: ds.id, offerId: ds.offers[0].id, provider: CITY });
  assert.equal(req.status, 201, req.text);
  await signIn(page, stack.city, CITY_KEY);
  await page.getByRole('link', { name: 'Negotiations' }).click();
  const approve = page.getByRole('button', { name: /^Approve the request from urn:agora:participant:mobility/ });
  await approve.waitFor({ timeout: 20000 });
  // Keyboard: focus survives the live refresh, Enter approves.
  await approve.focus();
  await page.waitForTimeout(2500);
  assert.match(await page.evaluate(() => document.activeElement.getAttribute('aria-label') || ''), /^Approve the request/);
  await page.keyboard.press('Enter');
  await page.locator('#negotiations tbody tr', { hasText: 'FINALIZED' }).waitFor({ timeout: 20000 });
  // The consumer's side reaches FINALIZED too.
  const end = Date.now() + 20000;
  let st;
  do {
    st = (await call(stack.mobility, 'GET', `/api/v1/negotiations/${encodeURIComponent(req.json.id)}`, MOBI_KEY)).json.state;
    if (st !== 'FINALIZED') await new Promise((r) => setTimeout(r, 200));
  } while (st !== 'FINALIZED' && Date.now() < end);
  assert.equal(st, 'FINALIZED');
});

// Press Tab until the control named `name` has the focus (keyboard only).
async function tabTo(page, name, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      return el ? (el.getAttribute('aria-label') || el.textContent || '').trim() : '';
    });
    if (at === name) return;
  }
  throw new Error(`${max} presses of Tab never reached “${name}”`);
}

scenario('consumer runs a transfer and downloads the data', async (page) => {
  const started = Date.now();
  await signIn(page, stack.mobility, MOBI_KEY);
  await page.getByRole('link', { name: 'Catalog' }).click();
  await page.getByRole('button', { name: /^Request access to Noise levels, Croix-Rousse/ }).click();
  await page.locator('#neg-state', { hasText: 'FINALIZED' }).waitFor({ timeout: 20000 });
  await page.getByRole('link', { name: 'see the agreement' }).click();
  await page.getByRole('heading', { level: 2, name: /^Agreement urn/ }).waitFor();
  await page.evaluate(() => { window.__sameDocument = true; });
  // Keyboard only: Tab to "Start a transfer", Enter starts it.
  await tabTo(page, 'Start a transfer');
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => u.searchParams.get('view') === 'transfers' && !!u.searchParams.get('id'));
  const transferId = new URL(page.url()).searchParams.get('id');
  // The state updates live until the data is in and its hash checked.
  const state = page.locator('#transfer-state');
  await state.getByText(/SHA-256 matches/).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no page reload');
  const bytes = Buffer.from(stack.data.noiseContent);
  assert.equal(await state.innerText(),
    `COMPLETED Completed: ${bytes.length} bytes received, and the SHA-256 matches the one the provider announced.`);
  assert.equal(await page.locator('#transfer-problem').count(), 0, 'no problem shown');
  const t = (await call(stack.mobility, 'GET', `/api/v1/transfers/${encodeURIComponent(transferId)}`, MOBI_KEY)).json;
  assert.equal(t.verified, true);
  await page.getByText(t.sha256, { exact: true }).waitFor();
  // Keyboard only: Tab to the download control, Enter saves the file.
  await tabTo(page, 'Download the received data');
  const [file] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  assert.match(file.suggestedFilename(), /^transfer-[0-9a-f-]+\.bin$/);
  assert.deepEqual(readFileSync(await file.path()), bytes, 'the downloaded bytes are the provider\'s');
  await page.locator('#transfer-out').getByText(`Downloaded ${bytes.length} bytes`).waitFor();
  // The focus stays on the control (the result is announced elsewhere).
  await page.waitForTimeout(1500);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Download the received data');
  await allLabelled(page);
  await page.setViewportSize({ width: 360, height: 800 });
  await noHorizontalScroll(page);
  await page.getByRole('button', { name: 'Download the received data' }).waitFor();
  // A refused transfer says why in words (the UI cannot send a query; the
  // API can, and a query on a file dataset is refused by the provider).
  const bad = await call(stack.mobility, 'POST', '/api/v1/transfers', MOBI_KEY, { agreementId: t.agreementId, query: { limit: 1 } });
  assert.equal(bad.status, 201, bad.text);
  await page.goto(`${stack.mobility}/?view=transfers&id=${encodeURIComponent(bad.json.id)}`);
  await page.locator('#transfer-state', { hasText: 'TERMINATED' }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#transfer-state').innerText(), 'TERMINATED Stopped: the transfer ended before it completed.');
  const why = await page.locator('#transfer-problem').innerText();
  assert.match(why, /^Why: Terminated by the provider: .*a query applies to observations datasets only/);
  assert.doesNotMatch(why, /[{}[\]"]/, 'the reason is words, not JSON');
  assert.equal(await page.getByRole('button', { name: 'Download the received data' }).count(), 0);
  await noHorizontalScroll(page);
  assert.ok(Date.now() - started < 30000, 'the scenario stays short');
}, { width: 1280 });

scenario('provider ingests observations from a CSV file', async (page) => {
  await signIn(page, stack.city, CITY_KEY);
  await page.getByRole('link', { name: 'Air quality, Lyon 3e, hourly' }).click();
  await page.getByRole('heading', { level: 1, name: 'Air quality, Lyon 3e, hourly' }).waitFor();
  assert.ok(await page.locator('svg.gauge').count() >= 3, 'quality gauges');
  await page.getByRole('button', { name: 'Ingest', exact: true }).click();
  assert.equal(await page.locator('#ingest-file-error').innerText(), 'Choose a CSV file first.');
  const csv = 'timestamp,sensor,no2\n2026-11-25T00:00:00Z,s1,30.5\n2026-11-25T01:00:00Z,s1,lots\n2026-11-25T02:00:00Z,s1,28\n';
  await page.getByLabel('CSV file of observations').setInputFiles({ name: 'no2.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Ingest', exact: true }).click();
  await page.getByText('2 rows accepted, 1 rejected.').waitFor();
  assert.match(await page.getByText(/^Row 3, column no2:/).innerText(), /^Row 3, column no2: /);
  await allLabelled(page);
});

scenario('provider registers a dataset, uploads it and offers it with the policy builder', async (page) => {
  await signIn(page, stack.city, CITY_KEY);
  await page.getByRole('link', { name: 'Register a dataset' }).click();
  const title = page.getByLabel('Title (required)');
  await title.waitFor();
  // Validation messages sit next to their fields.
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  assert.equal(await title.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#title-error').innerText(), 'A title is required.');
  assert.ok(await title.evaluate((el) => el === document.activeElement), 'focus on the first wrong field');
  await title.fill('Parking occupancy, Presqu\'île');
  await page.getByLabel('Minimum longitude').fill('200');
  await page.getByLabel('Update frequency').fill('hourly');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  assert.equal(await page.locator('#minlon-error').innerText(), 'Must lie between -180 and 180.');
  assert.equal(await page.locator('#minlat-error').innerText(), 'Give all four numbers, or none.');
  assert.match(await page.locator('#accrualPeriodicity-error').innerText(), /ISO 8601 duration/);
  assert.equal(await page.locator('#title-error').isVisible(), false);
  await allLabelled(page);
  await page.setViewportSize({ width: 360, height: 800 });
  await noHorizontalScroll(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByLabel('Minimum longitude').fill('4.82');
  await page.getByLabel('Minimum latitude').fill('45.75');
  await page.getByLabel('Maximum longitude').fill('4.84');
  await page.getByLabel('Maximum latitude').fill('45.77');
  await page.getByLabel('Update frequency').fill('PT15M');
  await page.getByLabel('Themes').fill('mobility, parking');
  await page.getByLabel('Media type').fill('text/csv');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Parking occupancy, Presqu\'île' }).waitFor();
  // Upload with a progress bar.
  const csv = `time,free\n${Array.from({ length: 2000 }, (_, i) => `2026-11-25T08:${String(i % 60).padStart(2, '0')}:00Z,${i % 90}`).join('\n')}\n`;
  await page.getByLabel('File to upload').setInputFiles({ name: 'parking.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByText(`Uploaded ${(csv.length / 1024).toFixed(1)} KiB`).waitFor();
  assert.equal(await page.getByLabel('Upload progress').evaluate((el) => el.value), 100);
  // The policy builder: ODRL and plain language side by side.
  await page.getByRole('link', { name: 'Publish with terms of use…' }).click();
  await page.getByRole('heading', { name: 'Policy builder' }).waitFor();
  assert.equal(await page.getByLabel('Offer for dataset').evaluate((el) => el.selectedOptions[0].textContent), 'Parking occupancy, Presqu\'île');
  await page.getByLabel('Who may use the data').selectOption('countries');
  await page.getByLabel('Countries').fill('fr, de');
  await page.getByLabel('Purpose').fill('research');
  await page.getByLabel('Until (last day)').fill('2030-12-31');
  await page.getByLabel('How many times').fill('5');
  await page.getByLabel('Anonymize fields').fill('plate');
  await page.getByLabel('Delete after (days)').fill('30');
  await allLabelled(page);
  const plain = 'Anyone may use this dataset if the country is one of FR or DE, for research, until 31 Dec 2030, at most 5 times; the field plate must be anonymized, and the data must be deleted 30 days after receipt.';
  assert.equal(await page.locator('#plain-preview').innerText(), plain);
  const odrl = JSON.parse(await page.getByLabel('ODRL policy').innerText());
  assert.deepEqual(odrl.permission[0].constraint.find((c) => c.leftOperand === 'count'), { leftOperand: 'count', operator: 'lteq', rightOperand: 5 });
  assert.deepEqual(odrl.permission[0].duty[0], { action: 'anonymize', fields: ['plate'] });
  await page.getByLabel(/Accept requests automatically/).uncheck();
  await page.getByRole('button', { name: 'Save policy and offer the dataset' }).click();
  // The connector's own description (the policy library's) matches the preview.
  await page.getByText(`Offered: “${plain}”`, { exact: false }).waitFor();
  await page.getByText(/Parking occupancy, Presqu'île — each request needs approval/).waitFor();
  // Pushed to the broker: the public catalog shows it with its terms.
  const end = Date.now() + 15000;
  let found;
  do {
    found = (await call(stack.broker, 'GET', '/api/v1/catalog/datasets?q=parking', null)).json.count;
    if (!found) await new Promise((r) => setTimeout(r, 100));
  } while (!found && Date.now() < end);
  await page.goto(`${stack.broker}/?q=parking`);
  await page.getByText(plain).waitFor();
});

scenario('ledger receipt verified in the browser', async (page) => {
  assert.ok(agreementId, 'an agreement from the negotiation scenario');
  const ag = await call(stack.mobility, 'GET', `/api/v1/agreements/${encodeURIComponent(agreementId)}`, MOBI_KEY);
  assert.equal(ag.status, 200, ag.text);
  assert.ok(ag.json.receipt, 'the agreement has a ledger receipt');
  await page.goto(`${stack.broker}/?view=ledger`);
  await page.getByText('✔ verified in this browser').waitFor();
  await allLabelled(page);
  const box = page.getByLabel('Receipt or agreement (JSON)');
  await box.fill(JSON.stringify(ag.json));
  await page.getByRole('button', { name: 'Check the receipt' }).click();
  const result = page.locator('#receipt-result');
  await result.getByText(/^✔ The receipt holds: entry #\d+ is in the ledger/).waitFor();
  assert.match(await result.innerText(), /signature on the tree head verifies/);
  // A receipt whose entry was altered does not hold, and it says why.
  const bad = structuredClone(ag.json);
  bad.receipt.entry.assignee = 'urn:agora:participant:someone-else';
  await box.fill(JSON.stringify(bad));
  await page.getByRole('button', { name: 'Check the receipt' }).click();
  await result.getByText(/^✘ The receipt does not hold/).waitFor();
  assert.match(await result.innerText(), /entry was altered/);
  // Not JSON at all: a sentence, not a stack trace.
  await box.fill('{not json');
  await page.getByRole('button', { name: 'Check the receipt' }).click();
  await result.getByText(/not valid JSON/).waitFor();
});
