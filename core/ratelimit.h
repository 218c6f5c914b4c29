/* Per-client token buckets for plain-topic commands (/set, /get, /raw/set, bridge requests).
 *
 * One bucket per MQTT connection (keyed by the broker's opaque client handle): `burst` tokens, refilled
 * at `rate` per second. A command takes one token; with none left it is dropped. Drops are summarised:
 * fc_rl_take reports when a notice is due (the first drop after a quiet spell, then at most once per
 * notice interval) and how many were dropped since the last notice, so a flooding client produces a
 * bounded number of log lines. The table is bounded: past `max_clients` buckets the least recently used
 * one is reused (its client starts again with a full bucket). rate == 0 turns limiting off.
 *
 * Pure bookkeeping, no I/O, no clock of its own: the caller passes the time (ms). */
#ifndef FC_RATELIMIT_H
#define FC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_RL_NOTICE_MS 10000

struct fc_rl;

struct fc_rl_verdict {
	bool allowed;
	bool notice;      /* a "commands dropped" notice is due now */
	uint64_t dropped; /* drops since the last notice (including this one) when notice is true */
};

/* rate: tokens per second (0 = unlimited); burst: bucket size (>= 1). NULL on allocation failure. */
struct fc_rl *fc_rl_new(unsigned rate, unsigned burst, size_t max_clients);
void fc_rl_free(struct fc_rl *rl);
bool fc_rl_enabled(const struct fc_rl *rl);

/* Take one token for `key` at `now_ms` (monotonic). */
struct fc_rl_verdict fc_rl_take(struct fc_rl *rl, const void *key, int64_t now_ms);

/* Forget a client (it disconnected). */
void fc_rl_forget(struct fc_rl *rl, const void *key);

size_t fc_rl_count(const struct fc_rl *rl);

#endif
