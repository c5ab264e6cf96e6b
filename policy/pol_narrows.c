/* Is policy B at least as strict as policy A?  Conservative: when the
 * implication cannot be shown, the answer is no. */
#include "pol_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The allowed values of an ordered constraint as an interval. */
struct ival {
	double lo, hi;
	bool lo_in, hi_in; /* inclusive bounds */
};

static bool ordered(enum pol_vtype t)
{
	return t == VT_TIME || t == VT_ELAPSED || t == VT_DURATION || t == VT_INT || t == VT_NUM;
}

static enum pol_vtype ctype(const struct agora_policy_constraint *k)
{
	if (k->lo == LO_ATTR || k->lo == LO_PROFILE)
		return k->is_num ? VT_NUM : VT_CONCEPT;
	return pol_operand_type(k->lo);
}

static double cval(const struct agora_policy_constraint *k)
{
	switch (ctype(k)) {
	case VT_ELAPSED:
	case VT_DURATION: return (double)k->dur_ms;
	case VT_INT: return (double)k->ival;
	default: return k->num;
	}
}

/* Only for ordered operands and operators other than neq. */
static struct ival to_ival(const struct agora_policy_constraint *k)
{
	struct ival v = { -INFINITY, INFINITY, false, false };
	if (ctype(k) == VT_TIME) {
		/* times: [t_lo, t_hi) semantics, see cmp_time */
		double lo = (double)k->t_lo, hi = (double)k->t_hi;
		switch (k->op) {
		case OP_EQ: v = (struct ival){ lo, hi, true, false }; break;
		case OP_LT: v.hi = lo; break;
		case OP_LTEQ: v.hi = hi; break;
		case OP_GT: v.lo = hi; v.lo_in = true; break;
		case OP_GTEQ: v.lo = lo; v.lo_in = true; break;
		default: break;
		}
		return v;
	}
	double x = cval(k);
	switch (k->op) {
	case OP_EQ: v = (struct ival){ x, x, true, true }; break;
	case OP_LT: v.hi = x; break;
	case OP_LTEQ: v.hi = x; v.hi_in = true; break;
	case OP_GT: v.lo = x; break;
	case OP_GTEQ: v.lo = x; v.lo_in = true; break;
	default: break;
	}
	if (ctype(k) == VT_INT) { /* integers: make bounds inclusive */
		if (!v.hi_in && isfinite(v.hi)) { v.hi -= 1; v.hi_in = true; }
		if (!v.lo_in && isfinite(v.lo)) { v.lo += 1; v.lo_in = true; }
	}
	return v;
}

static bool ival_inside(struct ival in, struct ival out)
{
	bool lo_ok = in.lo > out.lo || (in.lo == out.lo && (out.lo_in || !in.lo_in));
	bool hi_ok = in.hi < out.hi || (in.hi == out.hi && (out.hi_in || !in.hi_in));
	return lo_ok && hi_ok;
}

static bool ival_excludes(struct ival v, double x)
{
	return x < v.lo || x > v.hi || (x == v.lo && !v.lo_in) || (x == v.hi && !v.hi_in);
}

static bool same_operand(const struct agora_policy_constraint *a,
                         const struct agora_policy_constraint *b)
{
	if (a->lo != b->lo)
		return false;
	if (a->attr || b->attr)
		return a->attr && b->attr && strcmp(a->attr, b->attr) == 0;
	return true;
}

static bool same_unit(const struct agora_policy_constraint *a,
                      const struct agora_policy_constraint *b)
{
	if (!a->unit || !b->unit)
		return !a->unit && !b->unit;
	return strcmp(pol_strip_odrl(a->unit), pol_strip_odrl(b->unit)) == 0;
}

static bool structurally_equal(const struct agora_policy_constraint *a,
                               const struct agora_policy_constraint *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind != CK_ATOM) {
		if (a->n_kids != b->n_kids)
			return false;
		for (size_t i = 0; i < a->n_kids; i++)
			if (!structurally_equal(&a->kids[i], &b->kids[i]))
				return false;
		return true;
	}
	return same_operand(a, b) && a->op == b->op && same_unit(a, b) &&
	       json_equal(a->right, b->right);
}

static bool in_subtree(const struct agora_policy_config *cfg, const char *scheme, const char *x,
                       char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pol_concept_within(cfg, scheme, x, s[i]))
			return true;
	return false;
}

/* "Positive" concept constraints allow values within the union of S's
 * subtrees (eq: exactly the value). */
static bool positive(enum pol_operator op)
{
	return op == OP_ISA || op == OP_ISPARTOF || op == OP_ISANYOF;
}

/* Does B (of policy PB) imply A (of policy PA): every request B allows, A allows? */
static bool implies(const struct agora_policy_config *cfg, const struct agora_policy_constraint *b,
                    const struct agora_policy_constraint *a)
{
	if (structurally_equal(a, b))
		return true;
	if (a->kind != CK_ATOM || b->kind != CK_ATOM || !same_operand(a, b))
		return false;
	if (a->lo == LO_PAYAMOUNT && !same_unit(a, b))
		return false;
	enum pol_vtype t = ctype(a);
	if (t != ctype(b))
		return false;
	if (ordered(t)) {
		if (t == VT_ELAPSED && (a->dur.years || a->dur.months || b->dur.years || b->dur.months) &&
		    !(a->dur.years == b->dur.years && a->dur.months == b->dur.months))
			return false; /* calendar lengths differ: compare only like with like */
		if (a->op == OP_NEQ) {
			if (b->op == OP_NEQ)
				return t == VT_TIME ? b->t_lo == a->t_lo && b->t_hi == a->t_hi
				                    : cval(a) == cval(b);
			struct ival vb = to_ival(b);
			if (t == VT_TIME)
				return vb.hi <= (double)a->t_lo || vb.lo >= (double)a->t_hi;
			return ival_excludes(vb, cval(a));
		}
		if (b->op == OP_NEQ)
			return false;
		return ival_inside(to_ival(b), to_ival(a));
	}
	if (t != VT_CONCEPT)
		return false;
	const char *scheme = a->attr ? a->attr : pol_operand_scheme(a->lo);
	if (positive(a->op) || (a->op == OP_EQ && a->n_strs == 1)) {
		bool exact = a->op == OP_EQ;
		if (!(positive(b->op) || (b->op == OP_EQ && b->n_strs == 1)))
			return false;
		if (exact && b->op != OP_EQ)
			return false;
		for (size_t i = 0; i < b->n_strs; i++) {
			if (exact ? strcmp(b->strs[i], a->strs[0]) != 0
			          : !in_subtree(cfg, scheme, b->strs[i], a->strs, a->n_strs))
				return false;
		}
		return true;
	}
	if (a->op == OP_ISNONEOF || (a->op == OP_NEQ && a->n_strs == 1)) {
		if (b->op == OP_ISNONEOF || (b->op == OP_NEQ && b->n_strs == 1)) {
			/* every excluded a must be excluded by b (b excludes whole subtrees) */
			for (size_t i = 0; i < a->n_strs; i++) {
				bool ok = b->op == OP_ISNONEOF
				                  ? in_subtree(cfg, scheme, a->strs[i], b->strs, b->n_strs)
				                  : strcmp(a->strs[i], b->strs[0]) == 0;
				if (!ok)
					return false;
			}
			return a->op == OP_NEQ || b->op == OP_ISNONEOF;
		}
		if (positive(b->op) || (b->op == OP_EQ && b->n_strs == 1)) {
			/* b's allowed values must not meet any excluded subtree */
			for (size_t i = 0; i < b->n_strs; i++)
				for (size_t k = 0; k < a->n_strs; k++)
					if (pol_concept_within(cfg, scheme, b->strs[i], a->strs[k]) ||
					    pol_concept_within(cfg, scheme, a->strs[k], b->strs[i]))
						return false;
			return true;
		}
		return false;
	}
	if (a->op == OP_ISALLOF && b->op == OP_ISALLOF) {
		for (size_t i = 0; i < a->n_strs; i++) {
			bool hit = false;
			for (size_t k = 0; k < b->n_strs && !hit; k++)
				hit = pol_concept_within(cfg, scheme, b->strs[k], a->strs[i]);
			if (!hit)
				return false;
		}
		return true;
	}
	return false;
}

/* Every constraint of A's conjunction is implied by some constraint of B's. */
static bool conj_implies(const struct agora_policy_config *cfg,
                         const struct agora_policy_constraint *b,
                         const struct agora_policy_constraint *a, const char **which)
{
	for (size_t i = 0; i < a->n_kids; i++) {
		bool ok = false;
		for (size_t k = 0; k < b->n_kids && !ok; k++)
			ok = implies(cfg, &b->kids[k], &a->kids[i]);
		if (!ok) {
			if (which)
				*which = a->kids[i].path;
			return false;
		}
	}
	return true;
}

static bool ids_subset(char *const *b, size_t nb, char *const *a, size_t na)
{
	if (!na)
		return true;  /* a: anyone / any target */
	if (!nb)
		return false; /* b is broader */
	for (size_t i = 0; i < nb; i++) {
		bool hit = false;
		for (size_t k = 0; k < na && !hit; k++)
			hit = strcmp(b[i], a[k]) == 0;
		if (!hit)
			return false;
	}
	return true;
}

/* Rule B is at least as strict as rule A (both permissions / both duties). */
static bool rule_narrows(const struct agora_policy_config *cfg, const struct agora_policy_rule *a,
                         const struct agora_policy_rule *b, const char **which);

static bool duties_kept(const struct agora_policy_config *cfg, const struct agora_policy_rule *a,
                        size_t na, const struct agora_policy_rule *b, size_t nb,
                        const char **which)
{
	for (size_t i = 0; i < na; i++) {
		bool ok = false;
		for (size_t k = 0; k < nb && !ok; k++)
			ok = a[i].action == b[k].action && rule_narrows(cfg, &a[i], &b[k], NULL);
		if (!ok) {
			if (which)
				*which = a[i].path;
			return false;
		}
	}
	return true;
}

static bool rule_narrows(const struct agora_policy_config *cfg, const struct agora_policy_rule *a,
                         const struct agora_policy_rule *b, const char **which)
{
	if (!pol_action_in(cfg, b->action, a->action))
		return false;
	if (!ids_subset(b->targets, b->n_targets, a->targets, a->n_targets) ||
	    !ids_subset(b->assignees, b->n_assignees, a->assignees, a->n_assignees))
		return false;
	if (!conj_implies(cfg, &b->cons, &a->cons, which) ||
	    !conj_implies(cfg, &b->refinement, &a->refinement, which) ||
	    !conj_implies(cfg, &b->party, &a->party, which))
		return false;
	return duties_kept(cfg, a->sub, a->n_sub, b->sub, b->n_sub, which);
}

/* Prohibition B applies at least whenever prohibition A does. */
static bool prohib_kept(const struct agora_policy_config *cfg, const struct agora_policy_rule *a,
                        const struct agora_policy_rule *b)
{
	if (!pol_action_in(cfg, a->action, b->action))
		return false;
	if (!ids_subset(a->targets, a->n_targets, b->targets, b->n_targets) ||
	    !ids_subset(a->assignees, a->n_assignees, b->assignees, b->n_assignees))
		return false;
	return conj_implies(cfg, &a->cons, &b->cons, NULL) &&
	       conj_implies(cfg, &a->refinement, &b->refinement, NULL) &&
	       conj_implies(cfg, &a->party, &b->party, NULL);
}

static void say(char **why, const char *fmt, const char *x, const char *y)
{
	if (!why)
		return;
	struct pol_buf b = { 0 };
	pol_buf_addf(&b, fmt, x, y ? y : "");
	*why = pol_buf_steal(&b);
}

bool agora_policy_narrows(const struct agora_policy *a, const struct agora_policy *b, char **why)
{
	if (why)
		*why = NULL;
	const struct agora_policy_config *cfg = a->cfg;
	for (size_t i = 0; i < b->n_perms; i++) {
		bool ok = false;
		const char *which = NULL;
		for (size_t k = 0; k < a->n_perms && !ok; k++)
			ok = rule_narrows(cfg, &a->perms[k], &b->perms[i], &which);
		if (!ok) {
			say(why, "%s is not covered by an equally or less constrained permission of A%s",
			    b->perms[i].path, "");
			if (why && which) {
				free(*why);
				say(why, "%s does not keep constraint or duty %s of A", b->perms[i].path, which);
			}
			return false;
		}
	}
	for (size_t i = 0; i < a->n_prohibs; i++) {
		bool ok = false;
		for (size_t k = 0; k < b->n_prohibs && !ok; k++)
			ok = prohib_kept(cfg, &a->prohibs[i], &b->prohibs[k]);
		if (!ok) {
			say(why, "%s of A is not kept by B%s", a->prohibs[i].path, "");
			return false;
		}
	}
	const char *which = NULL;
	if (!duties_kept(cfg, a->obligs, a->n_obligs, b->obligs, b->n_obligs, &which)) {
		say(why, "%s of A is not kept by B%s", which, "");
		return false;
	}
	if (a->n_prohibs && a->conflict != CF_PERM && b->conflict == CF_PERM) {
		say(why, "B lets permissions override prohibitions (conflict perm)%s%s", "", "");
		return false;
	}
	return true;
}
