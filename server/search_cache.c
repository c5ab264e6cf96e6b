/* search_cache.c — see search_cache.h. */
#include "search_cache.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024
#define MAX_BODY (256 * 1024)

struct slot {
	char *key;		/* caller '\x1f' query */
	long long gen;
	uint64_t expires_ns;
	char *body;
};

static struct slot slots[SLOTS];
static unsigned ttl = SEARCH_CACHE_TTL;

void
search_cache_set_ttl(unsigned seconds)
{
	ttl = seconds;
}
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static char *
make_key(const char *caller, const char *query)
{
	return xasprintf("%s\x1f%s", caller ? caller : "", query ? query : "");
}

static struct slot *
slot_of(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return &slots[h % SLOTS];
}

char *
search_cache_get(const char *caller, const char *query, long long gen)
{
	if (!ttl)
		return NULL;
	char *key = make_key(caller, query);
	struct slot *s = slot_of(key);
	char *body = NULL;
	pthread_mutex_lock(&lock);
	if (s->key && s->gen == gen && agora_mono_ns() < s->expires_ns && !strcmp(s->key, key))
		body = xstrdup(s->body);
	pthread_mutex_unlock(&lock);
	free(key);
	return body;
}

void
search_cache_put(const char *caller, const char *query, long long gen, const char *body)
{
	if (!ttl || strlen(body) > MAX_BODY)
		return;
	char *key = make_key(caller, query);
	char *copy = xstrdup(body);
	struct slot *s = slot_of(key);
	pthread_mutex_lock(&lock);
	char *old_key = s->key, *old_body = s->body;
	s->key = key;
	s->body = copy;
	s->gen = gen;
	s->expires_ns = agora_mono_ns() + (uint64_t)ttl * 1000000000u;
	pthread_mutex_unlock(&lock);
	free(old_key);
	free(old_body);
}
