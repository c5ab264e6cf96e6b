/* yamljson.c — see yamljson.h.  A recursive descent over libyaml's events. */
#include "yamljson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 64

struct yj {
	yaml_parser_t parser;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct yj *p, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are consequences. */
static void
fail(struct yj *p, const yaml_mark_t *m, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = 1;
	if (!p->err || !p->errlen)
		return;
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "line %zu, column %zu: %s", m->line + 1, m->column + 1, msg);
}

/* The next event into ev; 0 (and the error recorded) when the text is not
 * YAML. */
static int
next(struct yj *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(&p->parser, ev))
		return 1;
	fail(p, &p->parser.problem_mark, "%s", p->parser.problem ? p->parser.problem : "not YAML");
	return 0;
}

static int
matches_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	return strspn(s, "0123456789") == strlen(s);
}

static int
matches_float(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	size_t whole = strspn(s, "0123456789");
	s += whole;
	size_t frac = 0;
	if (*s == '.') {
		s++;
		frac = strspn(s, "0123456789");
		s += frac;
	} else if (*s != 'e' && *s != 'E') {
		return 0;
	}
	if (!whole && !frac)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		size_t ex = strspn(s, "0123456789");
		if (!ex)
			return 0;
		s += ex;
	}
	return *s == '\0';
}

/* A plain scalar resolved by the core schema (see yamljson.h). */
static json_t *
plain_scalar(struct yj *p, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (strlen(s) == n && matches_int(s)) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno != ERANGE)
			return json_integer(v);
		/* Too large for an integer: a real, as JSON parsers do. */
	}
	if (strlen(s) == n && (matches_int(s) || matches_float(s)))
		return json_real(strtod(s, NULL));
	const char *t = (*s == '-' || *s == '+') ? s + 1 : s;
	if (!strcasecmp(t, ".inf") || !strcasecmp(s, ".nan")) {
		fail(p, &ev->start_mark, "%s is not representable in JSON", s);
		return NULL;
	}
	return json_stringn(s, n);
}

static json_t *node(struct yj *p, yaml_event_t *ev, int depth);

static json_t *
scalar(struct yj *p, yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	json_t *v;
	if (tag && strcmp(tag, YAML_STR_TAG)) {
		fail(p, &ev->start_mark, "tag %s is not supported", tag);
		return NULL;
	}
	if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		v = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
	else
		v = plain_scalar(p, ev);
	if (!v && !p->failed)
		fail(p, &ev->start_mark, "a string that is not UTF-8");
	return v;
}

static json_t *
sequence(struct yj *p, int depth)
{
	json_t *arr = json_array();
	for (;;) {
		yaml_event_t ev;
		if (!next(p, &ev))
			goto err;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		json_t *item = node(p, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!item)
			goto err;
		json_array_append_new(arr, item);
	}
err:
	json_decref(arr);
	return NULL;
}

static json_t *
mapping(struct yj *p, int depth)
{
	json_t *obj = json_object();
	for (;;) {
		yaml_event_t ev;
		if (!next(p, &ev))
			goto err;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return obj;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			fail(p, &ev.start_mark, "a mapping key must be a scalar");
			yaml_event_delete(&ev);
			goto err;
		}
		if (ev.data.scalar.anchor) {
			fail(p, &ev.start_mark, "anchors are not supported");
			yaml_event_delete(&ev);
			goto err;
		}
		if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp((char *)ev.data.scalar.value, "<<")) {
			fail(p, &ev.start_mark, "merge keys (<<) are not supported");
			yaml_event_delete(&ev);
			goto err;
		}
		if (strlen((char *)ev.data.scalar.value) != ev.data.scalar.length) {
			fail(p, &ev.start_mark, "a mapping key holds a NUL character");
			yaml_event_delete(&ev);
			goto err;
		}
		char *key = strdup((char *)ev.data.scalar.value);
		yaml_mark_t at = ev.start_mark;
		yaml_event_delete(&ev);
		if (!key)
			abort();
		if (json_object_get(obj, key)) {
			fail(p, &at, "duplicate key \"%.100s\"", key);
			free(key);
			goto err;
		}
		if (!next(p, &ev)) {
			free(key);
			goto err;
		}
		json_t *val = node(p, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!val || json_object_set_new(obj, key, val)) {
			if (!p->failed)
				fail(p, &at, "key \"%.100s\" is not UTF-8", key);
			free(key);
			goto err;
		}
		free(key);
	}
err:
	json_decref(obj);
	return NULL;
}

/* The node that starts with ev (which the caller deletes). */
static json_t *
node(struct yj *p, yaml_event_t *ev, int depth)
{
	if (depth > MAX_DEPTH) {
		fail(p, &ev->start_mark, "nested deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		fail(p, &ev->start_mark, "aliases (*%s) are not supported", (char *)ev->data.alias.anchor);
		return NULL;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor) {
			fail(p, &ev->start_mark, "anchors are not supported");
			return NULL;
		}
		return scalar(p, ev);
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor || ev->data.sequence_start.tag) {
			fail(p, &ev->start_mark, "anchors and tags are not supported");
			return NULL;
		}
		return sequence(p, depth);
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor || ev->data.mapping_start.tag) {
			fail(p, &ev->start_mark, "anchors and tags are not supported");
			return NULL;
		}
		return mapping(p, depth);
	default:
		fail(p, &ev->start_mark, "unexpected YAML event");
		return NULL;
	}
}

json_t *
agora_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
	struct yj p = { .err = err, .errlen = errlen };
	json_t *doc = NULL;
	yaml_event_t ev;
	if (err && errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&p.parser))
		abort();
	yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
	if (!next(&p, &ev))
		goto out;
	yaml_event_delete(&ev);			/* STREAM-START */
	if (!next(&p, &ev))
		goto out;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		fail(&p, &ev.start_mark, "no YAML document");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	if (!next(&p, &ev))
		goto out;
	doc = node(&p, &ev, 0);
	yaml_event_delete(&ev);
	if (!doc || !next(&p, &ev))
		goto fail_doc;
	yaml_event_delete(&ev);			/* DOCUMENT-END */
	if (!next(&p, &ev))
		goto fail_doc;
	if (ev.type != YAML_STREAM_END_EVENT) {
		fail(&p, &ev.start_mark, "more than one YAML document");
		yaml_event_delete(&ev);
		goto fail_doc;
	}
	yaml_event_delete(&ev);
	goto out;
fail_doc:
	json_decref(doc);
	doc = NULL;
out:
	yaml_parser_delete(&p.parser);
	return doc;
}
