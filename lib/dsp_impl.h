/* dsp_impl.h — the message-building and member-checking helpers shared by
 * lib/dsp.c (negotiation) and lib/dsp_transfer.c (transfer).  Internal to
 * lib/: not for the broker or the connectors. */
#ifndef AGORA_DSP_IMPL_H
#define AGORA_DSP_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A fresh message object with "@context": [AGORA_DSP_CONTEXT] and @type. */
json_t *dsp_msg_new(const char *type);
/* Set key to the string v: false when v is NULL or not UTF-8. */
bool dsp_set_str(json_t *obj, const char *key, const char *v);
/* Set key to v when v is not NULL: false only for invalid UTF-8. */
bool dsp_set_opt_str(json_t *obj, const char *key, const char *v);
/* "code" (optional) and "reason" (omitted when n is 0). */
bool dsp_set_code_reason(json_t *obj, const char *code, const char *const reason[], size_t n);
/* m, or NULL after freeing it when ok is false. */
json_t *dsp_finish(json_t *m, bool ok);

/* Where check failures are reported. */
struct dsp_ctx {
	char *err;
	size_t errlen;
};

void dsp_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define FAIL(c, ...)                                             \
	do {                                                     \
		dsp_set_err((c)->err, (c)->errlen, __VA_ARGS__); \
		return false;                                    \
	} while (0)

/* A string member: present when required, a non-empty string of at most max
 * bytes without control characters; *out borrows it (NULL when absent). */
bool dsp_get_str(struct dsp_ctx *c, const json_t *obj, const char *where, const char *key,
		 bool required, size_t max, const char **out);
/* An http(s) URL with a host and no spaces. */
bool dsp_is_http_url(const char *s);
/* @context is an array of strings holding AGORA_DSP_CONTEXT. */
bool dsp_check_context(struct dsp_ctx *c, const json_t *msg);
/* Optional "code" (string) and "reason" (non-empty array). */
bool dsp_check_code_reason(struct dsp_ctx *c, const json_t *msg, const char **code,
			   const json_t **reason);

#endif
