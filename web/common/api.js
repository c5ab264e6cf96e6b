// api.js — the one way the pages call an Agora API.  Errors become
// ApiError with a sentence people can read; the raw body stays attached.

const HINTS = {
  invalid_json: 'The request was not valid JSON',
  invalid_request: 'Some of the information is missing or wrong',
  unknown_field: 'The request has a field the server does not know',
  body_too_large: 'That is too large to send',
  not_found: 'Not found',
  method_not_allowed: 'This server does not offer that operation',
  invalid_query: 'The search could not be read',
  invalid_id: 'That identifier is not valid',
  conflict: 'That conflicts with something that already exists',
  rate_limited: 'Too many requests; wait a moment and try again',
  internal: 'The server had an internal error',
  unavailable: 'A service is unavailable right now; try again shortly',
  missing_credentials: 'Please sign in first',
  invalid_api_key: 'This API key is unknown or has been revoked',
  forbidden: 'Your API key\'s role does not allow this',
  dataset_not_found: 'No such dataset (or it is not visible to you)',
  policy_not_found: 'No such policy',
  offer_not_found: 'No such offer',
  invalid_policy: 'The policy has problems',
  policy_in_use: 'An offer still uses this policy',
  upload_too_large: 'The file is larger than this connector accepts',
  wrong_source: 'This dataset\'s source does not take that operation',
  invalid_observations: 'The observations could not be read',
  no_content: 'No content has been uploaded for this dataset yet',
  negotiation_not_found: 'No such negotiation',
  agreement_not_found: 'No such agreement',
  negotiation_state: 'The negotiation is not in a state that allows this',
  offer_not_available: 'The broker\'s catalog does not show this offer to you',
  offer_not_narrower: 'The offer differs from the published one',
  agreement_revoked: 'The agreement is already revoked',
  transfer_not_found: 'No such transfer',
  transfer_state: 'The transfer is not in a state that allows this',
  usage_denied: 'The agreement does not permit this use now',
  query_not_permitted: 'The agreement does not permit data asked for',
  agreement_not_active: 'The agreement is not finalized, or was revoked',
};

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    this.symbol = body && typeof body === 'object' ? body.error : undefined;
  }
}

function sentence(sym) {
  return sym ? sym.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : 'Request failed';
}

// A readable message for an error body {code, error, detail, problems?}.
export function describeError(status, body) {
  if (body && typeof body === 'object' && body.error) {
    let msg = HINTS[body.error] || sentence(body.error);
    if (body.detail) msg += ` — ${body.detail}`;
    if (Array.isArray(body.problems) && body.problems.length) {
      msg += ': ' + body.problems.slice(0, 5)
        .map((p) => (typeof p === 'string' ? p : [p.path, p.message].filter(Boolean).join(' '))).join('; ');
    }
    return msg;
  }
  if (body && typeof body === 'object' && body.reason) return `Refused: ${body.reason}`;
  return `The server answered ${status}${typeof body === 'string' && body && body.length < 200 ? `: ${body}` : ''}`;
}

// The API key of the signed-in connector user (session storage only).
export const session = {
  get key() { return sessionStorage.getItem('agora.apiKey'); },
  set key(v) { if (v) sessionStorage.setItem('agora.apiKey', v); else sessionStorage.removeItem('agora.apiKey'); },
};

function authHeaders(key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// api('/api/v1/…', {method, json, body, contentType, key, raw}) → parsed
// JSON (or the Response when raw).  Throws ApiError.
export async function api(path, opts = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(opts.key === undefined ? session.key : opts.key) };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  } else if (opts.contentType) {
    headers['Content-Type'] = opts.contentType;
  }
  let res;
  try {
    res = await fetch(path, { method: opts.method || (body !== undefined ? 'POST' : 'GET'), headers, body });
  } catch (e) {
    throw new ApiError(0, null, 'Cannot reach the server; check that it is running');
  }
  if (opts.raw && res.ok) return res;
  const text = await res.text();
  let data = text;
  if ((res.headers.get('Content-Type') || '').includes('json') && text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  if (!res.ok) throw new ApiError(res.status, data, describeError(res.status, data));
  return data;
}

// Upload with progress (fetch has no upload progress): XMLHttpRequest.
export function upload(path, { method = 'PUT', file, contentType, key, onProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    const k = key === undefined ? session.key : key;
    if (k) xhr.setRequestHeader('Authorization', `Bearer ${k}`);
    xhr.setRequestHeader('Content-Type', contentType || file.type || 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      let data = xhr.responseText;
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data, describeError(xhr.status, data)));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, null, 'The upload failed: the connection was lost')));
    xhr.send(file);
  });
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const str = u.toString();
  return str ? `?${str}` : '';
}

export function seg(id) {
  return encodeURIComponent(id);
}
