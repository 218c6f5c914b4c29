/* Per-client token buckets: see ratelimit.h. Tokens are kept in thousandths so that refill is exact
 * integer arithmetic (rate tokens/s == rate thousandths per ms). */
#include <stdlib.h>
#include <uthash.h>
#include <utlist.h>

#include "core/ratelimit.h"

struct bucket {
	const void *key;
	int64_t milli;         /* tokens * 1000 */
	int64_t last_ms;       /* last refill */
	int64_t last_notice_ms;
	bool noticed;          /* a notice was ever given */
	uint64_t dropped;      /* since the last notice */
	UT_hash_handle hh;
	struct bucket *prev, *next; /* least recently used first */
};

struct fc_rl {
	unsigned rate, burst;
	size_t max;
	size_t n;
	struct bucket *by_key;
	struct bucket *lru;
};

struct fc_rl *fc_rl_new(unsigned rate, unsigned burst, size_t max_clients)
{
	struct fc_rl *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	rl->rate = rate;
	rl->burst = burst ? burst : 1;
	rl->max = max_clients ? max_clients : 1;
	return rl;
}

void fc_rl_free(struct fc_rl *rl)
{
	if (!rl)
		return;
	struct bucket *b, *tmp;
	HASH_ITER(hh, rl->by_key, b, tmp)
	{
		HASH_DEL(rl->by_key, b);
		free(b);
	}
	free(rl);
}

bool fc_rl_enabled(const struct fc_rl *rl) { return rl && rl->rate > 0; }

size_t fc_rl_count(const struct fc_rl *rl) { return rl ? rl->n : 0; }

static void reset(struct fc_rl *rl, struct bucket *b, const void *key, int64_t now_ms)
{
	b->key = key;
	b->milli = (int64_t)rl->burst * 1000;
	b->last_ms = now_ms;
	b->last_notice_ms = 0;
	b->noticed = false;
	b->dropped = 0;
}

static struct bucket *lookup(struct fc_rl *rl, const void *key, int64_t now_ms)
{
	struct bucket *b = NULL;
	HASH_FIND_PTR(rl->by_key, &key, b);
	if (b) {
		DL_DELETE(rl->lru, b);
		DL_APPEND(rl->lru, b);
		return b;
	}
	if (rl->n >= rl->max) {
		b = rl->lru; /* reuse the least recently used bucket */
		DL_DELETE(rl->lru, b);
		HASH_DEL(rl->by_key, b);
		rl->n--;
	} else {
		b = malloc(sizeof *b);
		if (!b)
			return NULL;
	}
	reset(rl, b, key, now_ms);
	HASH_ADD_PTR(rl->by_key, key, b);
	DL_APPEND(rl->lru, b);
	rl->n++;
	return b;
}

struct fc_rl_verdict fc_rl_take(struct fc_rl *rl, const void *key, int64_t now_ms)
{
	struct fc_rl_verdict v = {.allowed = true};
	if (!fc_rl_enabled(rl))
		return v;
	struct bucket *b = lookup(rl, key, now_ms);
	if (!b)
		return v; /* out of memory: never refuse a command for our own failure */
	int64_t cap = (int64_t)rl->burst * 1000;
	if (now_ms > b->last_ms) {
		int64_t add = (now_ms - b->last_ms) * (int64_t)rl->rate;
		b->milli = add >= cap - b->milli ? cap : b->milli + add;
		b->last_ms = now_ms;
	}
	if (b->milli >= 1000) {
		b->milli -= 1000;
		return v;
	}
	v.allowed = false;
	b->dropped++;
	if (!b->noticed || now_ms - b->last_notice_ms >= FC_RL_NOTICE_MS) {
		v.notice = true;
		v.dropped = b->dropped;
		b->dropped = 0;
		b->noticed = true;
		b->last_notice_ms = now_ms;
	}
	return v;
}

void fc_rl_forget(struct fc_rl *rl, const void *key)
{
	if (!rl)
		return;
	struct bucket *b = NULL;
	HASH_FIND_PTR(rl->by_key, &key, b);
	if (!b)
		return;
	HASH_DEL(rl->by_key, b);
	DL_DELETE(rl->lru, b);
	rl->n--;
	free(b);
}
