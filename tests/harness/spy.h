/* Harness internal: the '#' recorder behind the published-topic secret scan (spy.c). */
#ifndef FC_HARNESS_SPY_H
#define FC_HARNESS_SPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_spy;

struct fc_spy *fc_spy_new(void);
/* Connect to 127.0.0.1:port as user, subscribe to '#' and wait for the SUBACK. 0, or -1 with a reason. */
int fc_spy_attach(struct fc_spy *s, int port, const char *user, const char *pass, char *why, size_t whylen);
/* After the broker stopped: take in what it sent last, then drop the connection (records stay). */
void fc_spy_detach(struct fc_spy *s);
void fc_spy_free(struct fc_spy *s);
/* Every recorded message (topic not NUL-terminated); how many distinct ones arrived, how many did not fit. */
void fc_spy_each(struct fc_spy *s, void (*fn)(void *ctx, const char *topic, size_t tlen, const uint8_t *payload,
					       size_t plen),
		 void *ctx, size_t *n_msgs, size_t *n_dropped);

#endif
