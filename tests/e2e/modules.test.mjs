// modules.test.mjs — the web UI's pure modules in Node (no browser):
// RFC 8785 canonical JSON, RFC 6962/9162 inclusion proofs against the
// Certificate Transparency vectors and a literal transcription of the
// RFC's recursion, receipts, and the Ed25519 check of a signed tree head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalize } from '../../web/common/jcs.js';
import { leafHash, rootFromInclusionProof, checkReceipt, verifySth, bytesToHex, hexToBytes } from '../../web/common/merkle.js';
import { buildPolicy, describeTerms } from '../../web/common/policy.js';

const sha = async (...parts) => new Uint8Array(await crypto.subtle.digest('SHA-256', Buffer.concat(parts.map((p) => Buffer.from(p)))));
const leaf = async (bytes) => sha([0], bytes);
const node = async (l, r) => sha([1], l, r);

// RFC 6962 §2.1, written out literally.
async function mth(leaves) {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return node(await mth(leaves.slice(0, k)), await mth(leaves.slice(k)));
}
async function path(m, leaves) {
  if (leaves.length === 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k ? [...await path(m, leaves.slice(0, k)), await mth(leaves.slice(k))]
    : [...await path(m - k, leaves.slice(k)), await mth(leaves.slice(0, k))];
}

test('JCS: RFC 8785 key order and number forms', () => {
  assert.equal(canonicalize({ '€': 1, '\r': 2, 'ﬁ': 3, 1: 4, '😀': 5, '\u0080': 6, 'ö': 7 }),
    '{"\\r":2,"1":4,"\u0080":6,"ö":7,"€":1,"😀":5,"ﬁ":3}');
  assert.equal(canonicalize([333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001, -0, 1e21, 1e-7]),
    '[333333333.3333333,1e+30,4.5,0.002,1e-27,0,1e+21,1e-7]');
  assert.equal(canonicalize({ b: [true, null, 'x\n"'], a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":[true,null,"x\\n\\""]}');
  assert.throws(() => canonicalize(NaN));
});

test('Merkle: Certificate Transparency vectors', async () => {
  const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const leaves = await Promise.all(inputs.map((x) => leaf(hexToBytes(x))));
  const root8 = '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328';
  assert.equal(bytesToHex(await mth(leaves)), root8);
  const p0 = ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'];
  assert.equal(await rootFromInclusionProof(0, 8, bytesToHex(leaves[0]), p0), root8);
  const p5 = ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'];
  assert.equal(await rootFromInclusionProof(5, 8, bytesToHex(leaves[5]), p5), root8);
});

test('Merkle: every index of every tree up to 20 leaves, and tampering', async () => {
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => leaf(Buffer.from(`leaf ${i}`))));
  for (let n = 1; n <= 20; n++) {
    const leaves = all.slice(0, n);
    const root = bytesToHex(await mth(leaves));
    for (let m = 0; m < n; m++) {
      const proof = (await path(m, leaves)).map(bytesToHex);
      assert.equal(await rootFromInclusionProof(m, n, bytesToHex(leaves[m]), proof), root, `index ${m} of ${n}`);
      if (proof.length) {
        const bad = [...proof];
        bad[0] = bad[0].replace(/^./, (c) => (c === '0' ? '1' : '0'));
        assert.notEqual(await rootFromInclusionProof(m, n, bytesToHex(leaves[m]), bad), root);
        await assert.rejects(rootFromInclusionProof(m, n, bytesToHex(leaves[m]), proof.slice(1)));
      }
    }
  }
  await assert.rejects(rootFromInclusionProof(3, 3, bytesToHex(all[0]), []));
});

async function signedReceipt() {
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  const entries = [{ kind: 'participant_registered', n: 1 }, { kind: 'agreement', agreementId: 'urn:uuid:x', n: 2 }, { kind: 'revoked', n: 3 }];
  const leaves = await Promise.all(entries.map((e) => leaf(Buffer.from(canonicalize(e)))));
  const sthBody = { rootHash: bytesToHex(await mth(leaves)), timestamp: '2026-11-25T10:00:00Z', treeSize: 3 };
  const b64 = (b) => Buffer.from(b).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'EdDSA', kid: 'k1' }));
  const payload = b64(canonicalize(sthBody));
  const sig = b64(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, Buffer.from(`${head}.${payload}`))));
  const sth = { ...sthBody, signature: `${head}.${payload}.${sig}` };
  return {
    jwks: { keys: [{ ...jwk, kid: 'k1' }] },
    receipt: { index: 1, treeSize: 3, sth, proof: (await path(1, leaves)).map(bytesToHex), leafHash: bytesToHex(leaves[1]), entry: entries[1] },
  };
}

test('receipts: one that holds, and each way one does not', async () => {
  const { jwks, receipt } = await signedReceipt();
  assert.equal(await leafHash(receipt.entry), receipt.leafHash);
  const ok = await checkReceipt({ id: 'urn:uuid:x', receipt }, jwks);
  assert.equal(ok.holds, true, ok.summary);
  assert.match(ok.summary, /^The receipt holds: entry #1 is in the ledger of 3 entries/);
  assert.equal(ok.steps.length, 3);
  const altered = structuredClone(receipt);
  altered.entry.agreementId = 'urn:uuid:y';
  assert.match((await checkReceipt(altered, jwks)).summary, /entry was altered/);
  const wrongRoot = structuredClone(receipt);
  wrongRoot.proof[0] = '00'.repeat(32);
  assert.match((await checkReceipt(wrongRoot, jwks)).summary, /not to the signed root/);
  const forged = structuredClone(receipt);
  forged.sth.timestamp = '2026-11-26T10:00:00Z';
  assert.match((await checkReceipt(forged, jwks)).summary, /signed payload differs/);
  const otherKey = (await signedReceipt()).jwks;
  assert.match((await checkReceipt(receipt, otherKey)).summary, /does not verify/);
  assert.equal((await verifySth(receipt.sth, jwks)).ok, true);
  assert.equal((await checkReceipt({ nothing: true }, jwks)).holds, false);
});

test('policy builder: ODRL and plain language from the same terms', () => {
  const t = { who: 'participants', participants: 'urn:a, urn:b', purpose: 'research', until: '2030-12-31', times: '3', anonymize: 'plate, owner', deleteDays: '1' };
  const p = buildPolicy(t);
  assert.deepEqual(p.permission[0].assignee, ['urn:a', 'urn:b']);
  assert.deepEqual(p.permission[0].constraint, [
    { leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' },
    { leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2030-12-31' },
    { leftOperand: 'count', operator: 'lteq', rightOperand: 3 }]);
  assert.equal(describeTerms(t), 'urn:a or urn:b may use this dataset for research, until 31 Dec 2030, at most 3 times; the fields plate and owner must be anonymized, and the data must be deleted 1 day after receipt.');
  assert.deepEqual(buildPolicy({ who: 'anyone' }).permission, [{ action: 'use' }]);
  assert.equal(describeTerms({ who: 'anyone' }), 'Anyone may use this dataset.');
});
