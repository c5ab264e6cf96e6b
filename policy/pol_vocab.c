/* ODRL 2.2 vocabulary: operands, operators, the action hierarchy and the
 * configurable concept hierarchies. */
#include "pol_internal.h"

#include <stdlib.h>
#include <string.h>

#define POL_MAX_CONCEPTS 100000 /* per scheme */
#define POL_MAX_SCHEMES 64
#define POL_MAX_ACTIONS 1024

const char *const pol_operator_names[OP__N] = {
	"eq", "neq", "lt", "lteq", "gt", "gteq", "isA", "hasPart", "isPartOf",
	"isAllOf", "isAnyOf", "isNoneOf",
};

static const struct {
	const char *name;
	enum pol_vtype type;
	const char *scheme;
} operands[LO__N] = {
	[LO_DATETIME] = { "dateTime", VT_TIME, NULL },
	[LO_ELAPSED] = { "elapsedTime", VT_ELAPSED, NULL },
	[LO_COUNT] = { "count", VT_INT, NULL },
	[LO_PURPOSE] = { "purpose", VT_CONCEPT, "purpose" },
	[LO_RECIPIENT] = { "recipient", VT_CONCEPT, "recipient" },
	[LO_INDUSTRY] = { "industry", VT_CONCEPT, "industry" },
	[LO_SPATIAL] = { "spatial", VT_CONCEPT, "spatial" },
	[LO_PAYAMOUNT] = { "payAmount", VT_NUM, NULL },
	[LO_FILEFORMAT] = { "fileFormat", VT_CONCEPT, "fileFormat" },
	[LO_DELIVERY] = { "deliveryChannel", VT_CONCEPT, "deliveryChannel" },
	[LO_EVENT] = { "event", VT_CONCEPT, "event" },
	[LO_PERCENTAGE] = { "percentage", VT_NUM, NULL },
	[LO_VERSION] = { "version", VT_VERSION, NULL },
	[LO_DELAY] = { "delayPeriod", VT_DURATION, NULL },
	[LO_METERED] = { "meteredTime", VT_DURATION, NULL },
	[LO_ATTR] = { "agora:*", VT_ANY, NULL },
	[LO_PROFILE] = { "profile:*", VT_ANY, NULL },
};

const char *pol_operand_name(enum pol_operand o)
{
	return operands[o].name;
}

enum pol_vtype pol_operand_type(enum pol_operand o)
{
	return operands[o].type;
}

const char *pol_operand_scheme(enum pol_operand o)
{
	return operands[o].scheme;
}

static const char *const odrl_prefixes[] = {
	"odrl:", "http://www.w3.org/ns/odrl/2/", "https://www.w3.org/ns/odrl/2/", NULL,
};

const char *pol_strip_odrl(const char *s)
{
	for (size_t i = 0; odrl_prefixes[i]; i++) {
		size_t n = strlen(odrl_prefixes[i]);
		if (strncmp(s, odrl_prefixes[i], n) == 0)
			return s + n;
	}
	return s;
}

int pol_lookup_operand(const char *name, enum pol_operand *o)
{
	name = pol_strip_odrl(name);
	for (int i = 0; i < LO_ATTR; i++)
		if (strcmp(operands[i].name, name) == 0) {
			*o = (enum pol_operand)i;
			return 0;
		}
	return -1;
}

int pol_lookup_operator(const char *name, enum pol_operator *o)
{
	name = pol_strip_odrl(name);
	for (int i = 0; i < OP__N; i++)
		if (strcmp(pol_operator_names[i], name) == 0) {
			*o = (enum pol_operator)i;
			return 0;
		}
	return -1;
}

/* ------------------------------------------------------------- hashing */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL & (size_t)-1;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

/* A slot table maps strings to indices into an external array; slots hold
 * index + 1, 0 meaning empty.  NAME_AT returns the string of an index. */
typedef const char *(*name_at_fn)(const void *arr, size_t i);

static size_t slot_find(const size_t *slots, size_t n_slots, const void *arr, name_at_fn at,
                        const char *s)
{
	if (!n_slots)
		return 0;
	size_t mask = n_slots - 1;
	for (size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
		if (!slots[i])
			return 0;
		if (strcmp(at(arr, slots[i] - 1), s) == 0)
			return slots[i];
	}
}

static void slot_insert(size_t *slots, size_t n_slots, const char *s, size_t idx)
{
	size_t mask = n_slots - 1;
	size_t i = hash_str(s) & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = idx + 1;
}

static const char *action_name_at(const void *arr, size_t i)
{
	return ((const struct pol_action *)arr)[i].name;
}

static const char *concept_name_at(const void *arr, size_t i)
{
	return ((const struct pol_concept *)arr)[i].name;
}

/* Grows *SLOTS to keep the load under one half for COUNT entries. */
static void slots_rehash(size_t **slots, size_t *n_slots, size_t count, const void *arr,
                         name_at_fn at)
{
	if (count * 2 < *n_slots)
		return;
	size_t n = *n_slots ? *n_slots * 2 : 64;
	while (count * 2 >= n)
		n *= 2;
	free(*slots);
	*slots = pol_xcalloc(n, sizeof(size_t));
	*n_slots = n;
	for (size_t i = 0; i < count; i++)
		slot_insert(*slots, n, at(arr, i), i);
}

/* -------------------------------------------------------------- actions */

/* ODRL 2.2 Common Vocabulary actions and their odrl:includedIn parent. */
static const struct {
	const char *name, *parent;
} builtin_actions[] = {
	{ "use", NULL },           { "transfer", NULL },        { "acceptTracking", "use" },
	{ "aggregate", "use" },    { "annotate", "use" },       { "anonymize", "use" },
	{ "archive", "use" },      { "attribute", "use" },      { "compensate", "use" },
	{ "concurrentUse", "use" }, { "delete", "use" },        { "derive", "use" },
	{ "digitize", "use" },     { "display", "use" },        { "distribute", "use" },
	{ "ensureExclusivity", "use" }, { "execute", "use" },   { "grantUse", "use" },
	{ "include", "use" },      { "index", "use" },          { "inform", "use" },
	{ "install", "use" },      { "modify", "use" },         { "move", "use" },
	{ "nextPolicy", "use" },   { "obtainConsent", "use" },  { "play", "use" },
	{ "present", "use" },      { "print", "use" },          { "read", "use" },
	{ "reproduce", "use" },    { "reviewPolicy", "use" },   { "stream", "use" },
	{ "synchronize", "use" },  { "textToSpeech", "use" },   { "transform", "use" },
	{ "translate", "use" },    { "uninstall", "use" },      { "watermark", "use" },
	{ "extract", "reproduce" }, { "give", "transfer" },     { "sell", "transfer" },
};

int pol_action_id(const struct agora_policy_config *cfg, const char *name)
{
	name = pol_strip_odrl(name);
	size_t s = slot_find(cfg->aslots, cfg->n_aslots, cfg->actions, action_name_at, name);
	return s ? (int)(s - 1) : -1;
}

bool pol_action_in(const struct agora_policy_config *cfg, int a, int b)
{
	for (int i = 0; a >= 0 && i < POL_MAX_ACTIONS; i++) {
		if (a == b)
			return true;
		a = cfg->actions[a].parent;
	}
	return false;
}

bool agora_policy_action_included(const struct agora_policy_config *cfg, const char *a,
                                  const char *b)
{
	struct agora_policy_config *tmp = cfg ? NULL : agora_policy_config_new();
	const struct agora_policy_config *c = cfg ? cfg : tmp;
	int ia = pol_action_id(c, a), ib = pol_action_id(c, b);
	bool r = ia >= 0 && ib >= 0 && pol_action_in(c, ia, ib);
	agora_policy_config_free(tmp);
	return r;
}

int agora_policy_config_add_action(struct agora_policy_config *cfg, const char *name,
                                   const char *parent)
{
	if (!name || !*name || strlen(name) > AGORA_POLICY_MAX_STRING ||
	    cfg->n_actions >= POL_MAX_ACTIONS || pol_action_id(cfg, name) >= 0)
		return -1;
	int pid = -1;
	if (parent && (pid = pol_action_id(cfg, parent)) < 0)
		return -1;
	if (cfg->n_actions == cfg->cap_actions) {
		cfg->cap_actions = cfg->cap_actions ? cfg->cap_actions * 2 : 64;
		cfg->actions = pol_xrealloc(cfg->actions, cfg->cap_actions * sizeof(*cfg->actions));
	}
	cfg->actions[cfg->n_actions].name = pol_xstrdup(pol_strip_odrl(name));
	cfg->actions[cfg->n_actions].parent = pid;
	cfg->n_actions++;
	size_t before = cfg->n_aslots;
	slots_rehash(&cfg->aslots, &cfg->n_aslots, cfg->n_actions, cfg->actions, action_name_at);
	if (before == cfg->n_aslots)
		slot_insert(cfg->aslots, cfg->n_aslots, cfg->actions[cfg->n_actions - 1].name,
		            cfg->n_actions - 1);
	return 0;
}

/* ------------------------------------------------------------- concepts */

static struct pol_scheme *scheme_get(const struct agora_policy_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_schemes; i++)
		if (strcmp(cfg->schemes[i].name, name) == 0)
			return &cfg->schemes[i];
	return NULL;
}

static long concept_find(const struct pol_scheme *s, const char *name)
{
	size_t k = slot_find(s->slots, s->n_slots, s->nodes, concept_name_at, name);
	return k ? (long)(k - 1) : -1;
}

static size_t concept_add(struct pol_scheme *s, const char *name)
{
	long f = concept_find(s, name);
	if (f >= 0)
		return (size_t)f;
	if (s->n_nodes == s->cap_nodes) {
		s->cap_nodes = s->cap_nodes ? s->cap_nodes * 2 : 32;
		s->nodes = pol_xrealloc(s->nodes, s->cap_nodes * sizeof(*s->nodes));
	}
	struct pol_concept *c = &s->nodes[s->n_nodes];
	c->name = pol_xstrdup(name);
	c->parents = NULL;
	c->n_parents = 0;
	s->n_nodes++;
	size_t before = s->n_slots;
	slots_rehash(&s->slots, &s->n_slots, s->n_nodes, s->nodes, concept_name_at);
	if (before == s->n_slots)
		slot_insert(s->slots, s->n_slots, c->name, s->n_nodes - 1);
	return s->n_nodes - 1;
}

/* ISO 3166-2 subdivision ("FR-69") → its country ("FR"), else 0. */
static int iso_subdivision_parent(const char *a, char out[3])
{
	if (!(a[0] >= 'A' && a[0] <= 'Z' && a[1] >= 'A' && a[1] <= 'Z' && a[2] == '-'))
		return 0;
	size_t n = strlen(a + 3);
	if (n < 1 || n > 3)
		return 0;
	for (size_t i = 3; a[i]; i++)
		if (!((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9')))
			return 0;
	out[0] = a[0];
	out[1] = a[1];
	out[2] = 0;
	return 1;
}

/* Depth-first search upward from node A for node B; the hierarchy is acyclic
 * (enforced when edges are added) so the walk terminates.  The explicit
 * stack is bounded by the number of edges. */
static bool node_within(const struct pol_scheme *s, size_t a, size_t b)
{
	size_t stack_small[64];
	size_t *stack = stack_small, cap = 64, n = 0;
	bool found = false;
	stack[n++] = a;
	while (n && !found) {
		size_t x = stack[--n];
		if (x == b) {
			found = true;
			break;
		}
		const struct pol_concept *c = &s->nodes[x];
		for (size_t i = 0; i < c->n_parents; i++) {
			if (n == cap) {
				size_t *ns = pol_xmalloc(cap * 2 * sizeof(size_t));
				memcpy(ns, stack, n * sizeof(size_t));
				if (stack != stack_small)
					free(stack);
				stack = ns;
				cap *= 2;
			}
			stack[n++] = c->parents[i];
		}
	}
	if (stack != stack_small)
		free(stack);
	return found;
}

static const char *strip_blank(const char *s)
{
	return strncmp(s, "_:", 2) == 0 ? s + 2 : s;
}

/* Spatial walk: like node_within, but a subdivision code without declared
 * parents ("FR-69") is part of its country.  Depth-capped recursion. */
static bool spatial_within(const struct pol_scheme *s, const char *a, const char *b, int depth)
{
	if (strcmp(a, b) == 0)
		return true;
	if (depth > 64)
		return false;
	long ia = s ? concept_find(s, a) : -1;
	if (ia >= 0 && s->nodes[ia].n_parents) {
		for (size_t i = 0; i < s->nodes[ia].n_parents; i++)
			if (spatial_within(s, s->nodes[s->nodes[ia].parents[i]].name, b, depth + 1))
				return true;
		return false;
	}
	char cc[3];
	return iso_subdivision_parent(a, cc) && spatial_within(s, cc, b, depth + 1);
}

bool pol_concept_within(const struct agora_policy_config *cfg, const char *scheme,
                        const char *a, const char *b)
{
	a = strip_blank(a);
	b = strip_blank(b);
	if (strcmp(a, b) == 0)
		return true;
	if (!scheme)
		return false;
	const struct pol_scheme *s = scheme_get(cfg, scheme);
	if (strcmp(scheme, "spatial") == 0)
		return spatial_within(s, a, b, 0);
	long ib = s ? concept_find(s, b) : -1;
	long ia = s ? concept_find(s, a) : -1;
	return ia >= 0 && ib >= 0 && node_within(s, (size_t)ia, (size_t)ib);
}

bool agora_policy_concept_within(const struct agora_policy_config *cfg, const char *scheme,
                                 const char *a, const char *b)
{
	struct agora_policy_config *tmp = cfg ? NULL : agora_policy_config_new();
	bool r = a && b && pol_concept_within(cfg ? cfg : tmp, scheme, a, b);
	agora_policy_config_free(tmp);
	return r;
}

int agora_policy_config_add_concept(struct agora_policy_config *cfg, const char *scheme,
                                    const char *child, const char *parent)
{
	if (!scheme || !child || !parent || !*scheme || !*child || !*parent ||
	    strlen(scheme) > AGORA_POLICY_MAX_STRING || strlen(child) > AGORA_POLICY_MAX_STRING ||
	    strlen(parent) > AGORA_POLICY_MAX_STRING)
		return -1;
	child = strip_blank(child);
	parent = strip_blank(parent);
	if (strcmp(child, parent) == 0)
		return -1; /* a cycle of length one */
	struct pol_scheme *s = scheme_get(cfg, scheme);
	if (!s) {
		if (cfg->n_schemes >= POL_MAX_SCHEMES)
			return -1;
		cfg->schemes = pol_xrealloc(cfg->schemes, (cfg->n_schemes + 1) * sizeof(*s));
		s = &cfg->schemes[cfg->n_schemes++];
		memset(s, 0, sizeof(*s));
		s->name = pol_xstrdup(scheme);
	}
	if (s->n_nodes + 2 > POL_MAX_CONCEPTS)
		return -1;
	long ic = concept_find(s, child), ip = concept_find(s, parent);
	/* the edge child -> parent closes a cycle iff child is already above parent */
	if (ic >= 0 && ip >= 0 && node_within(s, (size_t)ip, (size_t)ic))
		return -1;
	size_t c = concept_add(s, child);
	size_t p = concept_add(s, parent);
	struct pol_concept *n = &s->nodes[c];
	for (size_t i = 0; i < n->n_parents; i++)
		if (n->parents[i] == p)
			return 0;
	n->parents = pol_xrealloc(n->parents, (n->n_parents + 1) * sizeof(size_t));
	n->parents[n->n_parents++] = p;
	return 0;
}

static const char *const eu_members[] = {
	"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
	"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", NULL,
};

static void config_init(struct agora_policy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < sizeof(builtin_actions) / sizeof(builtin_actions[0]); i++)
		agora_policy_config_add_action(cfg, builtin_actions[i].name, builtin_actions[i].parent);
	for (size_t i = 0; eu_members[i]; i++)
		agora_policy_config_add_concept(cfg, "spatial", eu_members[i], "EU");
}

struct agora_policy_config *agora_policy_config_new(void)
{
	struct agora_policy_config *cfg = pol_xmalloc(sizeof(*cfg));
	config_init(cfg);
	return cfg;
}

void agora_policy_config_free(struct agora_policy_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_actions; i++)
		free(cfg->actions[i].name);
	free(cfg->actions);
	free(cfg->aslots);
	for (size_t i = 0; i < cfg->n_schemes; i++) {
		struct pol_scheme *s = &cfg->schemes[i];
		for (size_t j = 0; j < s->n_nodes; j++) {
			free(s->nodes[j].name);
			free(s->nodes[j].parents);
		}
		free(s->nodes);
		free(s->slots);
		free(s->name);
	}
	free(cfg->schemes);
	free(cfg);
}

int agora_policy_config_load_json(struct agora_policy_config *cfg, const json_t *j,
                                  struct agora_policy_problems *problems)
{
	size_t before = agora_policy_problems_count(problems);
	int bad = 0;
	if (!json_is_object(j)) {
		pol_problem(problems, "$", "wrong_type", "configuration must be a JSON object");
		return -1;
	}
	const json_t *actions = json_object_get(j, "actions");
	const json_t *concepts = json_object_get(j, "concepts");
	const char *k, *k2;
	json_t *v, *v2;
	if (actions && !json_is_object(actions)) {
		pol_problem(problems, "actions", "wrong_type", "actions must be an object");
		bad = 1;
	} else if (actions) {
		/* parents may be declared after children: retry until no progress */
		size_t pending = json_object_size(actions), last = (size_t)-1;
		while (pending && pending != last) {
			last = pending;
			pending = 0;
			json_object_foreach((json_t *)actions, k, v) {
				if (pol_action_id(cfg, k) >= 0)
					continue;
				const char *par = json_is_string(v) ? json_string_value(v) : NULL;
				if (!json_is_null(v) && !par) {
					continue;
				}
				if (agora_policy_config_add_action(cfg, k, par) != 0)
					pending++;
			}
		}
		json_object_foreach((json_t *)actions, k, v) {
			if (pol_action_id(cfg, k) < 0) {
				pol_problem(problems, "actions", "bad_action",
				            "action \"%.100s\" could not be added (unknown parent or wrong type)", k);
				bad = 1;
			}
		}
	}
	if (concepts && !json_is_object(concepts)) {
		pol_problem(problems, "concepts", "wrong_type", "concepts must be an object");
		bad = 1;
	} else if (concepts) {
		json_object_foreach((json_t *)concepts, k, v) {
			if (!json_is_object(v)) {
				pol_problem(problems, "concepts", "wrong_type",
				            "concepts.%.100s must be an object of child: parent", k);
				bad = 1;
				continue;
			}
			json_object_foreach(v, k2, v2) {
				json_t *one[1] = { v2 };
				size_t n = json_is_array(v2) ? json_array_size(v2) : 1;
				for (size_t i = 0; i < n; i++) {
					json_t *e = json_is_array(v2) ? json_array_get(v2, i) : one[0];
					if (!json_is_string(e)) {
						pol_problem(problems, "concepts", "wrong_type",
						            "parent of %.100s must be a string", k2);
						bad = 1;
					} else if (agora_policy_config_add_concept(cfg, k, k2,
					                                           json_string_value(e))) {
						pol_problem(problems, "concepts", "concept_cycle",
						            "%.100s -> %.100s in %.100s would create a cycle or "
						            "exceed limits",
						            k2, json_string_value(e), k);
						bad = 1;
					}
				}
			}
		}
	}
	return bad || agora_policy_problems_count(problems) != before ? -1 : 0;
}
