/*
 * Agora policy engine: ODRL 2.2 (JSON-LD compact form, DSP 2025-1 context).
 *
 * Pure library: depends on Jansson and libc only, keeps no global mutable
 * state, aborts on out-of-memory.  A policy is parsed and validated once into
 * a compiled form (enums, pre-parsed times, durations, numbers and string
 * sets) and then evaluated many times without walking JSON.
 *
 *   cfg  = agora_policy_config_new();            // actions + concept hierarchies
 *   prob = agora_policy_problems_new();
 *   pol  = agora_policy_parse(json, cfg, prob);   // NULL when prob is not empty
 *   req  = agora_policy_request_from_json(rj, prob);
 *   agora_policy_decide(pol, req, &dec);         // no allocation
 *   out  = agora_policy_decision_to_json(&dec);  // {"decision","reasons","duties"}
 *
 * Thread safety: a compiled policy and its configuration are read-only during
 * evaluation and may be shared between threads; a configuration must not be
 * modified while policies compiled with it are being evaluated, and it must
 * outlive them.
 */
#ifndef AGORA_POLICY_H
#define AGORA_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Limits on what a policy may contain; past them the policy is refused. */
#define AGORA_POLICY_MAX_DEPTH 32       /* JSON nesting depth */
#define AGORA_POLICY_MAX_NODES 1000     /* rules + constraints + operand values */
#define AGORA_POLICY_MAX_STRING 2048    /* bytes in any string */
#define AGORA_POLICY_MAX_REASONS 32     /* reasons kept in one decision */
#define AGORA_POLICY_MAX_DUTIES 32      /* duties kept in one decision */

/* The project namespace for participant-attribute operands (agora:country). */
#define AGORA_POLICY_NS "https://w3id.org/agora/ns#"

struct agora_policy;
struct agora_policy_config;
struct agora_policy_rule;
struct agora_policy_constraint;

/* ---------------------------------------------------------------- problems */

/* A list of validation problems: each has a JSON-pointer-like path into the
 * input ("permission[0].constraint[1].operator"), a stable code
 * ("unknown_operand", "operator_mismatch", "bad_datetime", ...) and a message. */
struct agora_policy_problems;

struct agora_policy_problems *agora_policy_problems_new(void);
void agora_policy_problems_free(struct agora_policy_problems *p);
size_t agora_policy_problems_count(const struct agora_policy_problems *p);
const char *agora_policy_problem_code(const struct agora_policy_problems *p, size_t i);
const char *agora_policy_problem_path(const struct agora_policy_problems *p, size_t i);
const char *agora_policy_problem_message(const struct agora_policy_problems *p, size_t i);
/* Returns a new reference: [{"path","code","message"}, ...]. */
json_t *agora_policy_problems_to_json(const struct agora_policy_problems *p);

/* ----------------------------------------------------------- configuration */

/* A configuration holds the action hierarchy (the ODRL 2.2 vocabulary is
 * built in: use includes read, reproduce, distribute, ...; transfer includes
 * give and sell) and the concept hierarchies used by isA / isPartOf /
 * hasPart and the set operators.  A new configuration knows the EU member
 * states as parts of "EU" (spatial) and treats ISO 3166-2 codes such as
 * "FR-69" as parts of their country. */
struct agora_policy_config *agora_policy_config_new(void);
void agora_policy_config_free(struct agora_policy_config *cfg);

/* Declares CHILD isA / isPartOf PARENT in SCHEME ("purpose", "spatial",
 * "industry", "fileFormat", "deliveryChannel", "event", "recipient", or an
 * attribute name such as "country").  Returns 0, or -1 when the edge would
 * create a cycle or exceed the size limits (nothing is added then). */
int agora_policy_config_add_concept(struct agora_policy_config *cfg, const char *scheme,
                                    const char *child, const char *parent);

/* Declares a project action NAME (e.g. "agora:analyze") included in PARENT
 * (an existing action, or NULL for a top-level action).  Returns 0 or -1. */
int agora_policy_config_add_action(struct agora_policy_config *cfg, const char *name,
                                   const char *parent);

/* Loads {"concepts":{SCHEME:{CHILD: PARENT | [PARENT...]}}, "actions":{NAME: PARENT}}.
 * Problems (wrong types, cycles) are appended to PROBLEMS; returns 0 when
 * none were found. */
int agora_policy_config_load_json(struct agora_policy_config *cfg, const json_t *j,
                                  struct agora_policy_problems *problems);

/* True when concept A is B or (transitively) narrower than / part of B. */
bool agora_policy_concept_within(const struct agora_policy_config *cfg, const char *scheme,
                                 const char *a, const char *b);

/* True when action A is B or is (transitively) included in B.  Unknown
 * actions are never included. */
bool agora_policy_action_included(const struct agora_policy_config *cfg, const char *a,
                                  const char *b);

/* ------------------------------------------------------------------ policy */

/* Parses and validates an ODRL policy (Set, Offer or Agreement; unprefixed
 * DSP terms, odrl: prefixed terms and full ODRL IRIs are accepted).  CFG may
 * be NULL for a built-in default configuration.  Returns a compiled policy
 * owned by the caller, or NULL when any problem was found (all problems are
 * appended to PROBLEMS, which may be NULL).  The policy keeps a pointer to
 * CFG. */
struct agora_policy *agora_policy_parse(const json_t *j, const struct agora_policy_config *cfg,
                                        struct agora_policy_problems *problems);
void agora_policy_free(struct agora_policy *p);

/* Validation only: returns true when J is a valid policy. */
bool agora_policy_validate(const json_t *j, const struct agora_policy_config *cfg,
                           struct agora_policy_problems *problems);

/* Finds the policy object inside a DSP message or DCAT dataset (offer,
 * agreement, or a single hasPolicy entry) or returns J itself when it is a
 * policy.  Borrowed reference; NULL when none or several were found. */
const json_t *agora_policy_find(const json_t *j);

const char *agora_policy_uid(const struct agora_policy *p);

/* ----------------------------------------------------------------- request */

struct agora_policy_strs {
	const char *const *v;
	size_t n;
};

struct agora_policy_attr {
	const char *name;              /* "country", "industry", ... */
	struct agora_policy_strs values;
};

/* The evaluation context.  Strings are borrowed; a field whose has_ flag is
 * false (or whose pointer is NULL / set is empty) is absent, and every
 * constraint that needs an absent value is unsatisfied. */
struct agora_policy_request {
	const char *action;            /* required, e.g. "read" */
	const char *target;            /* asset id; absent: target not checked */
	const char *assignee;          /* party id */
	const char *recipient;         /* defaults to assignee */
	const struct agora_policy_attr *attrs;
	size_t n_attrs;
	int64_t now_ms;                /* current time, ms since the epoch, UTC */
	bool has_now;
	int64_t agreement_start_ms;
	bool has_agreement_start;
	int64_t count;                 /* uses including the one being decided */
	bool has_count;
	struct agora_policy_strs purpose, spatial, file_format, delivery_channel, event;
	double pay_amount;
	bool has_pay_amount;
	const char *unit;
	double percentage;
	bool has_percentage;
	const char *version;
	int64_t metered_ms;            /* meteredTime used so far */
	bool has_metered;
	int64_t delay_ms;              /* delayPeriod observed */
	bool has_delay;
	struct agora_policy_strs fulfilled_duties; /* duty uid, rule path or action */
};

/* Builds a request from the CLI's JSON form (keys: action, target, assignee,
 * recipient, attributes, dateTime, agreementStart, count, purpose, spatial,
 * fileFormat, deliveryChannel, event, payAmount, unit, percentage, version,
 * meteredTime, delayPeriod, fulfilledDuties).  A missing dateTime means the
 * current clock.  Returns a heap request that owns copies of its strings
 * (free with agora_policy_request_free), or NULL with PROBLEMS filled. */
struct agora_policy_request *agora_policy_request_from_json(const json_t *j,
                                                            struct agora_policy_problems *problems);
void agora_policy_request_free(struct agora_policy_request *r);

/* ---------------------------------------------------------------- decision */

enum agora_policy_verdict {
	AGORA_POLICY_NOT_APPLICABLE = 0,
	AGORA_POLICY_PERMIT,
	AGORA_POLICY_DENY,
};

enum agora_policy_reason_code {
	AGORA_POLICY_R_GRANTED,            /* permission granted (constraint = NULL) */
	AGORA_POLICY_R_SATISFIED,          /* constraint of the granting permission */
	AGORA_POLICY_R_VIOLATED,           /* constraint not satisfied */
	AGORA_POLICY_R_MISSING,            /* request lacks the value the constraint needs */
	AGORA_POLICY_R_REFINEMENT,         /* action refinement not satisfied */
	AGORA_POLICY_R_ASSIGNEE,           /* rule is assigned to another party */
	AGORA_POLICY_R_PROHIBITED,         /* a prohibition applies */
	AGORA_POLICY_R_CONFLICT_VOID,      /* conflict under strategy "invalid" */
	AGORA_POLICY_R_CONFLICT_PERM,      /* prohibition overridden (strategy "perm") */
	AGORA_POLICY_R_CONFLICT_PROHIBIT,  /* permission overridden (strategy "prohibit") */
	AGORA_POLICY_R_NO_RULE,            /* no rule covers the action/target */
	AGORA_POLICY_R_UNKNOWN_ACTION,     /* the requested action is not known */
};

struct agora_policy_reason {
	enum agora_policy_reason_code code;
	const struct agora_policy_rule *rule;             /* NULL for NO_RULE */
	const struct agora_policy_constraint *constraint; /* NULL when the rule as a whole */
	const struct agora_policy_rule *other;            /* the other side of a conflict */
};

/* The result of agora_policy_decide: points into the policy and the request,
 * so it is valid while both are alive and unchanged. */
struct agora_policy_decision {
	enum agora_policy_verdict verdict;
	const struct agora_policy *policy;
	const struct agora_policy_request *request;
	struct agora_policy_reason reasons[AGORA_POLICY_MAX_REASONS];
	size_t n_reasons;
	bool reasons_truncated;
	const struct agora_policy_rule *duties[AGORA_POLICY_MAX_DUTIES];
	size_t n_duties;
	bool duties_truncated;
};

/* Evaluates P against R into *OUT without allocating.  Returns OUT->verdict. */
enum agora_policy_verdict agora_policy_decide(const struct agora_policy *p,
                                              const struct agora_policy_request *r,
                                              struct agora_policy_decision *out);

/* Renders a decision: {"decision":"permit|deny|not_applicable","reasons":[...],
 * "duties":[...]}.  Returns a new reference. */
json_t *agora_policy_decision_to_json(const struct agora_policy_decision *d);

/* Convenience: decide + render.  Returns a new reference. */
json_t *agora_policy_eval(const struct agora_policy *p, const struct agora_policy_request *r);

const char *agora_policy_verdict_name(enum agora_policy_verdict v);

/* ---------------------------------------------------------- narrows/describe */

/* True when policy B is at least as strict as A: every permission of B is
 * covered by a permission of A whose constraints it implies (later start,
 * earlier end, lower count, subset of purposes, ...) and whose duties it
 * keeps; every prohibition and obligation of A is kept by B.  Conservative:
 * when implication cannot be shown, the answer is false.  When WHY is not
 * NULL it receives a heap string explaining a negative answer (or NULL). */
bool agora_policy_narrows(const struct agora_policy *a, const struct agora_policy *b, char **why);

/* Plain English, one sentence per rule.  Returns a heap string (free()). */
char *agora_policy_describe(const struct agora_policy *p);

#endif
