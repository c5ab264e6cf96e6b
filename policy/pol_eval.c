/* Evaluation of compiled policies against a request context. */
#include "pol_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ comparisons */

static int cmp_ord(enum pol_operator op, int c)
{
	switch (op) {
	case OP_EQ: return c == 0;
	case OP_NEQ: return c != 0;
	case OP_LT: return c < 0;
	case OP_LTEQ: return c <= 0;
	case OP_GT: return c > 0;
	case OP_GTEQ: return c >= 0;
	default: return 0;
	}
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

/* T against the literal [lo, hi): a date covers its day, so "lteq 2026-12-31"
 * includes the whole of that day. */
static int cmp_time(enum pol_operator op, int64_t t, int64_t lo, int64_t hi)
{
	switch (op) {
	case OP_EQ: return t >= lo && t < hi;
	case OP_NEQ: return !(t >= lo && t < hi);
	case OP_LT: return t < lo;
	case OP_LTEQ: return t < hi;
	case OP_GT: return t >= hi;
	case OP_GTEQ: return t >= lo;
	default: return 0;
	}
}

static int cmp_version(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	size_t n = na > nb ? na : nb;
	for (size_t i = 0; i < n; i++) {
		uint32_t x = i < na ? a[i] : 0, y = i < nb ? b[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int parse_req_version(const char *s, uint32_t *v, size_t *n)
{
	*n = 0;
	if (*s == 'v' || *s == 'V')
		s++;
	if (!*s)
		return -1;
	while (*s) {
		if (*s < '0' || *s > '9' || *n >= 8)
			return -1;
		uint64_t x = 0;
		while (*s >= '0' && *s <= '9') {
			x = x * 10 + (uint64_t)(*s++ - '0');
			if (x > UINT32_MAX)
				return -1;
		}
		v[(*n)++] = (uint32_t)x;
		if (*s == '.' && s[1])
			s++;
		else if (*s)
			return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- concept sets */

static bool within(const struct agora_policy_config *cfg, const char *scheme, const char *a,
                   const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	return pol_concept_within(cfg, scheme, a, b);
}

static bool in_set(const struct agora_policy_config *cfg, const char *scheme, const char *v,
                   char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (within(cfg, scheme, v, s[i]))
			return true;
	return false;
}

static bool has_exact(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		const char *x = strncmp(v[i], "_:", 2) == 0 ? v[i] + 2 : v[i];
		if (strcmp(x, s) == 0)
			return true;
	}
	return false;
}

/* Request values V (all of which the use involves) against right operand S. */
static int eval_set(const struct agora_policy_config *cfg, const char *scheme,
                    enum pol_operator op, const char *const *v, size_t nv, char *const *s,
                    size_t ns)
{
	switch (op) {
	case OP_EQ:
	case OP_NEQ: {
		bool eq;
		if (ns == 1) {
			eq = true;
			for (size_t i = 0; i < nv && eq; i++)
				eq = has_exact(&v[i], 1, s[0]);
		} else {
			eq = true;
			for (size_t i = 0; i < ns && eq; i++)
				eq = has_exact(v, nv, s[i]);
			for (size_t i = 0; i < nv && eq; i++) {
				const char *x = strncmp(v[i], "_:", 2) == 0 ? v[i] + 2 : v[i];
				eq = has_exact((const char *const *)s, ns, x);
			}
		}
		return op == OP_EQ ? eq : !eq;
	}
	case OP_ISA:
	case OP_ISPARTOF:
	case OP_ISANYOF:
		for (size_t i = 0; i < nv; i++)
			if (!in_set(cfg, scheme, v[i], s, ns))
				return 0;
		return 1;
	case OP_HASPART:
		for (size_t i = 0; i < nv; i++)
			if (!within(cfg, scheme, s[0], v[i]))
				return 0;
		return 1;
	case OP_ISALLOF:
		for (size_t k = 0; k < ns; k++) {
			bool hit = false;
			for (size_t i = 0; i < nv && !hit; i++)
				hit = within(cfg, scheme, v[i], s[k]);
			if (!hit)
				return 0;
		}
		return 1;
	case OP_ISNONEOF:
		for (size_t i = 0; i < nv; i++)
			for (size_t k = 0; k < ns; k++)
				if (within(cfg, scheme, v[i], s[k]) || within(cfg, scheme, s[k], v[i]))
					return 0;
		return 1;
	default:
		return 0;
	}
}

static const struct agora_policy_attr *find_attr(const struct agora_policy_request *r,
                                                 const char *name)
{
	for (size_t i = 0; i < r->n_attrs; i++)
		if (r->attrs[i].name && strcmp(r->attrs[i].name, name) == 0)
			return &r->attrs[i];
	return NULL;
}

/* The request's values for a concept operand. */
static struct agora_policy_strs req_values(const struct agora_policy_constraint *k,
                                           const struct agora_policy_request *r,
                                           const char **one)
{
	struct agora_policy_strs none = { NULL, 0 };
	const struct agora_policy_attr *a;
	switch (k->lo) {
	case LO_PURPOSE: return r->purpose;
	case LO_SPATIAL: return r->spatial;
	case LO_FILEFORMAT: return r->file_format;
	case LO_DELIVERY: return r->delivery_channel;
	case LO_EVENT: return r->event;
	case LO_RECIPIENT:
		*one = r->recipient ? r->recipient : r->assignee;
		return *one ? (struct agora_policy_strs){ one, 1 } : none;
	case LO_INDUSTRY:
		a = find_attr(r, "industry");
		return a ? a->values : none;
	case LO_ATTR:
	case LO_PROFILE:
		a = find_attr(r, k->attr);
		/* agora:membership reads the registry's "memberships" list. */
		if (!a && strcmp(k->attr, "membership") == 0)
			a = find_attr(r, "memberships");
		return a ? a->values : none;
	default:
		return none;
	}
}

static int eval_atom(const struct agora_policy *p, const struct agora_policy_constraint *k,
                     const struct agora_policy_request *r)
{
	switch (k->lo) {
	case LO_DATETIME:
		if (!r->has_now)
			return -1;
		return cmp_time(k->op, r->now_ms, k->t_lo, k->t_hi);
	case LO_ELAPSED: {
		if (!r->has_now || !r->has_agreement_start)
			return -1;
		/* elapsed OP duration  <=>  now OP start + duration (calendar add) */
		int64_t deadline = pol_time_add(r->agreement_start_ms, &k->dur);
		return cmp_ord(k->op, CMP(r->now_ms, deadline));
	}
	case LO_COUNT:
		if (!r->has_count)
			return -1;
		return cmp_ord(k->op, CMP(r->count, k->ival));
	case LO_PAYAMOUNT:
		if (!r->has_pay_amount)
			return -1;
		if (k->unit && (!r->unit || strcmp(pol_strip_odrl(k->unit), pol_strip_odrl(r->unit))))
			return 0;
		return cmp_ord(k->op, CMP(r->pay_amount, k->num));
	case LO_PERCENTAGE:
		if (!r->has_percentage)
			return -1;
		return cmp_ord(k->op, CMP(r->percentage, k->num));
	case LO_VERSION: {
		uint32_t v[8];
		size_t n;
		if (!r->version)
			return -1;
		if (parse_req_version(r->version, v, &n))
			return 0;
		return cmp_ord(k->op, cmp_version(v, n, k->ver, k->n_ver));
	}
	case LO_DELAY:
		if (!r->has_delay)
			return -1;
		return cmp_ord(k->op, CMP(r->delay_ms, k->dur_ms));
	case LO_METERED:
		if (!r->has_metered)
			return -1;
		return cmp_ord(k->op, CMP(r->metered_ms, k->dur_ms));
	default:
		break;
	}
	const char *one = NULL;
	struct agora_policy_strs vals = req_values(k, r, &one);
	if (!vals.n)
		return -1;
	if ((k->lo == LO_ATTR || k->lo == LO_PROFILE) && k->is_num &&
	    k->op >= OP_LT && k->op <= OP_GTEQ) {
		char *end;
		double d = strtod(vals.v[0], &end);
		if (*end || end == vals.v[0] || !isfinite(d) || vals.n != 1)
			return 0;
		return cmp_ord(k->op, CMP(d, k->num));
	}
	const char *scheme = pol_operand_scheme(k->lo);
	/* A participant's country is a place: it uses the spatial hierarchy
	 * (agora:country isPartOf "EU"). */
	if (k->lo == LO_ATTR || k->lo == LO_PROFILE)
		scheme = strcmp(k->attr, "country") == 0 ? "spatial" : k->attr;
	/* A participant attribute with several values (memberships) describes
	 * what the participant is: it qualifies when any one value does.  A
	 * request's purposes and formats stay all-must-fit (the default). */
	if ((k->lo == LO_ATTR || k->lo == LO_PROFILE || k->lo == LO_INDUSTRY) && vals.n > 1 &&
	    (k->op == OP_EQ || k->op == OP_ISA || k->op == OP_ISPARTOF || k->op == OP_ISANYOF)) {
		for (size_t i = 0; i < vals.n; i++)
			if (eval_set(p->cfg, scheme, k->op, &vals.v[i], 1, k->strs, k->n_strs) == 1)
				return 1;
		return 0;
	}
	return eval_set(p->cfg, scheme, k->op, vals.v, vals.n, k->strs, k->n_strs);
}

int pol_eval_constraint(const struct agora_policy *p, const struct agora_policy_constraint *c,
                        const struct agora_policy_request *r,
                        const struct agora_policy_constraint **fail)
{
	int res;
	size_t hits = 0;
	const struct agora_policy_constraint *f = NULL;
	switch (c->kind) {
	case CK_ATOM:
		res = eval_atom(p, c, r);
		if (res != 1 && fail)
			*fail = c;
		return res;
	case CK_AND:
	case CK_ANDSEQ:
		for (size_t i = 0; i < c->n_kids; i++) {
			res = pol_eval_constraint(p, &c->kids[i], r, fail);
			if (res != 1)
				return res;
		}
		return 1;
	case CK_OR:
		res = 0;
		for (size_t i = 0; i < c->n_kids; i++) {
			int x = pol_eval_constraint(p, &c->kids[i], r, &f);
			if (x == 1)
				return 1;
			if (x == -1)
				res = -1;
		}
		if (fail)
			*fail = c;
		return res;
	case CK_XONE:
		res = 0;
		for (size_t i = 0; i < c->n_kids; i++) {
			int x = pol_eval_constraint(p, &c->kids[i], r, &f);
			if (x == 1)
				hits++;
			else if (x == -1)
				res = -1;
		}
		if (hits == 1 && res == 0)
			return 1;
		if (fail)
			*fail = c;
		return hits > 1 ? 0 : res == -1 ? -1 : 0;
	}
	return 0;
}

/* -------------------------------------------------------------- decisions */

static void add_reason(struct agora_policy_decision *d, enum agora_policy_reason_code code,
                       const struct agora_policy_rule *rule,
                       const struct agora_policy_constraint *c,
                       const struct agora_policy_rule *other)
{
	if (d->n_reasons >= AGORA_POLICY_MAX_REASONS) {
		d->reasons_truncated = true;
		return;
	}
	d->reasons[d->n_reasons++] = (struct agora_policy_reason){ code, rule, c, other };
}

static bool strs_has(const struct agora_policy_strs *s, const char *x)
{
	for (size_t i = 0; x && i < s->n; i++)
		if (s->v[i] && strcmp(s->v[i], x) == 0)
			return true;
	return false;
}

static bool is_condition_operand(enum pol_operand o)
{
	return pol_operand_type(o) == VT_CONCEPT || o == LO_VERSION || o == LO_ATTR ||
	       o == LO_PROFILE;
}

/* A duty is owed unless it is fulfilled or one of its conditions (context
 * operands such as spatial or purpose) does not hold.  Time, count and
 * amount constraints of a duty are its parameters, not conditions. */
static bool duty_owed(const struct agora_policy *p, const struct agora_policy_rule *d,
                      const struct agora_policy_request *r)
{
	if (strs_has(&r->fulfilled_duties, d->uid) || strs_has(&r->fulfilled_duties, d->path) ||
	    strs_has(&r->fulfilled_duties, d->action_name))
		return false;
	for (size_t i = 0; i < d->cons.n_kids; i++) {
		const struct agora_policy_constraint *k = &d->cons.kids[i];
		if (k->kind == CK_ATOM && is_condition_operand(k->lo) && eval_atom(p, k, r) != 1)
			return false;
	}
	return true;
}

static size_t count_owed(const struct agora_policy *p, const struct agora_policy_rule *rule,
                         const struct agora_policy_request *r)
{
	size_t n = 0;
	for (size_t i = 0; i < rule->n_sub; i++)
		n += duty_owed(p, &rule->sub[i], r);
	return n;
}

static bool target_ok(const struct agora_policy_rule *rule, const struct agora_policy_request *r)
{
	if (!r->target || !rule->n_targets)
		return true;
	for (size_t i = 0; i < rule->n_targets; i++)
		if (strcmp(rule->targets[i], r->target) == 0)
			return true;
	return false;
}

static bool assignee_ok(const struct agora_policy_rule *rule, const struct agora_policy_request *r)
{
	if (!rule->n_assignees)
		return true;
	for (size_t i = 0; r->assignee && i < rule->n_assignees; i++)
		if (strcmp(rule->assignees[i], r->assignee) == 0)
			return true;
	return false;
}

/* Checks party, refinement and constraints of RULE; on failure records a
 * reason (when D is not NULL) and returns false. */
static bool rule_holds(const struct agora_policy *p, const struct agora_policy_rule *rule,
                       const struct agora_policy_request *r, struct agora_policy_decision *d)
{
	const struct agora_policy_constraint *f = NULL;
	int res;
	if (!assignee_ok(rule, r)) {
		if (d)
			add_reason(d, AGORA_POLICY_R_ASSIGNEE, rule, NULL, NULL);
		return false;
	}
	if (rule->party.n_kids && (res = pol_eval_constraint(p, &rule->party, r, &f)) != 1) {
		if (d)
			add_reason(d, AGORA_POLICY_R_ASSIGNEE, rule, f, NULL);
		return false;
	}
	if (rule->refinement.n_kids && (res = pol_eval_constraint(p, &rule->refinement, r, &f)) != 1) {
		if (d)
			add_reason(d, AGORA_POLICY_R_REFINEMENT, rule, f, NULL);
		return false;
	}
	if (rule->cons.n_kids && (res = pol_eval_constraint(p, &rule->cons, r, &f)) != 1) {
		if (d)
			add_reason(d, res == -1 ? AGORA_POLICY_R_MISSING : AGORA_POLICY_R_VIOLATED, rule, f,
			           NULL);
		return false;
	}
	return true;
}

static void add_duties(struct agora_policy_decision *d, const struct agora_policy *p,
                       const struct agora_policy_rule *rules, size_t n,
                       const struct agora_policy_request *r)
{
	for (size_t i = 0; i < n; i++) {
		if (!duty_owed(p, &rules[i], r))
			continue;
		if (d->n_duties >= AGORA_POLICY_MAX_DUTIES) {
			d->duties_truncated = true;
			return;
		}
		d->duties[d->n_duties++] = &rules[i];
	}
}

enum agora_policy_verdict agora_policy_decide(const struct agora_policy *p,
                                              const struct agora_policy_request *r,
                                              struct agora_policy_decision *d)
{
	d->verdict = AGORA_POLICY_DENY;
	d->policy = p;
	d->request = r;
	d->n_reasons = d->n_duties = 0;
	d->reasons_truncated = d->duties_truncated = false;
	int aid = r->action ? pol_action_id(p->cfg, r->action) : -1;
	if (aid < 0) {
		add_reason(d, AGORA_POLICY_R_UNKNOWN_ACTION, NULL, NULL, NULL);
		return d->verdict;
	}
	bool covered = false;
	const struct agora_policy_rule *best = NULL, *prohib = NULL;
	size_t best_owed = (size_t)-1;
	for (size_t i = 0; i < p->n_perms; i++) {
		const struct agora_policy_rule *rule = &p->perms[i];
		if (!pol_action_in(p->cfg, aid, rule->action) || !target_ok(rule, r))
			continue;
		covered = true;
		if (!rule_holds(p, rule, r, d))
			continue;
		size_t owed = count_owed(p, rule, r);
		if (owed < best_owed) {
			best = rule;
			best_owed = owed;
		}
	}
	for (size_t i = 0; i < p->n_prohibs && !prohib; i++) {
		const struct agora_policy_rule *rule = &p->prohibs[i];
		if (!pol_action_in(p->cfg, aid, rule->action) || !target_ok(rule, r))
			continue;
		covered = true;
		if (rule_holds(p, rule, r, NULL))
			prohib = rule;
	}
	if (!covered) {
		d->verdict = AGORA_POLICY_NOT_APPLICABLE;
		add_reason(d, AGORA_POLICY_R_NO_RULE, NULL, NULL, NULL);
		return d->verdict;
	}
	if (prohib && best) {
		d->n_reasons = 0;
		switch (p->conflict) {
		case CF_PERM:
			add_reason(d, AGORA_POLICY_R_CONFLICT_PERM, prohib, NULL, best);
			break;
		case CF_PROHIBIT:
			add_reason(d, AGORA_POLICY_R_CONFLICT_PROHIBIT, prohib, NULL, best);
			return d->verdict;
		case CF_INVALID:
			add_reason(d, AGORA_POLICY_R_CONFLICT_VOID, prohib, NULL, best);
			return d->verdict;
		}
	} else if (prohib) {
		d->n_reasons = 0;
		add_reason(d, AGORA_POLICY_R_PROHIBITED, prohib, NULL, NULL);
		return d->verdict;
	}
	if (!best)
		return d->verdict;
	if (!prohib)
		d->n_reasons = 0;
	d->verdict = AGORA_POLICY_PERMIT;
	add_reason(d, AGORA_POLICY_R_GRANTED, best, NULL, NULL);
	for (size_t i = 0; i < best->cons.n_kids; i++)
		add_reason(d, AGORA_POLICY_R_SATISFIED, best, &best->cons.kids[i], NULL);
	add_duties(d, p, best->sub, best->n_sub, r);
	add_duties(d, p, p->obligs, p->n_obligs, r);
	return d->verdict;
}

const char *agora_policy_verdict_name(enum agora_policy_verdict v)
{
	switch (v) {
	case AGORA_POLICY_PERMIT: return "permit";
	case AGORA_POLICY_DENY: return "deny";
	default: return "not_applicable";
	}
}

/* ---------------------------------------------------------------- render */

static void right_text(const struct agora_policy_constraint *c, struct pol_buf *b)
{
	if (c->n_strs > 1 || c->op == OP_ISALLOF || c->op == OP_ISANYOF || c->op == OP_ISNONEOF) {
		pol_buf_add(b, "[");
		for (size_t i = 0; i < c->n_strs; i++)
			pol_buf_addf(b, "%s%s", i ? ", " : "", c->strs[i]);
		pol_buf_add(b, "]");
		return;
	}
	if (c->n_strs == 1) {
		pol_buf_add(b, c->strs[0]);
		return;
	}
	char *s = json_dumps(c->right, JSON_ENCODE_ANY | JSON_COMPACT);
	if (s && s[0] == '"') {
		s[strlen(s) - 1] = 0;
		pol_buf_add(b, s + 1);
	} else if (s) {
		pol_buf_add(b, s);
	}
	free(s);
	if (c->unit)
		pol_buf_addf(b, " %s", c->unit);
}

void pol_constraint_text(const struct agora_policy_constraint *c, struct pol_buf *b)
{
	static const char *ln[] = { "", "and", "or", "xone", "andSequence" };
	if (c->kind != CK_ATOM) {
		pol_buf_addf(b, "%s(", ln[c->kind]);
		for (size_t i = 0; i < c->n_kids; i++) {
			if (i)
				pol_buf_add(b, ", ");
			pol_constraint_text(&c->kids[i], b);
		}
		pol_buf_add(b, ")");
		return;
	}
	pol_buf_addf(b, "%s %s ", c->lo_name, pol_operator_names[c->op]);
	right_text(c, b);
}

static void strs_text(const struct agora_policy_strs *s, struct pol_buf *b)
{
	if (s->n == 1) {
		pol_buf_add(b, s->v[0]);
		return;
	}
	pol_buf_add(b, "[");
	for (size_t i = 0; i < s->n; i++)
		pol_buf_addf(b, "%s%s", i ? ", " : "", s->v[i]);
	pol_buf_add(b, "]");
}

/* The request's value for the operand of C, or nothing when absent. */
static void request_value_text(const struct agora_policy_constraint *c,
                               const struct agora_policy_request *r, struct pol_buf *b)
{
	char tmp[64];
	switch (c->lo) {
	case LO_DATETIME:
		if (r->has_now) {
			time_t t = (time_t)(r->now_ms / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm);
			pol_buf_add(b, tmp);
		}
		return;
	case LO_ELAPSED:
		if (r->has_now && r->has_agreement_start) {
			struct pol_dur dd = { 0, 0, 0, r->now_ms - r->agreement_start_ms };
			if (dd.ms >= 0) {
				dd.days = dd.ms / 86400000;
				dd.ms %= 86400000;
			}
			pol_format_duration(&dd, tmp, sizeof(tmp));
			pol_buf_add(b, tmp);
		}
		return;
	case LO_COUNT:
		if (r->has_count)
			pol_buf_addf(b, "%lld", (long long)r->count);
		return;
	case LO_PAYAMOUNT:
		if (r->has_pay_amount)
			pol_buf_addf(b, "%g%s%s", r->pay_amount, r->unit ? " " : "", r->unit ? r->unit : "");
		return;
	case LO_PERCENTAGE:
		if (r->has_percentage)
			pol_buf_addf(b, "%g", r->percentage);
		return;
	case LO_VERSION:
		if (r->version)
			pol_buf_add(b, r->version);
		return;
	case LO_DELAY:
		if (r->has_delay)
			pol_buf_addf(b, "%lld ms", (long long)r->delay_ms);
		return;
	case LO_METERED:
		if (r->has_metered)
			pol_buf_addf(b, "%lld ms", (long long)r->metered_ms);
		return;
	default: {
		const char *one = NULL;
		struct agora_policy_strs v = req_values(c, r, &one);
		if (v.n)
			strs_text(&v, b);
		return;
	}
	}
}

static const char *const code_names[] = {
	[AGORA_POLICY_R_GRANTED] = "granted",
	[AGORA_POLICY_R_SATISFIED] = "satisfied",
	[AGORA_POLICY_R_VIOLATED] = "violated",
	[AGORA_POLICY_R_MISSING] = "missing_value",
	[AGORA_POLICY_R_REFINEMENT] = "refinement_not_met",
	[AGORA_POLICY_R_ASSIGNEE] = "other_assignee",
	[AGORA_POLICY_R_PROHIBITED] = "prohibited",
	[AGORA_POLICY_R_CONFLICT_VOID] = "conflict_invalid",
	[AGORA_POLICY_R_CONFLICT_PERM] = "conflict_perm",
	[AGORA_POLICY_R_CONFLICT_PROHIBIT] = "conflict_prohibit",
	[AGORA_POLICY_R_NO_RULE] = "no_rule",
	[AGORA_POLICY_R_UNKNOWN_ACTION] = "unknown_action",
};

static json_t *reason_json(const struct agora_policy_decision *d, const struct agora_policy_reason *x)
{
	const struct agora_policy_request *r = d->request;
	json_t *o = json_object();
	struct pol_buf m = { 0 };
	json_object_set_new(o, "code", json_string(code_names[x->code]));
	if (x->rule) {
		json_object_set_new(o, "rule", json_string(x->rule->path));
		if (x->rule->uid)
			json_object_set_new(o, "uid", json_string(x->rule->uid));
	}
	if (x->constraint) {
		json_object_set_new(o, "constraint", json_string(x->constraint->path));
		struct pol_buf t = { 0 };
		pol_constraint_text(x->constraint, &t);
		json_object_set_new(o, "condition", json_string(t.s));
		free(t.s);
	}
	if (x->other)
		json_object_set_new(o, "conflictsWith", json_string(x->other->path));
	const char *act = x->rule ? x->rule->action_name : r->action ? r->action : "";
	switch (x->code) {
	case AGORA_POLICY_R_GRANTED:
		pol_buf_addf(&m, "%s grants %s", x->rule->path, act);
		break;
	case AGORA_POLICY_R_SATISFIED:
	case AGORA_POLICY_R_VIOLATED:
	case AGORA_POLICY_R_REFINEMENT:
		pol_buf_addf(&m, "%s: ", x->rule->path);
		pol_constraint_text(x->constraint, &m);
		pol_buf_add(&m, x->code == AGORA_POLICY_R_SATISFIED ? " is satisfied" : " is not satisfied");
		if (x->constraint->kind == CK_ATOM) {
			struct pol_buf v = { 0 };
			request_value_text(x->constraint, r, &v);
			if (v.len)
				pol_buf_addf(&m, " (request: %s)", v.s);
			free(v.s);
		}
		break;
	case AGORA_POLICY_R_MISSING:
		pol_buf_addf(&m, "%s: ", x->rule->path);
		pol_constraint_text(x->constraint, &m);
		pol_buf_add(&m, " cannot be checked: the request does not give ");
		pol_buf_add(&m, x->constraint->kind == CK_ATOM ? x->constraint->lo_name : "the values it needs");
		break;
	case AGORA_POLICY_R_ASSIGNEE:
		if (x->constraint) {
			pol_buf_addf(&m, "%s: assignee condition ", x->rule->path);
			pol_constraint_text(x->constraint, &m);
			pol_buf_add(&m, " is not satisfied");
		} else {
			pol_buf_addf(&m, "%s is assigned to %s, not to %s", x->rule->path,
			             x->rule->assignees[0], r->assignee ? r->assignee : "an anonymous party");
		}
		break;
	case AGORA_POLICY_R_PROHIBITED:
		pol_buf_addf(&m, "%s prohibits %s", x->rule->path, act);
		break;
	case AGORA_POLICY_R_CONFLICT_VOID:
		pol_buf_addf(&m, "%s and %s conflict on %s; conflict strategy invalid voids the policy",
		             x->other->path, x->rule->path, r->action);
		break;
	case AGORA_POLICY_R_CONFLICT_PERM:
		pol_buf_addf(&m, "%s overrides %s (conflict strategy perm)", x->other->path, x->rule->path);
		break;
	case AGORA_POLICY_R_CONFLICT_PROHIBIT:
		pol_buf_addf(&m, "%s overrides %s (conflict strategy prohibit)", x->rule->path,
		             x->other->path);
		break;
	case AGORA_POLICY_R_NO_RULE:
		pol_buf_addf(&m, "no rule of the policy covers action %s%s%s", r->action,
		             r->target ? " on " : "", r->target ? r->target : "");
		break;
	case AGORA_POLICY_R_UNKNOWN_ACTION:
		pol_buf_addf(&m, "unknown action %s", r->action ? r->action : "(none)");
		break;
	}
	json_object_set_new(o, "message", json_string(m.s ? m.s : ""));
	free(m.s);
	if ((x->code == AGORA_POLICY_R_PROHIBITED || x->code == AGORA_POLICY_R_CONFLICT_VOID ||
	     x->code == AGORA_POLICY_R_CONFLICT_PROHIBIT) && x->rule->n_sub) {
		json_t *a = json_array();
		for (size_t i = 0; i < x->rule->n_sub; i++)
			json_array_append(a, x->rule->sub[i].out);
		json_object_set_new(o, "remedy", a);
	}
	return o;
}

json_t *agora_policy_decision_to_json(const struct agora_policy_decision *d)
{
	json_t *reasons = json_array(), *duties = json_array();
	for (size_t i = 0; i < d->n_reasons; i++)
		json_array_append_new(reasons, reason_json(d, &d->reasons[i]));
	for (size_t i = 0; i < d->n_duties; i++)
		json_array_append(duties, d->duties[i]->out);
	json_t *o = json_pack("{s:s, s:o, s:o}", "decision", agora_policy_verdict_name(d->verdict),
	                      "reasons", reasons, "duties", duties);
	if (d->reasons_truncated || d->duties_truncated)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

json_t *agora_policy_eval(const struct agora_policy *p, const struct agora_policy_request *r)
{
	struct agora_policy_decision d;
	agora_policy_decide(p, r, &d);
	return agora_policy_decision_to_json(&d);
}
