/* search_cache.h — recent catalog search answers, reused while nothing they
 * depend on has changed.
 *
 * An answer is keyed by the caller and the raw query string, and tagged
 * with the catalog generation it was computed at (db_catalog_generation);
 * it is used only at that same generation and for at most the TTL
 * (default SEARCH_CACHE_TTL seconds: time-dependent access policies).  Fixed size,
 * thread-safe, no eviction work on the request path beyond one slot.
 */
#ifndef AGORA_SEARCH_CACHE_H
#define AGORA_SEARCH_CACHE_H

#define SEARCH_CACHE_TTL 10

/* Seconds an answer may be reused (--search-cache-ttl); 0 turns the cache
 * off.  Set once at start-up. */
void search_cache_set_ttl(unsigned seconds);

/* The cached body for (caller, query) at generation gen, as a heap copy,
 * or NULL. caller may be NULL (anonymous). */
char *search_cache_get(const char *caller, const char *query, long long gen);
/* Remember body (copied) for (caller, query) at generation gen. */
void search_cache_put(const char *caller, const char *query, long long gen, const char *body);

#endif
