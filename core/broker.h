/* The small broker interface vendor logic talks to. broker-plugin/ implements it on the Mosquitto
 * plugin API; unit tests implement it with a recorder. All calls happen on the broker thread. */
#ifndef FC_BROKER_H
#define FC_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_broker_ops {
	/* Fan-out publish (subscribers, READ ACL applied); payload is copied. */
	int (*publish)(void *ctx, const char *topic, const void *payload, size_t len, int qos, bool retain);
	/* Publish to exactly one client id, whatever its subscriptions (no READ ACL); payload is copied. */
	int (*publish_to)(void *ctx, const char *client_id, const char *topic, const void *payload, size_t len,
			  int qos);
	/* Disconnect a client. */
	int (*kick)(void *ctx, const char *client_id);
	/* Wall-clock time in milliseconds since the epoch. */
	int64_t (*now_ms)(void *ctx);
	/* Optional (may be NULL): live heap bytes held by the host's own allocations, -1 if unknown. */
	int64_t (*heap_bytes)(void *ctx);
};

struct fc_broker {
	const struct fc_broker_ops *ops;
	void *ctx;
};

static inline int fc_broker_publish(const struct fc_broker *b, const char *topic, const void *payload,
				    size_t len, int qos, bool retain)
{
	return b->ops->publish(b->ctx, topic, payload, len, qos, retain);
}
static inline int fc_broker_publish_to(const struct fc_broker *b, const char *client_id, const char *topic,
				       const void *payload, size_t len, int qos)
{
	return b->ops->publish_to(b->ctx, client_id, topic, payload, len, qos);
}
static inline int fc_broker_kick(const struct fc_broker *b, const char *client_id)
{
	return b->ops->kick(b->ctx, client_id);
}
static inline int64_t fc_broker_now_ms(const struct fc_broker *b) { return b->ops->now_ms(b->ctx); }
static inline int64_t fc_broker_heap_bytes(const struct fc_broker *b)
{
	return b->ops->heap_bytes ? b->ops->heap_bytes(b->ctx) : -1;
}

#endif
