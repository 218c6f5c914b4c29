/* Token buckets for plain-topic commands: burst, refill, per-client independence, drop notices,
 * the bounded table and "off". */
#include "core/ratelimit.h"
#include "unit/t.h"

static int take_n(struct fc_rl *rl, const void *key, int n, int64_t now, int *notices, uint64_t *reported)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		struct fc_rl_verdict v = fc_rl_take(rl, key, now);
		ok += v.allowed;
		if (v.notice) {
			if (notices)
				(*notices)++;
			if (reported)
				*reported += v.dropped;
		}
	}
	return ok;
}

int main(void)
{
	int a, b; /* two clients: only their addresses matter */
	struct fc_rl *rl = fc_rl_new(10, 20, 100);
	CHECK(rl != NULL);
	CHECK(fc_rl_enabled(rl));

	/* a full bucket of 20, then nothing until time passes */
	int notices = 0;
	uint64_t reported = 0;
	CHECK_INT(take_n(rl, &a, 25, 1000, &notices, &reported), 20);
	CHECK_INT(notices, 1); /* the first drop is announced at once... */
	CHECK_INT(reported, 1);
	/* ...the following drops are counted for the next notice */
	CHECK_INT(take_n(rl, &a, 5, 1000, &notices, &reported), 0);
	CHECK_INT(notices, 1);

	/* the other client is not affected */
	CHECK_INT(take_n(rl, &b, 20, 1000, NULL, NULL), 20);

	/* refill: 10 per second, exactly (no rounding loss over many small steps) */
	CHECK_INT(take_n(rl, &a, 1, 1099, NULL, NULL), 0); /* 0.99 tokens */
	CHECK_INT(take_n(rl, &a, 1, 1100, NULL, NULL), 1); /* 1.0 */
	int got = 0;
	for (int64_t t = 1101; t <= 2100; t++)
		got += take_n(rl, &a, 1, t, NULL, NULL);
	CHECK_INT(got, 10); /* one second at 10/s */
	/* never above the burst after a long quiet spell */
	CHECK_INT(take_n(rl, &a, 100, 1000000, NULL, NULL), 20);

	/* notices: at most one per FC_RL_NOTICE_MS while the flood goes on, carrying the count since the last */
	notices = 0;
	reported = 0;
	int64_t t0 = 2000000;
	CHECK_INT(take_n(rl, &b, 1000, t0, NULL, NULL), 20); /* 980 dropped: the first one noticed */
	CHECK_INT(take_n(rl, &b, 50, t0 + FC_RL_NOTICE_MS - 1, &notices, &reported), 20);
	CHECK_INT(notices, 0);
	CHECK_INT(take_n(rl, &b, 1, t0 + FC_RL_NOTICE_MS, &notices, &reported), 0);
	CHECK_INT(notices, 1);
	CHECK_INT(reported, 979 + 30 + 1); /* everything dropped since the first notice */

	/* forget: a reconnecting client starts with a full bucket */
	fc_rl_forget(rl, &b);
	CHECK_INT(fc_rl_count(rl), 1);
	CHECK_INT(take_n(rl, &b, 20, t0 + FC_RL_NOTICE_MS, NULL, NULL), 20);
	fc_rl_forget(rl, &b);
	fc_rl_forget(rl, &b); /* twice is harmless */
	fc_rl_free(rl);

	/* the table is bounded: the least recently used client's bucket is reused */
	char keys[8];
	rl = fc_rl_new(1, 2, 4);
	for (int i = 0; i < 8; i++)
		CHECK_INT(take_n(rl, &keys[i], 3, 10, NULL, NULL), 2);
	CHECK_INT(fc_rl_count(rl), 4);
	CHECK_INT(take_n(rl, &keys[7], 1, 10, NULL, NULL), 0); /* still tracked: empty */
	CHECK_INT(take_n(rl, &keys[0], 1, 10, NULL, NULL), 1); /* evicted long ago: fresh */
	CHECK_INT(fc_rl_count(rl), 4);
	fc_rl_free(rl);

	/* rate 0: unlimited */
	rl = fc_rl_new(0, 5, 4);
	CHECK(!fc_rl_enabled(rl));
	CHECK_INT(take_n(rl, &a, 10000, 0, &notices, NULL), 10000);
	CHECK_INT(fc_rl_count(rl), 0);
	fc_rl_free(rl);
	fc_rl_free(NULL);
	return t_done();
}
