// policy.js — the policy builder's model: common terms → an ODRL Set, and
// the same terms in plain language (a preview; the connector stores its
// own description, made by the policy library, when the policy is saved).

const list = (str) => String(str || '').split(',').map((x) => x.trim()).filter(Boolean);

// terms: {who: 'anyone'|'participants'|'countries', participants, countries,
//         purpose, until (YYYY-MM-DD), times, anonymize, deleteDays}
export function buildPolicy(t) {
  const perm = { action: 'use' };
  const constraint = [];
  if (t.who === 'participants' && list(t.participants).length) {
    const ids = list(t.participants);
    perm.assignee = ids.length === 1 ? ids[0] : ids;
  }
  if (t.who === 'countries' && list(t.countries).length) {
    const cs = list(t.countries).map((c) => c.toUpperCase());
    constraint.push(cs.length === 1
      ? { leftOperand: 'agora:country', operator: 'eq', rightOperand: cs[0] }
      : { leftOperand: 'agora:country', operator: 'isAnyOf', rightOperand: cs });
  }
  const purposes = list(t.purpose);
  if (purposes.length) {
    constraint.push(purposes.length === 1
      ? { leftOperand: 'purpose', operator: 'eq', rightOperand: purposes[0] }
      : { leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: purposes });
  }
  if (t.until) constraint.push({ leftOperand: 'dateTime', operator: 'lteq', rightOperand: t.until });
  if (t.times) constraint.push({ leftOperand: 'count', operator: 'lteq', rightOperand: Number(t.times) });
  if (constraint.length) perm.constraint = constraint;
  const duty = [];
  const fields = list(t.anonymize);
  if (fields.length) duty.push({ action: 'anonymize', fields });
  if (t.deleteDays) duty.push({ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'eq', rightOperand: `P${Number(t.deleteDays)}D` }] });
  if (duty.length) perm.duty = duty;
  return { '@context': 'https://w3id.org/dspace/2025/1/context.jsonld', '@type': 'Set', permission: [perm] };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function day(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || '');
  return m ? `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${m[1]}` : iso;
}

function joinOr(xs) {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

function joinAnd(xs) {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

// The same wording as the policy library's description (agora_policy_describe).
export function describeTerms(t) {
  let text = t.who === 'participants' && list(t.participants).length
    ? `${joinOr(list(t.participants))} may use this dataset` : 'Anyone may use this dataset';
  const cs = list(t.countries).map((c) => c.toUpperCase());
  const condition = t.who === 'countries' && cs.length > 0;
  if (condition) text += cs.length === 1 ? ` if the country is ${cs[0]}` : ` if the country is one of ${joinOr(cs)}`;
  const purposes = list(t.purpose);
  if (purposes.length) text += `${condition ? ',' : ''} for ${joinOr(purposes)}`;
  const parts = [text];
  if (t.until) parts.push(`until ${day(t.until)}`);
  if (t.times) parts.push(`at most ${Number(t.times)} time${Number(t.times) === 1 ? '' : 's'}`);
  text = parts.join(', ');
  const duties = [];
  const fields = list(t.anonymize);
  if (fields.length) duties.push(`the field${fields.length === 1 ? '' : 's'} ${joinAnd(fields)} must be anonymized`);
  if (t.deleteDays) duties.push(`the data must be deleted ${Number(t.deleteDays)} day${Number(t.deleteDays) === 1 ? '' : 's'} after receipt`);
  if (duties.length) text += `; ${duties.join(', and ')}`;
  return `${text}.`;
}
