/* Internal representation of compiled ODRL policies.  Not installed. */
#ifndef AGORA_POL_INTERNAL_H
#define AGORA_POL_INTERNAL_H

#include "policy.h"

#include <stdarg.h>

/* ------------------------------------------------------------ allocation */
void *pol_xmalloc(size_t n);
void *pol_xcalloc(size_t n, size_t sz);
void *pol_xrealloc(void *p, size_t n);
char *pol_xstrdup(const char *s);

/* A growable string buffer. */
struct pol_buf {
	char *s;
	size_t len, cap;
};
void pol_buf_add(struct pol_buf *b, const char *s);
void pol_buf_addf(struct pol_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *pol_buf_steal(struct pol_buf *b); /* never NULL */

void pol_problem(struct agora_policy_problems *p, const char *path, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------ time values */
/* Parses ISO 8601 / RFC 3339 date or date-time.  *LO is the first ms, *HI
 * one past the last ms the literal denotes (a date covers its whole UTC day,
 * a date-time is one millisecond wide).  Returns 0 or -1. */
int pol_parse_time(const char *s, int64_t *lo, int64_t *hi);

struct pol_dur {
	int64_t years, months, days, ms;
};
int pol_parse_duration(const char *s, struct pol_dur *d);
int64_t pol_time_add(int64_t t, const struct pol_dur *d);  /* calendar add */
int64_t pol_dur_nominal_ms(const struct pol_dur *d);        /* 365 d/y, 30 d/m */
void pol_format_date(int64_t ms, char *out, size_t n);      /* "31 Dec 2026" [+ " 06:00 UTC"] */
void pol_format_duration(const struct pol_dur *d, char *out, size_t n); /* "30 days" */

/* -------------------------------------------------------------- vocabulary */
enum pol_operand {
	LO_DATETIME, LO_ELAPSED, LO_COUNT, LO_PURPOSE, LO_RECIPIENT, LO_INDUSTRY, LO_SPATIAL,
	LO_PAYAMOUNT, LO_FILEFORMAT, LO_DELIVERY, LO_EVENT, LO_PERCENTAGE, LO_VERSION,
	LO_DELAY, LO_METERED, LO_ATTR, LO_PROFILE, LO__N
};

enum pol_vtype { VT_TIME, VT_ELAPSED, VT_DURATION, VT_INT, VT_NUM, VT_VERSION, VT_CONCEPT, VT_ANY };

enum pol_operator {
	OP_EQ, OP_NEQ, OP_LT, OP_LTEQ, OP_GT, OP_GTEQ, OP_ISA, OP_HASPART, OP_ISPARTOF,
	OP_ISALLOF, OP_ISANYOF, OP_ISNONEOF, OP__N
};

extern const char *const pol_operator_names[OP__N];
const char *pol_operand_name(enum pol_operand o);
enum pol_vtype pol_operand_type(enum pol_operand o);
const char *pol_operand_scheme(enum pol_operand o); /* concept scheme name */
int pol_lookup_operand(const char *name, enum pol_operand *o); /* 0 / -1 */
int pol_lookup_operator(const char *name, enum pol_operator *o);

/* Strips "odrl:", the ODRL namespace IRI, "dspace:" ... from a term. */
const char *pol_strip_odrl(const char *s);

/* --------------------------------------------------------------- config */
struct pol_strmap; /* open-addressing string -> index map */

struct pol_concept {
	char *name;
	size_t *parents;
	size_t n_parents;
};

struct pol_scheme {
	char *name;
	struct pol_concept *nodes;
	size_t n_nodes, cap_nodes;
	size_t *slots;   /* hash slots: index+1, 0 = empty */
	size_t n_slots;
};

struct pol_action {
	char *name;
	int parent; /* -1 none */
};

struct agora_policy_config {
	struct pol_action *actions;
	size_t n_actions, cap_actions;
	size_t *aslots;
	size_t n_aslots;
	struct pol_scheme *schemes;
	size_t n_schemes;
};

int pol_action_id(const struct agora_policy_config *cfg, const char *name); /* -1 unknown */
bool pol_action_in(const struct agora_policy_config *cfg, int a, int b);
bool pol_concept_within(const struct agora_policy_config *cfg, const char *scheme,
                        const char *a, const char *b);

/* ----------------------------------------------------------- constraints */
enum pol_ckind { CK_ATOM, CK_AND, CK_OR, CK_XONE, CK_ANDSEQ };

struct agora_policy_constraint {
	enum pol_ckind kind;
	char *path;
	char *uid;
	/* atom */
	enum pol_operand lo;
	char *lo_name;      /* as normalised for output: "dateTime", "agora:country", "partner" */
	char *attr;         /* attribute key for LO_ATTR / LO_PROFILE */
	enum pol_operator op;
	json_t *right;      /* normalised right operand for output (owned) */
	char *unit;
	/* compiled right operand */
	int64_t t_lo, t_hi;         /* VT_TIME */
	struct pol_dur dur;         /* VT_ELAPSED, VT_DURATION */
	int64_t dur_ms;             /* nominal */
	int64_t ival;               /* VT_INT */
	double num;                 /* VT_NUM, VT_ANY numeric */
	bool is_num;                /* VT_ANY: right operand numeric */
	uint32_t ver[8];            /* VT_VERSION */
	size_t n_ver;
	char **strs;                /* VT_CONCEPT / VT_ANY set */
	size_t n_strs;
	/* logical */
	struct agora_policy_constraint *kids;
	size_t n_kids;
};

enum pol_rkind { RK_PERMISSION, RK_PROHIBITION, RK_OBLIGATION, RK_DUTY };

struct agora_policy_rule {
	enum pol_rkind kind;
	char *path;
	char *uid;
	int action;
	char *action_name;
	struct agora_policy_constraint refinement; /* CK_AND; n_kids 0 = none */
	struct agora_policy_constraint party;      /* assignee refinement, CK_AND */
	char **targets;
	size_t n_targets;
	char **assignees;
	size_t n_assignees;
	char *assigner;
	struct agora_policy_constraint cons;       /* CK_AND of the constraint array */
	struct agora_policy_rule *sub;             /* duty / remedy / consequence */
	size_t n_sub;
	json_t *out;                               /* duty rendering (duties only) */
};

enum pol_ptype { PT_SET, PT_OFFER, PT_AGREEMENT };
enum pol_conflict { CF_INVALID, CF_PERM, CF_PROHIBIT };

struct agora_policy {
	enum pol_ptype type;
	enum pol_conflict conflict;
	char *uid;
	char *profile;
	const struct agora_policy_config *cfg;
	struct agora_policy_config *owned_cfg;
	struct agora_policy_rule *perms, *prohibs, *obligs;
	size_t n_perms, n_prohibs, n_obligs;
};

/* Evaluates one constraint tree: 1 satisfied, 0 violated, -1 value missing.
 * When FAIL is not NULL it receives the deciding atom (or logical node). */
int pol_eval_constraint(const struct agora_policy *p, const struct agora_policy_constraint *c,
                        const struct agora_policy_request *r,
                        const struct agora_policy_constraint **fail);

/* "dateTime lteq 2026-12-31" */
void pol_constraint_text(const struct agora_policy_constraint *c, struct pol_buf *b);
const char *pol_rule_kind_name(enum pol_rkind k);

#endif
