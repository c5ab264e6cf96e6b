/* api.c (cli) — JSON calls to the user's connector, error reporting by
 * exit status, and the output helpers the commands share (see cli.h). */
#include "cli.h"
#include "httpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ANSWER ((size_t)64 << 20)

int
cli_report_http_error(long status, const char *body, size_t len)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *sym = json_string_value(json_object_get(j, "error"));
	const char *detail = json_string_value(json_object_get(j, "detail"));
	json_t *code = json_object_get(j, "code");
	const char *who = status >= 500 ? "the connector failed" : "the connector refused";
	if (sym) {
		fprintf(stderr, "agora: %s: %s (HTTP %ld", who, sym, status);
		if (json_is_integer(code))
			fprintf(stderr, ", code %lld", (long long)json_integer_value(code));
		fprintf(stderr, ")%s%s\n", detail ? ": " : "", detail ? detail : "");
		/* Problems listed by the API (e.g. invalid_policy) one per line. */
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(j, "problems"), i, p) {
			char *s = json_is_string(p) ? xstrdup(json_string_value(p))
						    : json_dumps(p, JSON_COMPACT);
			fprintf(stderr, "  - %s\n", s ? s : "?");
			free(s);
		}
	} else {
		fprintf(stderr, "agora: %s: HTTP %ld%s%.*s\n", who, status, len ? ": " : "",
			(int)(len > 300 ? 300 : len), body ? body : "");
	}
	json_decref(j);
	return status >= 500 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_REFUSED;
}

int
cli_call(const struct cli_conn *c, const char *method, const char *path, const json_t *body,
	 json_t **out)
{
	*out = NULL;
	char *url = xasprintf("%s%s", c->base, path);
	char *auth = xasprintf("Authorization: Bearer %s", c->key);
	const char *hdrs[] = { auth, "Accept: application/json",
			       body ? "Content-Type: application/json" : NULL, NULL };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct agora_httpc_req req = {
		.method = method, .url = url, .headers = hdrs, .body = text,
		.body_len = text ? strlen(text) : 0, .timeout_ms = 60000, .max_response = MAX_ANSWER,
	};
	struct agora_httpc_resp resp;
	int rc;
	if (!agora_httpc_request(&req, &resp)) {
		fprintf(stderr, "agora: cannot reach the connector at %s: %s\n", c->base, resp.err);
		rc = CLI_EXIT_UNREACHABLE;
	} else if (resp.status < 200 || resp.status > 299) {
		rc = cli_report_http_error(resp.status, resp.body, resp.body_len);
	} else if (resp.body_len == 0) {
		*out = json_null();
		rc = CLI_EXIT_OK;
	} else if (!(*out = agora_httpc_json(&resp))) {
		fprintf(stderr, "agora: %s %s: the connector's answer is not JSON\n", method, path);
		rc = CLI_EXIT_UNREACHABLE;
	} else {
		rc = CLI_EXIT_OK;
	}
	agora_httpc_resp_cleanup(&resp);
	free(text);
	/* The key is not left in freed memory. */
	memset(auth, 0, strlen(auth));
	free(auth);
	free(url);
	return rc;
}

void
cli_query_add(struct agora_buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	agora_buf_puts(b, memchr(b->data ? b->data : "", '?', b->len) ? "&" : "?");
	agora_buf_puts(b, name);
	agora_buf_puts(b, "=");
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p)) {
			agora_buf_append(b, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			agora_buf_append(b, e, 3);
		}
	}
}

void
cli_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (s)
		printf("%s\n", s);
	free(s);
}

int
cli_list_all(const struct cli_conn *c, const char *path, long page, json_t **out)
{
	json_t *all = json_array();
	char *cursor = NULL;
	int rc = CLI_EXIT_OK;
	/* A bound so that a misbehaving server cannot keep us here. */
	for (int n = 0; n < 10000; n++) {
		struct agora_buf b;
		agora_buf_init(&b);
		agora_buf_puts(&b, path);
		char lim[24];
		snprintf(lim, sizeof lim, "%ld", page);
		cli_query_add(&b, "limit", lim);
		if (cursor)
			cli_query_add(&b, "cursor", cursor);
		char *p = agora_buf_steal(&b);
		json_t *j = NULL;
		rc = cli_call(c, "GET", p, NULL, &j);
		free(p);
		free(cursor);
		cursor = NULL;
		if (rc != CLI_EXIT_OK)
			break;
		json_array_extend(all, json_object_get(j, "results"));
		const char *next = json_string_value(json_object_get(j, "next"));
		if (next && *next)
			cursor = xstrdup(next);
		json_decref(j);
		if (!cursor)
			break;
	}
	free(cursor);
	if (rc != CLI_EXIT_OK) {
		json_decref(all);
		*out = NULL;
		return rc;
	}
	*out = json_pack("{s:o, s:n}", "results", all, "next");
	return rc;
}

const char *
cli_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : "-";
}

void
cli_table(const json_t *rows)
{
	size_t width[16] = { 0 };
	size_t i, k;
	json_t *row, *cell;
	json_array_foreach(rows, i, row) {
		json_array_foreach(row, k, cell) {
			if (k < ARRAY_LEN(width) && json_string_length(cell) > width[k])
				width[k] = json_string_length(cell);
		}
	}
	json_array_foreach(rows, i, row) {
		size_t n = json_array_size(row);
		json_array_foreach(row, k, cell) {
			const char *s = json_string_value(cell);
			if (k + 1 == n || k >= ARRAY_LEN(width))
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)width[k], s ? s : "");
		}
	}
}

void
cli_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
