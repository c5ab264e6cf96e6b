// stack.mjs — a real dataspace for the end-to-end tests: a broker and two
// connectors (city = provider, mobility = consumer) on free ports, each
// with its own database in the throwaway PostgreSQL that
// scripts/pg-test-cluster started ($AGORA_TEST_PG), seeded through their
// public and management APIs the way an operator would.
//
// Run directly (`scripts/pg-test-cluster run -- node tests/e2e/stack.mjs`)
// it prints the URLs and keys and waits: handy for trying the UI by hand.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const build = process.env.AGORA_BUILD_DIR || 'build';
const bin = (n) => resolve(top, build, 'bin', n);

export const ADMIN_KEY = 'e2e-broker-admin-key-0123456789';
export const CITY_KEY = 'e2e-city-admin-key-0123456789';
export const MOBI_KEY = 'e2e-mobility-admin-key-0123456789';
export const CITY = 'urn:agora:participant:city';
export const MOBI = 'urn:agora:participant:mobility';

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => res(port)); });
  });
}

function conninfo(db) {
  const base = process.env.AGORA_TEST_PG;
  if (!base) throw new Error('AGORA_TEST_PG is not set: run under scripts/pg-test-cluster run --');
  return `${base.replace(/dbname=\S+/, '')} dbname=${db}`.trim();
}

function createDb(name) {
  execFileSync('psql', [process.env.AGORA_TEST_PG, '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
}

async function waitHttp(url, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { const r = await fetch(url); if (r.status) return; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

export async function call(base, method, path, key, body, contentType) {
  const headers = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: r.status, json, text };
}

async function must(base, method, path, key, body, want = [200, 201], contentType) {
  const r = await call(base, method, path, key, body, contentType);
  if (!want.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

export async function startStack() {
  const dir = mkdtempSync(join(tmpdir(), 'agora-e2e-'));
  const tag = `e2e_${process.pid}_${Date.now() % 100000}`;
  const procs = [];
  const stack = { dir, procs, logs: {} };
  const run = (name, args) => {
    const log = join(dir, `${name}.log`);
    stack.logs[name] = log;
    const fd = openSync(log, 'a');
    const p = spawn(args[0], args.slice(1), { stdio: ['ignore', fd, fd] });
    procs.push(p);
    return p;
  };
  const webRoot = resolve(top, 'web');

  const bport = await freePort();
  stack.broker = `http://127.0.0.1:${bport}`;
  createDb(`${tag}_broker`);
  run('broker', [bin('agora-broker'), '--listen', `127.0.0.1:${bport}`, '--db', conninfo(`${tag}_broker`),
    '--data-dir', join(dir, 'broker'), '--public-url', stack.broker, '--admin-key', ADMIN_KEY,
    '--threads', '4', '--crawl-interval', '0', '--search-cache-ttl', '0', '--outbox-workers', '2', '--web-root', webRoot]);
  await waitHttp(`${stack.broker}/healthz`);

  for (const [name, id, key, country] of [['city', CITY, CITY_KEY, 'FR'], ['mobility', MOBI, MOBI_KEY, 'DE']]) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const cdir = join(dir, name);
    mkdirSync(cdir, { recursive: true });
    const keyfile = join(cdir, 'key.pem');
    const jwk = JSON.parse(execFileSync(bin('agora-connector'), ['--print-jwk', '--key', keyfile, '--data-dir', cdir]).toString());
    await must(stack.broker, 'POST', '/api/v1/participants', ADMIN_KEY, {
      id, name: name === 'city' ? 'City of Lyon' : 'Mobility Lab', endpoint: url, jwks: { keys: [jwk] },
      attributes: { country, industry: 'public-sector' },
    });
    createDb(`${tag}_${name}`);
    run(name, [bin('agora-connector'), '--listen', `127.0.0.1:${port}`, '--db', conninfo(`${tag}_${name}`),
      '--data-dir', join(cdir, 'data'), '--public-url', url, '--broker', stack.broker, '--participant-id', id,
      '--key', keyfile, '--api-key', key, '--push-debounce', '20', '--threads', '4', '--outbox-workers', '2', '--web-root', webRoot]);
    stack[name] = url;
  }
  await waitHttp(`${stack.city}/healthz`);
  await waitHttp(`${stack.mobility}/healthz`);
  await seed(stack);
  return stack;
}

// Provider datasets: one observations dataset with an auto-accepted open
// offer, one file dataset whose offer waits for manual approval, one more
// environment dataset so facets have something to count.
async function seed(stack) {
  const c = stack.city;
  const policy = async (p) => (await must(c, 'POST', '/api/v1/policies', CITY_KEY, { policy: p })).id;
  const open = await policy({ '@type': 'Set', permission: [{ action: 'use' }] });
  const research = await policy({ '@type': 'Set', permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2030-12-31' }], duty: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'eq', rightOperand: 'P30D' }] }] }] });
  const ds = async (d) => (await must(c, 'POST', '/api/v1/datasets', CITY_KEY, d)).id;
  const air = await ds({
    title: 'Air quality, Lyon 3e, hourly', description: 'NO2 measured hourly by the city\'s roadside sensors in the 3rd arrondissement.',
    keyword: ['air quality', 'no2'], theme: ['environment'], license: 'https://creativecommons.org/licenses/by/4.0/',
    spatial: { bbox: [4.83, 45.74, 4.87, 45.77] }, temporal: { start: '2026-01-01T00:00:00Z', end: null }, accrualPeriodicity: 'PT1H',
    source: { type: 'observations', fields: [{ name: 'no2', type: 'number', unit: 'ug/m3', min: 0, max: 400 }], timeField: 'timestamp', thingField: 'sensor' },
  });
  const rows = ['timestamp,sensor,no2'];
  const t0 = Date.parse('2026-11-24T00:00:00Z');
  for (let i = 0; i < 24; i++) rows.push(`${new Date(t0 + i * 3600e3).toISOString().replace('.000', '')},s1,${(20 + 8 * Math.sin(i / 3)).toFixed(1)}`);
  await must(c, 'POST', `/api/v1/datasets/${encodeURIComponent(air)}/observations`, CITY_KEY, `${rows.join('\n')}\n`, [200], 'text/csv');
  const traffic = await ds({
    title: 'Traffic counts, Part-Dieu', description: 'Vehicles per 15 minutes at the Part-Dieu crossings.',
    keyword: ['traffic', 'counts'], theme: ['mobility'], license: 'https://opendatacommons.org/licenses/odbl/1-0/',
    mediaType: 'text/csv', source: { type: 'file' },
  });
  await must(c, 'PUT', `/api/v1/datasets/${encodeURIComponent(traffic)}/content`, CITY_KEY, 'time,count\n2026-11-25T08:00:00Z,412\n', [200], 'text/csv');
  const noise = await ds({
    title: 'Noise levels, Croix-Rousse', description: 'Sound pressure levels from the noise observatory.',
    keyword: ['noise'], theme: ['environment'], mediaType: 'text/csv', source: { type: 'file' },
  });
  const noiseContent = 'time,dba\n2026-11-25T08:00:00Z,61.5\n2026-11-25T09:00:00Z,64\n';
  await must(c, 'PUT', `/api/v1/datasets/${encodeURIComponent(noise)}/content`, CITY_KEY, noiseContent, [200], 'text/csv');
  const offer = async (ids, pol, autoAccept) => (await must(c, 'POST', '/api/v1/offers', CITY_KEY, { datasetSelector: { ids }, contractPolicyId: pol, autoAccept })).id;
  stack.data = {
    air, traffic, noise, noiseContent,
    airOffer: await offer([air], open, true),
    trafficOffer: await offer([traffic], research, false),
    noiseOffer: await offer([noise], open, true),
  };
  // The push is asynchronous: wait until the broker lists all three.
  const end = Date.now() + 15000;
  for (;;) {
    const r = await call(stack.broker, 'GET', '/api/v1/catalog/datasets?limit=10', null);
    if (r.status === 200 && r.json.count >= 3) break;
    if (Date.now() > end) throw new Error(`the broker lists ${r.json && r.json.count} datasets, not 3`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function stopStack(stack, { keep = false } = {}) {
  if (!stack) return;
  await Promise.all(stack.procs.map((p) => new Promise((res) => {
    if (p.exitCode !== null) { res(); return; }
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.on('exit', () => { clearTimeout(t); res(); });
    p.kill('SIGTERM');
  })));
  if (!keep) rmSync(stack.dir, { recursive: true, force: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const stack = await startStack();
  console.log(JSON.stringify({ broker: stack.broker, city: stack.city, mobility: stack.mobility, cityKey: CITY_KEY, mobilityKey: MOBI_KEY, logs: stack.dir, data: stack.data }, null, 2));
  const stop = async () => { await stopStack(stack); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => {}, 1 << 30);
}
