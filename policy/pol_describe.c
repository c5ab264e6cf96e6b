/* Plain-English rendering of a policy, one sentence per rule. */
#include "pol_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_words(struct pol_buf *b, char *const *s, size_t n, const char *conj)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			pol_buf_add(b, i + 1 == n ? conj : ", ");
		if (strcmp(s[i], "EU") == 0 || strcmp(s[i], "EEA") == 0)
			pol_buf_add(b, "the ");
		pol_buf_add(b, s[i]);
	}
}

static void date_text(int64_t ms, char *out, size_t n)
{
	pol_format_date(ms, out, n);
}

/* One constraint as a phrase ("for research", "until 31 Dec 2026"). */
static void phrase(const struct agora_policy_constraint *c, struct pol_buf *b)
{
	char d[96];
	if (c->kind != CK_ATOM) {
		const char *conj = c->kind == CK_OR ? " or " : c->kind == CK_XONE ? " or else " : " and ";
		pol_buf_add(b, c->kind == CK_XONE ? "under exactly one of: (" : "(");
		for (size_t i = 0; i < c->n_kids; i++) {
			if (i)
				pol_buf_add(b, c->kind == CK_XONE ? "; " : conj);
			phrase(&c->kids[i], b);
		}
		pol_buf_add(b, ")");
		return;
	}
	switch (c->lo) {
	case LO_DATETIME:
		date_text(c->t_lo, d, sizeof(d));
		switch (c->op) {
		case OP_LT: pol_buf_addf(b, "before %s", d); return;
		case OP_LTEQ: pol_buf_addf(b, "until %s", d); return;
		case OP_GT: pol_buf_addf(b, "after %s", d); return;
		case OP_GTEQ: pol_buf_addf(b, "from %s", d); return;
		case OP_EQ: pol_buf_addf(b, "on %s", d); return;
		default: pol_buf_addf(b, "except on %s", d); return;
		}
	case LO_ELAPSED:
		pol_format_duration(&c->dur, d, sizeof(d));
		switch (c->op) {
		case OP_LT:
		case OP_LTEQ: pol_buf_addf(b, "within %s of the agreement", d); return;
		case OP_GT:
		case OP_GTEQ: pol_buf_addf(b, "from %s after the agreement", d); return;
		default: pol_buf_addf(b, "when exactly %s have elapsed", d); return;
		}
	case LO_COUNT: {
		long long n = (long long)c->ival;
		switch (c->op) {
		case OP_LT: pol_buf_addf(b, "at most %lld time%s", n - 1, n - 1 == 1 ? "" : "s"); return;
		case OP_LTEQ: pol_buf_addf(b, "at most %lld time%s", n, n == 1 ? "" : "s"); return;
		case OP_EQ: pol_buf_addf(b, "exactly %lld time%s", n, n == 1 ? "" : "s"); return;
		case OP_GT: pol_buf_addf(b, "after more than %lld use%s", n, n == 1 ? "" : "s"); return;
		case OP_GTEQ: pol_buf_addf(b, "from the %lld%s use on", n, n == 1 ? "st" : n == 2 ? "nd" : n == 3 ? "rd" : "th"); return;
		default: pol_buf_addf(b, "any number of times but %lld", n); return;
		}
	}
	case LO_PAYAMOUNT: {
		static const char *w[] = { "exactly", "other than", "less than", "at most", "more than",
			                   "at least" };
		pol_buf_addf(b, "for a payment of %s %g%s%s", w[c->op], c->num, c->unit ? " " : "",
		             c->unit ? pol_strip_odrl(c->unit) : "");
		return;
	}
	case LO_SPATIAL:
		if (c->op == OP_NEQ || c->op == OP_ISNONEOF) {
			pol_buf_add(b, "outside ");
			list_words(b, c->strs, c->n_strs, " and ");
		} else if (c->op == OP_HASPART) {
			pol_buf_addf(b, "in an area that includes %s", c->strs[0]);
		} else {
			pol_buf_add(b, "in ");
			list_words(b, c->strs, c->n_strs, c->op == OP_ISALLOF ? " and " : " or ");
		}
		return;
	case LO_PURPOSE:
		if (c->op == OP_NEQ || c->op == OP_ISNONEOF) {
			pol_buf_add(b, "not for ");
			list_words(b, c->strs, c->n_strs, " or ");
		} else {
			pol_buf_add(b, "for ");
			list_words(b, c->strs, c->n_strs, c->op == OP_ISALLOF ? " and " : " or ");
			if (c->op == OP_ISA)
				pol_buf_add(b, " (or a narrower purpose)");
		}
		return;
	default:
		break;
	}
	static const char *w[] = { "is", "is not", "is below", "is at most", "is above",
		                   "is at least", "is a kind of", "includes", "is part of",
		                   "includes all of", "is one of", "is none of" };
	const char *name = c->lo_name;
	if (c->lo == LO_ATTR || c->lo == LO_PROFILE)
		name = c->attr;
	pol_buf_addf(b, "if the %s %s ", name, w[c->op]);
	if (c->n_strs) {
		list_words(b, c->strs, c->n_strs, c->op == OP_ISALLOF ? " and " : " or ");
	} else if (pol_operand_type(c->lo) == VT_DURATION) {
		pol_format_duration(&c->dur, d, sizeof(d));
		pol_buf_add(b, d);
	} else {
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
}

static const char *participle(const char *action)
{
	static const struct {
		const char *a, *p;
	} t[] = {
		{ "delete", "deleted" }, { "anonymize", "anonymized" }, { "watermark", "watermarked" },
		{ "aggregate", "aggregated" }, { "attribute", "attributed" }, { "archive", "archived" },
		{ "uninstall", "uninstalled" }, { "include", "included" }, { "translate", "translated" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].a, action) == 0)
			return t[i].p;
	return NULL;
}

static void duty_text(const struct agora_policy_rule *d, struct pol_buf *b)
{
	const char *pp = participle(d->action_name);
	const struct agora_policy_constraint *elapsed = NULL;
	for (size_t i = 0; i < d->cons.n_kids; i++)
		if (d->cons.kids[i].kind == CK_ATOM && (d->cons.kids[i].lo == LO_ELAPSED ||
		                                        d->cons.kids[i].lo == LO_DELAY))
			elapsed = &d->cons.kids[i];
	const json_t *fields = json_object_get(d->out, "fields");
	if (pp && json_is_array(fields) && json_array_size(fields)) {
		pol_buf_add(b, "the field");
		pol_buf_add(b, json_array_size(fields) > 1 ? "s " : " ");
		for (size_t i = 0; i < json_array_size(fields); i++) {
			const char *f = json_string_value(json_array_get(fields, i));
			pol_buf_addf(b, "%s%s", i ? (i + 1 == json_array_size(fields) ? " and " : ", ") : "",
			             f ? f : "?");
		}
		pol_buf_addf(b, " must be %s", pp);
	} else if (pp) {
		pol_buf_addf(b, "the data must be %s", pp);
	} else if (strcmp(d->action_name, "inform") == 0) {
		pol_buf_addf(b, "the assignee must inform %s",
		             d->n_targets ? d->targets[0] : d->assigner ? d->assigner : "the provider");
	} else if (strcmp(d->action_name, "compensate") == 0) {
		pol_buf_add(b, "the assignee must pay");
	} else {
		pol_buf_addf(b, "the assignee must %s", d->action_name);
		if (d->n_targets)
			pol_buf_addf(b, " %s", d->targets[0]);
	}
	if (elapsed) {
		char t[96];
		pol_format_duration(&elapsed->dur, t, sizeof(t));
		pol_buf_addf(b, " %s %s after receipt",
		             elapsed->op == OP_LT || elapsed->op == OP_LTEQ ? "at most" : "", t);
		/* collapse the double space when the qualifier is empty */
		char *dbl = strstr(b->s, "  ");
		if (dbl) {
			memmove(dbl, dbl + 1, strlen(dbl));
			b->len--;
		}
	}
	for (size_t i = 0; i < d->cons.n_kids; i++) {
		if (&d->cons.kids[i] == elapsed)
			continue;
		pol_buf_add(b, " ");
		if (d->cons.kids[i].kind == CK_ATOM && d->cons.kids[i].lo == LO_PAYAMOUNT &&
		    strcmp(d->action_name, "compensate") == 0) {
			const struct agora_policy_constraint *c = &d->cons.kids[i];
			pol_buf_addf(b, "%g%s%s", c->num, c->unit ? " " : "", c->unit ? pol_strip_odrl(c->unit) : "");
			continue;
		}
		phrase(&d->cons.kids[i], b);
	}
}

static void rule_text(const struct agora_policy_rule *r, struct pol_buf *b)
{
	char *who = NULL;
	if (r->n_assignees) {
		struct pol_buf w = { 0 };
		list_words(&w, r->assignees, r->n_assignees, " or ");
		who = pol_buf_steal(&w);
	}
	/* spatial first ("Anyone in the EU"), the rest after the verb */
	const struct agora_policy_constraint *sp = NULL;
	for (size_t i = 0; i < r->cons.n_kids; i++)
		if (r->cons.kids[i].kind == CK_ATOM && r->cons.kids[i].lo == LO_SPATIAL && !sp)
			sp = &r->cons.kids[i];
	size_t start = b->len;
	if (r->kind == RK_OBLIGATION) {
		pol_buf_add(b, who ? who : "The assignee");
		pol_buf_add(b, " must ");
		struct pol_buf t = { 0 };
		duty_text(r, &t);
		/* duty_text speaks of "the assignee must X" or "the data must be X" */
		const char *s = t.s;
		if (strncmp(s, "the assignee must ", 18) == 0)
			pol_buf_add(b, s + 18);
		else {
			b->len = start;
			b->s[start] = 0;
			pol_buf_addf(b, "%c%s", toupper((unsigned char)t.s[0]), t.s + 1);
		}
		free(t.s);
	} else {
		pol_buf_add(b, who ? who : "Anyone");
		if (sp) {
			pol_buf_add(b, " ");
			phrase(sp, b);
		}
		pol_buf_add(b, r->kind == RK_PROHIBITION ? " must not " : " may ");
		pol_buf_add(b, r->action_name);
		pol_buf_add(b, " this dataset");
		for (size_t i = 0; i < r->refinement.n_kids; i++) {
			pol_buf_add(b, i ? ", " : " ");
			phrase(&r->refinement.kids[i], b);
		}
		bool first = true;
		for (size_t i = 0; i < r->party.n_kids; i++) {
			pol_buf_add(b, first ? " " : ", ");
			first = false;
			phrase(&r->party.kids[i], b);
		}
		for (size_t i = 0; i < r->cons.n_kids; i++) {
			if (&r->cons.kids[i] == sp)
				continue;
			pol_buf_add(b, first ? " " : ", ");
			first = false;
			phrase(&r->cons.kids[i], b);
		}
	}
	for (size_t i = 0; i < r->n_sub; i++) {
		pol_buf_add(b, i == 0 ? (r->kind == RK_PROHIBITION ? "; otherwise " : "; ") : ", and ");
		duty_text(&r->sub[i], b);
	}
	pol_buf_add(b, ".");
	free(who);
}

char *agora_policy_describe(const struct agora_policy *p)
{
	struct pol_buf b = { 0 };
	const struct agora_policy_rule *sets[] = { p->perms, p->prohibs, p->obligs };
	size_t ns[] = { p->n_perms, p->n_prohibs, p->n_obligs };
	for (size_t s = 0; s < 3; s++)
		for (size_t i = 0; i < ns[s]; i++) {
			if (b.len)
				pol_buf_add(&b, "\n");
			rule_text(&sets[s][i], &b);
		}
	if (p->conflict != CF_INVALID && p->n_prohibs)
		pol_buf_add(&b, p->conflict == CF_PERM
		                        ? "\nWhere a permission and a prohibition overlap, the permission wins."
		                        : "\nWhere a permission and a prohibition overlap, the prohibition wins.");
	return pol_buf_steal(&b);
}
