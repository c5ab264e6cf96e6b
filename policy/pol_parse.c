/* ODRL JSON-LD (compact form) → validated, compiled policy. */
#include "pol_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POL_MAX_JSON_VALUES 20000 /* raw JSON values before compiling at all */

struct pctx {
	const struct agora_policy_config *cfg;
	struct agora_policy_problems *pr;
	size_t errors;
	size_t nodes;
	bool nodes_reported;
	bool has_profile;
};

static void perr(struct pctx *c, const char *path, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void perr(struct pctx *c, const char *path, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->errors++;
	pol_problem(c->pr, path, code, "%s", msg);
}

/* Counts one compiled node; false (with one problem) once past the limit. */
static bool node(struct pctx *c, const char *path)
{
	if (++c->nodes <= AGORA_POLICY_MAX_NODES)
		return true;
	if (!c->nodes_reported) {
		c->nodes_reported = true;
		perr(c, path, "too_many_nodes",
		     "policy has more than %d rules, constraints and operand values",
		     AGORA_POLICY_MAX_NODES);
	}
	return false;
}

static char *path_idx(const char *base, const char *key, size_t i)
{
	struct pol_buf b = { 0 };
	pol_buf_addf(&b, "%s%s%s[%zu]", base && *base ? base : "", base && *base ? "." : "", key, i);
	return pol_buf_steal(&b);
}

static char *path_key(const char *base, const char *key)
{
	struct pol_buf b = { 0 };
	pol_buf_addf(&b, "%s%s%s", base && *base ? base : "", base && *base ? "." : "", key);
	return pol_buf_steal(&b);
}

/* Looks TERM up as itself, odrl:TERM and the full ODRL IRI.  Borrowed. */
static json_t *pget(const json_t *o, const char *term)
{
	json_t *v = json_object_get(o, term);
	char k[128];
	if (v)
		return v;
	snprintf(k, sizeof(k), "odrl:%s", term);
	if ((v = json_object_get(o, k)))
		return v;
	snprintf(k, sizeof(k), "http://www.w3.org/ns/odrl/2/%s", term);
	return json_object_get(o, k);
}

/* Rejects properties outside ALLOWED: a misspelt "constraints" must not
 * silently drop the constraints.  Terms of other namespaces (prefix:term,
 * IRIs) and JSON-LD keywords are extensions and are allowed. */
static void check_keys(struct pctx *c, const json_t *o, const char *path,
                       const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		const char *t = pol_strip_odrl(k);
		if (k[0] == '@')
			continue;
		if (t == k && strchr(k, ':'))
			continue; /* another vocabulary's term */
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], t) == 0)
				ok = true;
		if (!ok) {
			char *p = path_key(path, k);
			perr(c, p, "unknown_property", "property \"%.100s\" is not allowed here", k);
			free(p);
		}
	}
	(void)v;
}

/* A string, or {"@id": s} / {"@value": s} / {"uid": s}: the term itself. */
static const char *term_str(const json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_object(v)) {
		const json_t *x = json_object_get(v, "@id");
		if (!x)
			x = json_object_get(v, "@value");
		if (!x)
			x = pget(v, "uid");
		if (json_is_string(x))
			return json_string_value(x);
	}
	return NULL;
}

/* Walks the raw JSON once: depth, total size and string lengths. */
static bool raw_limits(struct pctx *c, const json_t *j, int depth, size_t *count)
{
	if (depth > AGORA_POLICY_MAX_DEPTH) {
		perr(c, "$", "too_deep", "policy is nested deeper than %d levels",
		     AGORA_POLICY_MAX_DEPTH);
		return false;
	}
	if (++*count > POL_MAX_JSON_VALUES) {
		perr(c, "$", "too_large", "policy has more than %d JSON values", POL_MAX_JSON_VALUES);
		return false;
	}
	if (json_is_string(j) && json_string_length(j) > AGORA_POLICY_MAX_STRING) {
		perr(c, "$", "string_too_long", "a string is longer than %d bytes",
		     AGORA_POLICY_MAX_STRING);
		return false;
	}
	if (json_is_string(j) && strlen(json_string_value(j)) != json_string_length(j)) {
		perr(c, "$", "bad_string", "a string contains a NUL byte");
		return false;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) if (!raw_limits(c, v, depth + 1, count)) return false;
	} else if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v) {
			if (strlen(k) > AGORA_POLICY_MAX_STRING) {
				perr(c, "$", "string_too_long", "a property name is longer than %d bytes",
				     AGORA_POLICY_MAX_STRING);
				return false;
			}
			if (!raw_limits(c, v, depth + 1, count))
				return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------- operands */

static bool op_fits(enum pol_vtype t, enum pol_operator op)
{
	switch (t) {
	case VT_TIME:
	case VT_ELAPSED:
	case VT_DURATION:
	case VT_INT:
	case VT_NUM:
	case VT_VERSION:
		return op <= OP_GTEQ;
	case VT_CONCEPT:
		return op == OP_EQ || op == OP_NEQ || op >= OP_ISA;
	case VT_ANY:
		return true;
	}
	return false;
}

static int parse_num(const json_t *v, double *out)
{
	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		*out = json_real_value(v);
		return isfinite(*out) ? 0 : -1;
	}
	const char *s = term_str(v);
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (*end || errno || !isfinite(d) || strpbrk(s, "xXpPnNiI"))
		return -1;
	*out = d;
	return 0;
}

static int parse_version(const char *s, uint32_t *v, size_t *n)
{
	*n = 0;
	if (!s || !*s)
		return -1;
	if (*s == 'v' || *s == 'V')
		s++;
	while (*s) {
		if (!isdigit((unsigned char)*s) || *n >= 8)
			return -1;
		uint64_t x = 0;
		while (isdigit((unsigned char)*s)) {
			x = x * 10 + (uint64_t)(*s++ - '0');
			if (x > UINT32_MAX)
				return -1;
		}
		v[(*n)++] = (uint32_t)x;
		if (*s == '.') {
			s++;
			if (!*s)
				return -1;
		} else if (*s) {
			return -1;
		}
	}
	return 0;
}

/* Local name of an IRI or CURIE: after the last '#', '/' or ':'. */
static const char *local_name(const char *s)
{
	const char *l = s;
	for (const char *p = s; *p; p++)
		if (*p == '#' || *p == '/' || *p == ':')
			l = p + 1;
	return *l ? l : s;
}

static void constraint_free(struct agora_policy_constraint *c);

static bool compile_right(struct pctx *c, struct agora_policy_constraint *k, const json_t *rv,
                          const char *path)
{
	enum pol_vtype t = k->lo == LO_ATTR || k->lo == LO_PROFILE ? VT_ANY : pol_operand_type(k->lo);
	const char *s = term_str(rv);
	char *rp = path_key(path, "rightOperand");
	bool ok = true;
	switch (t) {
	case VT_TIME:
		if (!s || pol_parse_time(s, &k->t_lo, &k->t_hi)) {
			perr(c, rp, "bad_datetime", "%s needs an ISO 8601 date or date-time, got %.100s",
			     k->lo_name, s ? s : "a non-string");
			ok = false;
		}
		break;
	case VT_ELAPSED:
	case VT_DURATION:
		if (!s || pol_parse_duration(s, &k->dur)) {
			perr(c, rp, "bad_duration",
			     "%s needs an ISO 8601 duration such as P30D or PT2H, got %.100s", k->lo_name,
			     s ? s : "a non-string");
			ok = false;
		}
		k->dur_ms = pol_dur_nominal_ms(&k->dur);
		break;
	case VT_INT: {
		double d;
		if (parse_num(rv, &d) || d < 0 || d > 1e15 || d != (double)(int64_t)d) {
			perr(c, rp, "bad_number", "%s needs a non-negative integer", k->lo_name);
			ok = false;
		}
		k->ival = ok ? (int64_t)d : 0;
		break;
	}
	case VT_NUM:
		if (parse_num(rv, &k->num)) {
			perr(c, rp, "bad_number", "%s needs a number", k->lo_name);
			ok = false;
		} else if (k->lo == LO_PERCENTAGE && (k->num < 0 || k->num > 100)) {
			perr(c, rp, "out_of_range", "percentage must be between 0 and 100");
			ok = false;
		} else if (k->lo == LO_PAYAMOUNT && k->num < 0) {
			perr(c, rp, "out_of_range", "payAmount must not be negative");
			ok = false;
		}
		break;
	case VT_VERSION: {
		char tmp[64];
		if (json_is_integer(rv)) {
			snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(rv));
			s = tmp;
		}
		if (!s || parse_version(s, k->ver, &k->n_ver)) {
			perr(c, rp, "bad_version", "version needs a dotted number such as 2.1");
			ok = false;
		}
		break;
	}
	case VT_ANY:
		if (k->op <= OP_GTEQ && k->op != OP_EQ && k->op != OP_NEQ) {
			if (parse_num(rv, &k->num)) {
				perr(c, rp, "operator_mismatch",
				     "operator %s on %s needs a numeric right operand",
				     pol_operator_names[k->op], k->lo_name);
				ok = false;
			}
			k->is_num = true;
			break;
		}
		if (json_is_number(rv)) {
			k->is_num = true;
			parse_num(rv, &k->num);
		}
		/* fall through: also keep the value as a string set */
		/* FALLTHROUGH */
	case VT_CONCEPT: {
		const json_t *one = rv;
		size_t n = json_is_array(rv) ? json_array_size(rv) : 1;
		if (n == 0) {
			perr(c, rp, "empty_set", "rightOperand is an empty list");
			ok = false;
			break;
		}
		if (n > 1 && (k->op == OP_ISA || k->op == OP_HASPART || k->op == OP_ISPARTOF)) {
			perr(c, rp, "wrong_type", "operator %s takes a single value, not a list",
			     pol_operator_names[k->op]);
			ok = false;
			break;
		}
		k->strs = pol_xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_is_array(rv) ? json_array_get(rv, i) : one;
			char num[64];
			const char *es = term_str(e);
			if (!es && json_is_integer(e)) {
				snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(e));
				es = num;
			} else if (!es && json_is_real(e)) {
				snprintf(num, sizeof(num), "%.17g", json_real_value(e));
				es = num;
			} else if (!es && json_is_boolean(e)) {
				es = json_is_true(e) ? "true" : "false";
			}
			if (!es || !*es) {
				perr(c, rp, "wrong_type", "%s values must be strings or IRIs", k->lo_name);
				ok = false;
				break;
			}
			if (!node(c, rp)) {
				ok = false;
				break;
			}
			k->strs[k->n_strs++] = pol_xstrdup(strncmp(es, "_:", 2) == 0 ? es + 2 : es);
		}
		break;
	}
	}
	if (ok && json_is_array(rv) && t != VT_CONCEPT && t != VT_ANY) {
		perr(c, rp, "wrong_type", "%s takes a single value, not a list", k->lo_name);
		ok = false;
	}
	free(rp);
	return ok;
}

static const char *const atom_keys[] = {
	"leftOperand", "operator", "rightOperand", "rightOperandReference", "unit", "dataType",
	"uid", "status", NULL,
};

static const struct {
	const char *term;
	enum pol_ckind kind;
} logical_ops[] = {
	{ "and", CK_AND }, { "or", CK_OR }, { "xone", CK_XONE }, { "andSequence", CK_ANDSEQ },
};

static bool compile_constraint(struct pctx *c, struct agora_policy_constraint *k,
                               const json_t *j, const char *path, int depth);

static bool compile_list(struct pctx *c, struct agora_policy_constraint *k, const json_t *list,
                         const char *path, const char *key, int depth)
{
	if (json_is_object(list) && json_object_get(list, "@list"))
		list = json_object_get(list, "@list");
	size_t n = json_is_array(list) ? json_array_size(list) : 1;
	if (!json_is_array(list) && !json_is_object(list)) {
		char *p = path_key(path, key);
		perr(c, p, "wrong_type", "%s must be a list of constraints", key);
		free(p);
		return false;
	}
	k->kids = pol_xcalloc(n, sizeof(*k->kids));
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_is_array(list) ? json_array_get(list, i) : list;
		char *p = path_idx(path, key, i);
		k->n_kids++;
		if (!compile_constraint(c, &k->kids[i], e, p, depth + 1))
			ok = false;
		free(p);
		if (!ok && c->nodes_reported)
			break;
	}
	return ok;
}

static bool compile_constraint(struct pctx *c, struct agora_policy_constraint *k,
                               const json_t *j, const char *path, int depth)
{
	memset(k, 0, sizeof(*k));
	k->path = pol_xstrdup(path);
	if (depth > AGORA_POLICY_MAX_DEPTH) {
		perr(c, path, "too_deep", "constraints are nested deeper than %d levels",
		     AGORA_POLICY_MAX_DEPTH);
		return false;
	}
	if (!node(c, path))
		return false;
	if (!json_is_object(j)) {
		perr(c, path, "wrong_type", "a constraint must be a JSON object");
		return false;
	}
	const char *uid = term_str(pget(j, "uid"));
	if (!uid)
		uid = term_str(json_object_get(j, "@id"));
	if (uid)
		k->uid = pol_xstrdup(uid);
	/* logical constraint? */
	int found = -1;
	for (size_t i = 0; i < sizeof(logical_ops) / sizeof(logical_ops[0]); i++)
		if (pget(j, logical_ops[i].term)) {
			if (found >= 0) {
				perr(c, path, "ambiguous_constraint",
				     "a logical constraint has exactly one of and, or, xone, andSequence");
				return false;
			}
			found = (int)i;
		}
	if (found >= 0) {
		static const char *const lkeys[] = { "and", "or", "xone", "andSequence", "uid", NULL };
		check_keys(c, j, path, lkeys);
		if (pget(j, "leftOperand") || pget(j, "operator")) {
			perr(c, path, "ambiguous_constraint",
			     "a constraint cannot be both logical and atomic");
			return false;
		}
		k->kind = logical_ops[found].kind;
		const json_t *list = pget(j, logical_ops[found].term);
		if ((json_is_array(list) && json_array_size(list) == 0) ||
		    (json_is_object(list) && json_is_array(json_object_get(list, "@list")) &&
		     json_array_size(json_object_get(list, "@list")) == 0)) {
			perr(c, path, "empty_constraint", "%s has no operands", logical_ops[found].term);
			return false;
		}
		return compile_list(c, k, list, path, logical_ops[found].term, depth);
	}
	k->kind = CK_ATOM;
	size_t e0 = c->errors;
	check_keys(c, j, path, atom_keys);
	const json_t *lo = pget(j, "leftOperand"), *op = pget(j, "operator"),
	             *ro = pget(j, "rightOperand");
	if (pget(j, "rightOperandReference")) {
		perr(c, path, "unsupported",
		     "rightOperandReference is not supported: the value must be inline");
		return false;
	}
	const char *los = term_str(lo), *ops = term_str(op);
	if (!los || !ops || !ro) {
		perr(c, path, "incomplete_constraint",
		     "a constraint needs leftOperand, operator and rightOperand%s%s%s",
		     los ? "" : " (leftOperand missing or not a string)",
		     ops ? "" : " (operator missing or not a string)", ro ? "" : " (rightOperand missing)");
		return false;
	}
	if (pol_lookup_operand(los, &k->lo) == 0) {
		k->lo_name = pol_xstrdup(pol_operand_name(k->lo));
	} else if (strncmp(los, "agora:", 6) == 0 ||
	           strncmp(los, AGORA_POLICY_NS, strlen(AGORA_POLICY_NS)) == 0) {
		const char *a = strncmp(los, "agora:", 6) == 0 ? los + 6 : los + strlen(AGORA_POLICY_NS);
		if (!*a) {
			perr(c, path, "unknown_operand", "empty agora: operand");
			return false;
		}
		k->lo = LO_ATTR;
		k->attr = pol_xstrdup(a);
		struct pol_buf b = { 0 };
		pol_buf_addf(&b, "agora:%s", a);
		k->lo_name = pol_buf_steal(&b);
	} else if (c->has_profile && pol_strip_odrl(los) == los) {
		/* a term of the policy's declared profile, read from the assignee's
		 * attributes under its local name */
		k->lo = LO_PROFILE;
		k->attr = pol_xstrdup(local_name(los));
		k->lo_name = pol_xstrdup(los);
	} else {
		char *p = path_key(path, "leftOperand");
		perr(c, p, "unknown_operand", "unknown left operand \"%.100s\"", los);
		free(p);
		return false;
	}
	if (pol_lookup_operator(ops, &k->op)) {
		char *p = path_key(path, "operator");
		perr(c, p, "unknown_operator", "unknown operator \"%.100s\"", ops);
		free(p);
		return false;
	}
	enum pol_vtype t = k->lo == LO_ATTR || k->lo == LO_PROFILE ? VT_ANY : pol_operand_type(k->lo);
	if (!op_fits(t, k->op)) {
		char *p = path_key(path, "operator");
		perr(c, p, "operator_mismatch", "operator %s does not fit left operand %s",
		     pol_operator_names[k->op], k->lo_name);
		free(p);
		return false;
	}
	const json_t *unit = pget(j, "unit");
	if (unit) {
		const char *u = term_str(unit);
		if (!u) {
			char *p = path_key(path, "unit");
			perr(c, p, "wrong_type", "unit must be a string or IRI");
			free(p);
			return false;
		}
		k->unit = pol_xstrdup(u);
	}
	if (!compile_right(c, k, ro, path))
		return false;
	/* output form: {"@value": v} and {"@id": v} become v */
	const json_t *norm = ro;
	if (json_is_object(ro) && json_object_get(ro, "@value"))
		norm = json_object_get(ro, "@value");
	else if (json_is_object(ro) && json_is_string(json_object_get(ro, "@id")))
		norm = json_object_get(ro, "@id");
	k->right = json_deep_copy(norm);
	return c->errors == e0;
}

static void constraint_free(struct agora_policy_constraint *c)
{
	free(c->path);
	free(c->uid);
	free(c->lo_name);
	free(c->attr);
	free(c->unit);
	json_decref(c->right);
	for (size_t i = 0; i < c->n_strs; i++)
		free(c->strs[i]);
	free(c->strs);
	for (size_t i = 0; i < c->n_kids; i++)
		constraint_free(&c->kids[i]);
	free(c->kids);
}

/* A "constraint" / "refinement" array (or single object) → CK_AND node. */
static bool compile_conj(struct pctx *c, struct agora_policy_constraint *k, const json_t *v,
                         const char *path, const char *key, int depth)
{
	memset(k, 0, sizeof(*k));
	k->kind = CK_AND;
	k->path = path_key(path, key);
	if (!v)
		return true;
	if (json_is_array(v) && json_array_size(v) == 0)
		return true;
	return compile_list(c, k, v, path, key, depth);
}

/* ----------------------------------------------------------------- rules */

static void rule_free(struct agora_policy_rule *r)
{
	free(r->path);
	free(r->uid);
	free(r->action_name);
	constraint_free(&r->refinement);
	constraint_free(&r->party);
	constraint_free(&r->cons);
	for (size_t i = 0; i < r->n_targets; i++)
		free(r->targets[i]);
	free(r->targets);
	for (size_t i = 0; i < r->n_assignees; i++)
		free(r->assignees[i]);
	free(r->assignees);
	free(r->assigner);
	for (size_t i = 0; i < r->n_sub; i++)
		rule_free(&r->sub[i]);
	free(r->sub);
	json_decref(r->out);
}

/* target / assignee: string, {"@id"}, {"uid"} or a list of them.  A party
 * object with a refinement (a PartyCollection) adds constraints to PARTY. */
static bool compile_ids(struct pctx *c, const json_t *v, const char *path, const char *key,
                        char ***out, size_t *n, struct agora_policy_constraint *party,
                        int depth)
{
	char *p = path_key(path, key);
	size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
	bool ok = true;
	*out = pol_xcalloc(cnt, sizeof(char *));
	for (size_t i = 0; i < cnt; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		const char *s = term_str(e);
		const json_t *ref = json_is_object(e) ? pget(e, "refinement") : NULL;
		if (ref && party) {
			struct agora_policy_constraint tmp;
			bool rok = compile_conj(c, &tmp, ref, p, "refinement", depth + 1);
			/* append tmp's kids to party */
			party->kids = pol_xrealloc(party->kids,
			                           (party->n_kids + tmp.n_kids) * sizeof(*party->kids) + 1);
			memcpy(party->kids + party->n_kids, tmp.kids, tmp.n_kids * sizeof(*tmp.kids));
			party->n_kids += tmp.n_kids;
			free(tmp.kids);
			free(tmp.path);
			if (!rok)
				ok = false;
			if (!s)
				continue;
		} else if (ref) {
			perr(c, p, "unsupported", "refinements of %s are not supported", key);
			ok = false;
			continue;
		}
		if (!s || !*s) {
			perr(c, p, "wrong_type", "%s must be an IRI string or an object with @id", key);
			ok = false;
			continue;
		}
		(*out)[(*n)++] = pol_xstrdup(s);
	}
	free(p);
	return ok;
}

static const char *const perm_keys[] = { "action", "constraint", "duty", "target", "assignee",
	                                 "assigner", "uid", NULL };
static const char *const prohib_keys[] = { "action", "constraint", "remedy", "target",
	                                   "assignee", "assigner", "uid", NULL };
static const char *const duty_keys[] = { "action", "constraint", "consequence", "target",
	                                 "assignee", "assigner", "uid", "fields", NULL };

const char *pol_rule_kind_name(enum pol_rkind k)
{
	static const char *n[] = { "permission", "prohibition", "obligation", "duty" };
	return n[k];
}

static json_t *constraint_out(const struct agora_policy_constraint *k)
{
	if (k->kind != CK_ATOM) {
		static const char *ln[] = { "", "and", "or", "xone", "andSequence" };
		json_t *a = json_array();
		for (size_t i = 0; i < k->n_kids; i++)
			json_array_append_new(a, constraint_out(&k->kids[i]));
		return json_pack("{s:o}", ln[k->kind], a);
	}
	json_t *o = json_pack("{s:s, s:s, s:O}", "leftOperand", k->lo_name, "operator",
	                      pol_operator_names[k->op], "rightOperand", k->right);
	if (k->unit)
		json_object_set_new(o, "unit", json_string(k->unit));
	return o;
}

/* The rendering of a duty in decisions: {"rule","action",params...}. */
static json_t *duty_out(const struct agora_policy_rule *r, const json_t *src)
{
	json_t *o = json_pack("{s:s, s:s}", "rule", r->path, "action", r->action_name);
	if (r->uid)
		json_object_set_new(o, "uid", json_string(r->uid));
	if (r->n_targets == 1)
		json_object_set_new(o, "target", json_string(r->targets[0]));
	if (r->n_assignees == 1)
		json_object_set_new(o, "assignee", json_string(r->assignees[0]));
	const json_t *f = json_object_get(src, "fields");
	if (!f)
		f = json_object_get(src, "agora:fields");
	if (f)
		json_object_set_new(o, "fields", json_deep_copy(f));
	if (r->cons.n_kids) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->cons.n_kids; i++) {
			const struct agora_policy_constraint *k = &r->cons.kids[i];
			json_array_append_new(a, constraint_out(k));
			/* flat parameters: "elapsedTime": "P30D" */
			if (k->kind == CK_ATOM && !json_object_get(o, k->lo_name))
				json_object_set(o, k->lo_name, k->right);
		}
		json_object_set_new(o, "constraints", a);
	}
	if (r->refinement.n_kids) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->refinement.n_kids; i++)
			json_array_append_new(a, constraint_out(&r->refinement.kids[i]));
		json_object_set_new(o, "refinement", a);
	}
	if (r->n_sub) {
		json_t *a = json_array();
		for (size_t i = 0; i < r->n_sub; i++)
			json_array_append(a, r->sub[i].out);
		json_object_set_new(o, r->kind == RK_PROHIBITION ? "remedy" : "consequence", a);
	}
	return o;
}

static bool compile_rule(struct pctx *c, struct agora_policy_rule *r, enum pol_rkind kind,
                         const json_t *j, const char *path, int depth);

static bool compile_rules(struct pctx *c, const json_t *v, enum pol_rkind kind,
                          const char *base, const char *key, struct agora_policy_rule **out,
                          size_t *n, int depth)
{
	if (!v)
		return true;
	if (!json_is_array(v) && !json_is_object(v)) {
		char *p = path_key(base, key);
		perr(c, p, "wrong_type", "%s must be a list of rules", key);
		free(p);
		return false;
	}
	size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
	*out = pol_xcalloc(cnt, sizeof(**out));
	bool ok = true;
	for (size_t i = 0; i < cnt; i++) {
		char *p = path_idx(base, key, i);
		(*n)++;
		if (!compile_rule(c, &(*out)[i], kind, json_is_array(v) ? json_array_get(v, i) : v, p,
		                  depth + 1))
			ok = false;
		free(p);
		if (c->nodes_reported)
			return false;
	}
	return ok;
}

static bool compile_action(struct pctx *c, struct agora_policy_rule *r, const json_t *a,
                           const char *path, int depth)
{
	char *p = path_key(path, "action");
	bool ok = true;
	if (json_is_array(a)) {
		if (json_array_size(a) != 1) {
			perr(c, p, "wrong_type", "a rule has exactly one action");
			free(p);
			return false;
		}
		a = json_array_get(a, 0);
	}
	const char *name = NULL;
	if (json_is_string(a)) {
		name = json_string_value(a);
	} else if (json_is_object(a)) {
		const json_t *v = json_object_get(a, "rdf:value");
		if (!v)
			v = json_object_get(a, "value");
		if (!v)
			v = pget(a, "action");
		if (!v)
			v = json_object_get(a, "@id");
		name = term_str(v);
		const json_t *ref = pget(a, "refinement");
		if (ref)
			ok = compile_conj(c, &r->refinement, ref, p, "refinement", depth + 1) && ok;
	}
	if (!name) {
		perr(c, p, "wrong_type",
		     "action must be a string or an object with rdf:value and refinement");
		free(p);
		return false;
	}
	r->action_name = pol_xstrdup(pol_strip_odrl(name));
	r->action = pol_action_id(c->cfg, name);
	if (r->action < 0) {
		perr(c, p, "unknown_action", "unknown action \"%.100s\"", name);
		ok = false;
	}
	free(p);
	return ok;
}

static bool compile_rule(struct pctx *c, struct agora_policy_rule *r, enum pol_rkind kind,
                         const json_t *j, const char *path, int depth)
{
	r->kind = kind;
	r->path = pol_xstrdup(path);
	r->action = -1;
	r->refinement.kind = r->party.kind = r->cons.kind = CK_AND;
	if (depth > AGORA_POLICY_MAX_DEPTH) {
		perr(c, path, "too_deep", "rules are nested deeper than %d levels",
		     AGORA_POLICY_MAX_DEPTH);
		return false;
	}
	if (!node(c, path))
		return false;
	if (!json_is_object(j)) {
		perr(c, path, "wrong_type", "a %s must be a JSON object", pol_rule_kind_name(kind));
		return false;
	}
	size_t e0 = c->errors;
	check_keys(c, j, path,
	           kind == RK_PERMISSION ? perm_keys : kind == RK_PROHIBITION ? prohib_keys : duty_keys);
	const char *uid = term_str(pget(j, "uid"));
	if (!uid)
		uid = term_str(json_object_get(j, "@id"));
	if (uid)
		r->uid = pol_xstrdup(uid);
	const json_t *a = pget(j, "action");
	if (!a)
		perr(c, path, "empty_rule", "the %s has no action", pol_rule_kind_name(kind));
	else
		compile_action(c, r, a, path, depth);
	const json_t *v;
	if ((v = pget(j, "target")))
		compile_ids(c, v, path, "target", &r->targets, &r->n_targets, NULL, depth);
	if ((v = pget(j, "assignee")))
		compile_ids(c, v, path, "assignee", &r->assignees, &r->n_assignees, &r->party, depth);
	if ((v = pget(j, "assigner"))) {
		const char *s = term_str(v);
		if (!s) {
			char *p = path_key(path, "assigner");
			perr(c, p, "wrong_type", "assigner must be an IRI");
			free(p);
		} else {
			r->assigner = pol_xstrdup(s);
		}
	}
	free(r->cons.path);
	compile_conj(c, &r->cons, pget(j, "constraint"), path, "constraint", depth);
	const char *subkey = kind == RK_PERMISSION ? "duty" : kind == RK_PROHIBITION ? "remedy" : "consequence";
	if ((v = pget(j, subkey)))
		compile_rules(c, v, RK_DUTY, path, subkey, &r->sub, &r->n_sub, depth);
	if (c->errors != e0)
		return false;
	if (kind == RK_DUTY || kind == RK_OBLIGATION)
		r->out = duty_out(r, j);
	return true;
}

/* --------------------------------------------------------------- policy */

void agora_policy_free(struct agora_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_perms; i++)
		rule_free(&p->perms[i]);
	for (size_t i = 0; i < p->n_prohibs; i++)
		rule_free(&p->prohibs[i]);
	for (size_t i = 0; i < p->n_obligs; i++)
		rule_free(&p->obligs[i]);
	free(p->perms);
	free(p->prohibs);
	free(p->obligs);
	free(p->uid);
	free(p->profile);
	agora_policy_config_free(p->owned_cfg);
	free(p);
}

const char *agora_policy_uid(const struct agora_policy *p)
{
	return p ? p->uid : NULL;
}

/* Policy-level target / assignee / assigner apply to every rule that does not
 * name its own (ODRL 2.2 §2.7.1 compact policies). */
static void inherit(struct agora_policy_rule *r, size_t n, char **targets, size_t nt,
                    char **assignees, size_t na, const char *assigner)
{
	for (size_t i = 0; i < n; i++) {
		if (!r[i].n_targets && nt) {
			r[i].targets = pol_xcalloc(nt, sizeof(char *));
			for (size_t k = 0; k < nt; k++)
				r[i].targets[r[i].n_targets++] = pol_xstrdup(targets[k]);
		}
		if (!r[i].n_assignees && na) {
			r[i].assignees = pol_xcalloc(na, sizeof(char *));
			for (size_t k = 0; k < na; k++)
				r[i].assignees[r[i].n_assignees++] = pol_xstrdup(assignees[k]);
		}
		if (!r[i].assigner && assigner)
			r[i].assigner = pol_xstrdup(assigner);
	}
}

struct agora_policy *agora_policy_parse(const json_t *j, const struct agora_policy_config *cfg,
                                        struct agora_policy_problems *problems)
{
	struct pctx c = { .cfg = cfg, .pr = problems };
	struct agora_policy *p = pol_xcalloc(1, sizeof(*p));
	char **targets = NULL, **assignees = NULL;
	size_t nt = 0, na = 0;
	struct agora_policy_constraint party = { .kind = CK_AND };
	if (!cfg)
		c.cfg = p->owned_cfg = agora_policy_config_new();
	p->cfg = c.cfg;
	if (!json_is_object(j)) {
		perr(&c, "$", "wrong_type", "a policy must be a JSON object");
		goto out;
	}
	size_t count = 0;
	if (!raw_limits(&c, j, 1, &count))
		goto out;
	const json_t *t = json_object_get(j, "@type");
	if (!t)
		t = pget(j, "type");
	const char *ts = term_str(t);
	if (t && !ts) {
		perr(&c, "@type", "wrong_type", "@type must be a string");
	} else if (ts) {
		const char *s = pol_strip_odrl(ts);
		if (strcmp(s, "Set") == 0 || strcmp(s, "Policy") == 0)
			p->type = PT_SET;
		else if (strcmp(s, "Offer") == 0)
			p->type = PT_OFFER;
		else if (strcmp(s, "Agreement") == 0)
			p->type = PT_AGREEMENT;
		else
			perr(&c, "@type", "unknown_policy_type",
			     "policy @type must be Set, Offer or Agreement, not \"%.100s\"", ts);
	}
	const char *uid = term_str(json_object_get(j, "@id"));
	if (!uid)
		uid = term_str(pget(j, "uid"));
	if (uid)
		p->uid = pol_xstrdup(uid);
	const json_t *prof = pget(j, "profile");
	if (prof) {
		const char *ps = term_str(json_is_array(prof) ? json_array_get(prof, 0) : prof);
		if (!ps)
			perr(&c, "profile", "wrong_type", "profile must be an IRI");
		else {
			p->profile = pol_xstrdup(ps);
			c.has_profile = true;
		}
	}
	const json_t *cf = pget(j, "conflict");
	if (cf) {
		const char *s = term_str(cf);
		s = s ? pol_strip_odrl(s) : NULL;
		if (s && strcmp(s, "perm") == 0)
			p->conflict = CF_PERM;
		else if (s && strcmp(s, "prohibit") == 0)
			p->conflict = CF_PROHIBIT;
		else if (s && strcmp(s, "invalid") == 0)
			p->conflict = CF_INVALID;
		else
			perr(&c, "conflict", "bad_conflict",
			     "conflict must be perm, prohibit or invalid");
	}
	if (pget(j, "inheritFrom"))
		perr(&c, "inheritFrom", "unsupported",
		     "inheritFrom is not supported: send the complete policy");
	static const char *const misplaced[] = { "action", "constraint", "duty", "refinement", NULL };
	for (size_t i = 0; misplaced[i]; i++)
		if (pget(j, misplaced[i]))
			perr(&c, misplaced[i], "misplaced_property",
			     "%s belongs in a rule, not at policy level", misplaced[i]);
	const json_t *v;
	if ((v = pget(j, "target")))
		compile_ids(&c, v, "", "target", &targets, &nt, NULL, 1);
	if ((v = pget(j, "assignee")))
		compile_ids(&c, v, "", "assignee", &assignees, &na, &party, 1);
	const char *assigner = NULL;
	if ((v = pget(j, "assigner")) && !(assigner = term_str(v)))
		perr(&c, "assigner", "wrong_type", "assigner must be an IRI");
	if (p->type == PT_AGREEMENT && (!assigner || !na))
		perr(&c, "$", "missing_party", "an Agreement names both its assigner and assignee");
	compile_rules(&c, pget(j, "permission"), RK_PERMISSION, "", "permission", &p->perms,
	              &p->n_perms, 1);
	compile_rules(&c, pget(j, "prohibition"), RK_PROHIBITION, "", "prohibition", &p->prohibs,
	              &p->n_prohibs, 1);
	compile_rules(&c, pget(j, "obligation"), RK_OBLIGATION, "", "obligation", &p->obligs,
	              &p->n_obligs, 1);
	if (!c.errors && !p->n_perms && !p->n_prohibs && !p->n_obligs)
		perr(&c, "$", "empty_policy", "the policy has no permission, prohibition or obligation");
	if (c.errors)
		goto out;
	inherit(p->perms, p->n_perms, targets, nt, assignees, na, assigner);
	inherit(p->prohibs, p->n_prohibs, targets, nt, assignees, na, assigner);
	inherit(p->obligs, p->n_obligs, targets, nt, assignees, na, assigner);
	/* policy-level party refinement: copy into every rule */
	for (size_t i = 0; party.n_kids && i < p->n_perms + p->n_prohibs; i++) {
		struct agora_policy_rule *r = i < p->n_perms ? &p->perms[i] : &p->prohibs[i - p->n_perms];
		if (r->party.n_kids)
			continue;
		/* rules share nothing: re-compile from the same JSON is simplest */
		const json_t *as = pget(j, "assignee");
		struct pctx c2 = c;
		char **ids = NULL;
		size_t nids = 0;
		free(r->party.kids);
		r->party.kids = NULL;
		compile_ids(&c2, as, "", "assignee", &ids, &nids, &r->party, 1);
		for (size_t k = 0; k < nids; k++)
			free(ids[k]);
		free(ids);
	}
out:
	for (size_t i = 0; i < nt; i++)
		free(targets[i]);
	free(targets);
	for (size_t i = 0; i < na; i++)
		free(assignees[i]);
	free(assignees);
	constraint_free(&party);
	if (c.errors) {
		agora_policy_free(p);
		return NULL;
	}
	return p;
}

bool agora_policy_validate(const json_t *j, const struct agora_policy_config *cfg,
                           struct agora_policy_problems *problems)
{
	struct agora_policy *p = agora_policy_parse(j, cfg, problems);
	bool ok = p != NULL;
	agora_policy_free(p);
	return ok;
}

static bool is_policy(const json_t *j)
{
	const char *t = term_str(json_object_get(j, "@type"));
	if (!t)
		return pget(j, "permission") || pget(j, "prohibition") || pget(j, "obligation");
	t = pol_strip_odrl(t);
	return !strcmp(t, "Set") || !strcmp(t, "Offer") || !strcmp(t, "Agreement") ||
	       !strcmp(t, "Policy");
}

const json_t *agora_policy_find(const json_t *j)
{
	if (!json_is_object(j))
		return NULL;
	if (is_policy(j))
		return j;
	static const char *const keys[] = { "offer", "agreement", "dspace:offer", "dspace:agreement",
		                            NULL };
	for (size_t i = 0; keys[i]; i++) {
		const json_t *v = json_object_get(j, keys[i]);
		if (json_is_object(v))
			return v;
	}
	const json_t *hp = pget(j, "hasPolicy");
	if (json_is_object(hp))
		return hp;
	if (json_is_array(hp) && json_array_size(hp) == 1 && json_is_object(json_array_get(hp, 0)))
		return json_array_get(hp, 0);
	return NULL;
}
