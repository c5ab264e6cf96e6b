// jcs.js — RFC 8785 JSON Canonicalization Scheme.  JCS is defined in terms
// of ECMAScript's own number and string serialisation, so JSON.stringify
// does both; objects get their members sorted by UTF-16 code units.
export function canonicalize(v) {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('JCS: numbers must be finite');
    return JSON.stringify(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalize).join(',')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(v[k])}`).join(',')}}`;
  }
  throw new Error(`JCS: cannot encode a ${typeof v}`);
}
