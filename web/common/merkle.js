// merkle.js — checking ledger receipts in the browser with WebCrypto:
// RFC 6962/9162 leaf and node hashes, the inclusion proof algorithm of
// RFC 9162 §2.1.3.2, and the broker's EdDSA signature on the tree head.
import { canonicalize } from './jcs.js';

const enc = new TextEncoder();

export function hexToBytes(hex) {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error(`not lowercase hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function b64urlToBytes(str) {
  const b64 = str.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((str.length + 3) % 4);
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let off = 0;
  for (const p of parts) { buf.set(p, off); off += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

// SHA-256(0x00 ‖ JCS(entry)) as hex.
export async function leafHash(entry) {
  return bytesToHex(await sha256(Uint8Array.of(0), enc.encode(canonicalize(entry))));
}

// The root an inclusion proof leads to (hex), or throws naming the problem.
export async function rootFromInclusionProof(index, treeSize, leafHex, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) {
    throw new Error(`index ${index} is not inside a tree of ${treeSize} entries`);
  }
  let fn = index;
  let sn = treeSize - 1;
  let r = hexToBytes(leafHex);
  for (const p of proof) {
    if (sn === 0) throw new Error('the proof is longer than the tree allows');
    const ph = hexToBytes(p);
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), ph, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(Uint8Array.of(1), r, ph);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the proof is shorter than the tree needs');
  return bytesToHex(r);
}

// Verify the STH's compact JWS against a JWKS.  Returns {ok, reason}.
export async function verifySth(sth, jwks) {
  const parts = String(sth.signature || '').split('.');
  if (parts.length !== 3) return { ok: false, reason: 'the tree head carries no compact JWS signature' };
  let header;
  let payload;
  try {
    header = JSON.parse(new TextDecoder().decode(b64urlToBytes(parts[0])));
    payload = new TextDecoder().decode(b64urlToBytes(parts[1]));
  } catch (e) {
    return { ok: false, reason: 'the signature is not a readable JWS' };
  }
  if (header.alg !== 'EdDSA') return { ok: false, reason: `unexpected signature algorithm ${header.alg}` };
  const want = canonicalize({ rootHash: sth.rootHash, timestamp: sth.timestamp, treeSize: sth.treeSize });
  if (payload !== want) return { ok: false, reason: 'the signed payload differs from the tree head shown' };
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid) || (jwks.keys || [])[0];
  if (!jwk) return { ok: false, reason: 'the broker publishes no key with that kid' };
  let key;
  try {
    key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    return { ok: null, reason: 'this browser cannot check Ed25519 signatures (WebCrypto lacks Ed25519)' };
  }
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, b64urlToBytes(parts[2]), enc.encode(`${parts[0]}.${parts[1]}`));
  return ok ? { ok: true, kid: header.kid } : { ok: false, reason: 'the broker\'s signature on the tree head does not verify' };
}

// Check a receipt {index, treeSize, sth, proof, leafHash?, entry?} (or a
// document holding one in `receipt`).  jwks: the broker's keys, or null to
// skip the signature.  Returns {holds, steps:[{ok, text}], summary}.
export async function checkReceipt(doc, jwks) {
  const steps = [];
  const fail = (text) => { steps.push({ ok: false, text }); return { holds: false, steps, summary: text }; };
  const rc = doc && typeof doc === 'object' && doc.receipt ? doc.receipt : doc;
  if (!rc || typeof rc !== 'object') return fail('This is not a receipt: expected a JSON object.');
  const { index, treeSize, sth, proof } = rc;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || !sth || !Array.isArray(proof)) {
    return fail('This is not a receipt: it needs index, treeSize, sth and proof.');
  }
  let leaf = rc.leafHash;
  if (rc.entry !== undefined) {
    const computed = await leafHash(rc.entry);
    if (leaf && leaf !== computed) return fail(`The entry does not hash to the receipt's leaf hash (the entry was altered).`);
    leaf = computed;
    steps.push({ ok: true, text: `The entry hashes to leaf ${leaf.slice(0, 16)}….` });
  }
  if (!leaf) return fail('The receipt has neither an entry nor a leaf hash.');
  if (sth.treeSize !== treeSize) return fail(`The receipt is for a tree of ${treeSize} entries but its signed tree head covers ${sth.treeSize}.`);
  let root;
  try {
    root = await rootFromInclusionProof(index, treeSize, leaf, proof);
  } catch (e) {
    return fail(`The inclusion proof is malformed: ${e.message}.`);
  }
  if (root !== sth.rootHash) return fail(`The inclusion proof leads to root ${root.slice(0, 16)}…, not to the signed root ${String(sth.rootHash).slice(0, 16)}….`);
  steps.push({ ok: true, text: `The inclusion proof (${proof.length} hashes) leads to the signed root ${root.slice(0, 16)}….` });
  if (jwks) {
    const sig = await verifySth(sth, jwks);
    if (sig.ok === false) return fail(`The tree head's signature does not hold: ${sig.reason}.`);
    steps.push({ ok: sig.ok === true, text: sig.ok ? `The broker's signature on the tree head verifies (key ${sig.kid}).` : `Signature not checked: ${sig.reason}.` });
  }
  return {
    holds: true,
    steps,
    summary: `The receipt holds: entry #${index} is in the ledger of ${treeSize} entries signed at ${sth.timestamp}.`,
  };
}
