/* test_ledger_frontier.c — the incremental tree behind ledger_head: the
 * root kept from O(log n) perfect-subtree roots equals RFC 6962's MTH
 * recomputed from all leaves, for every size up to 520. */
#include "../../server/ledger.h"
#include "merkle.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define N 520

Test(ledger_frontier, root_matches_full_recomputation)
{
	static uint8_t leaves[N][32];
	uint8_t f[64][32];
	size_t k = 0;
	uint8_t a[32], b[32];
	ledger_frontier_root((const uint8_t(*)[32])f, 0, a);
	agora_merkle_root(NULL, 0, b);
	cr_assert(memcmp(a, b, 32) == 0, "empty tree");
	for (size_t n = 0; n < N; n++) {
		char e[32];
		int len = snprintf(e, sizeof e, "entry %zu", n);
		agora_merkle_leaf_hash(e, (size_t)len, leaves[n]);
		k = ledger_frontier_append(f, n, leaves[n]);
		cr_assert_eq(k, (size_t)__builtin_popcountll(n + 1), "frontier size at %zu", n + 1);
		ledger_frontier_root((const uint8_t(*)[32])f, k, a);
		agora_merkle_root((const uint8_t(*)[32])leaves, n + 1, b);
		cr_assert(memcmp(a, b, 32) == 0, "root of %zu leaves", n + 1);
	}
}

Test(ledger_frontier, a_different_leaf_changes_the_root)
{
	uint8_t f[64][32], g[64][32], l[32], m[32], a[32], b[32];
	agora_merkle_leaf_hash("x", 1, l);
	agora_merkle_leaf_hash("y", 1, m);
	size_t k = 0, j = 0;
	for (uint64_t n = 0; n < 6; n++) {
		k = ledger_frontier_append(f, n, l);
		j = ledger_frontier_append(g, n, n == 2 ? m : l);
	}
	ledger_frontier_root((const uint8_t(*)[32])f, k, a);
	ledger_frontier_root((const uint8_t(*)[32])g, j, b);
	cr_assert(memcmp(a, b, 32) != 0);
}
