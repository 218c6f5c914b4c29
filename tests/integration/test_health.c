/* fakecloud/bridge/request/health through a real mosquitto with the real plugin: device counts, the
 * plugin's own heap (broker-plugin/memstat.c), SQLite's and the process RSS, and that the heap count
 * follows devices being added, connected and removed: back to where it started, so the count neither
 * leaks nor drifts (a block counted on allocation but not on free, or the reverse, would show here). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"
#include "unit/t.h"

#define WAIT 5000
#define NDEV 40

struct health {
	bool ok;
	double devices, online, heap, sqlite, rss, commands;
};

static struct health ask(struct fc_mq *admin, int n)
{
	struct health h = {0};
	char tr[64], req[96];
	snprintf(tr, sizeof tr, "\"transaction\":\"h%d\"", n);
	snprintf(req, sizeof req, "{%s}", tr);
	if (fc_mq_publish(admin, "fakecloud/bridge/request/health", req, 1, false) != 0)
		return h;
	struct fc_mq_msg msg;
	if (!fc_mq_wait_payload(admin, "fakecloud/bridge/response/health", tr, WAIT, &msg))
		return h;
	cJSON *j = cJSON_Parse(msg.payload);
	const cJSON *data = cJSON_GetObjectItem(j, "data"), *mem = cJSON_GetObjectItem(data, "memory");
	h.ok = cJSON_IsString(cJSON_GetObjectItem(j, "status")) &&
	       strcmp(cJSON_GetObjectItem(j, "status")->valuestring, "ok") == 0 &&
	       cJSON_IsTrue(cJSON_GetObjectItem(data, "healthy"));
	h.devices = cJSON_GetNumberValue(cJSON_GetObjectItem(data, "devices"));
	h.online = cJSON_GetNumberValue(cJSON_GetObjectItem(data, "online"));
	h.heap = cJSON_GetNumberValue(cJSON_GetObjectItem(mem, "plugin_heap"));
	h.sqlite = cJSON_GetNumberValue(cJSON_GetObjectItem(mem, "sqlite"));
	h.rss = cJSON_GetNumberValue(cJSON_GetObjectItem(mem, "process_rss"));
	h.commands = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(data, "counters"), "commands"));
	cJSON_Delete(j);
	fc_mq_msg_free(&msg);
	return h;
}

/* Asks until the device count is `devices` (CLI changes reach the plugin asynchronously). */
static struct health ask_until(struct fc_mq *admin, int *n, double devices, double online)
{
	struct health h = {0};
	int64_t end = fc_mono_ms() + WAIT;
	do {
		h = ask(admin, (*n)++);
		if (h.ok && h.devices == devices && h.online == online)
			break;
		fc_sleep_ms(100);
	} while (fc_mono_ms() < end);
	return h;
}

int main(void)
{
	struct fc_env e;
	struct fc_mq *admin = NULL, *dev[NDEV] = {0};
	if (fc_env_init(&e, "health", NULL) != 0)
		return 1;
	char out[8192];
	CHECK_INT(fc_env_start_broker(&e), 0);
	admin = fc_mq_connect_admin(&e, "admin-health");
	CHECK(admin != NULL);
	if (!admin)
		goto out;
	CHECK(fc_mq_subscribe(admin, "fakecloud/bridge/response/#", 1) >= 0);
	int n = 0;

	/* An empty bridge: counted, and the heap is the plugin's (well below the whole process). */
	struct health h0 = ask_until(admin, &n, 0, 0);
	CHECK(h0.ok);
	CHECK(h0.heap > 0);
	CHECK(h0.sqlite > 0);
	CHECK(h0.rss > h0.heap);

	/* Devices added while the broker runs, then connected: the heap grows with them. */
	for (int i = 0; i < NDEV; i++)
		CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id hd%02d --password health-pass-%04d", i,
				     i),
			  0);
	struct health h1 = ask_until(admin, &n, NDEV, 0);
	CHECK(h1.ok && h1.devices == NDEV);
	for (int i = 0; i < NDEV; i++) {
		char id[32], user[16], pass[32];
		snprintf(id, sizeof id, "fctest:hd%02d", i);
		snprintf(user, sizeof user, "hd%02d", i);
		snprintf(pass, sizeof pass, "health-pass-%04d", i);
		dev[i] = fc_mq_connect(&e, id, user, pass, 4, NULL);
		CHECK(dev[i] != NULL);
		char topic[64];
		snprintf(topic, sizeof topic, "fctest/hd%02d/hello", i);
		if (dev[i])
			CHECK(fc_mq_publish(dev[i], topic, "{\"model\":\"H1\",\"firmware\":\"1.0.0\"}", 1, false) == 0);
	}
	struct health h2 = ask_until(admin, &n, NDEV, NDEV);
	CHECK(h2.online == NDEV);
	/* Each device holds at least its node, names, state and session: well over 100 bytes. */
	CHECK(h2.heap > h0.heap + NDEV * 100.0);
	CHECK(h2.heap >= h1.heap);
	/* A command is counted. */
	CHECK(fc_mq_publish(admin, "fakecloud/fctest_hd00/set", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(dev[0], "fctest/hd00/cmd", "ON", WAIT, NULL));
	struct health h3 = ask(admin, n++);
	CHECK(h3.commands >= 1);

	/* Disconnected and removed: the heap comes back to the empty bridge's, give or take what stays
	 * allocated by design (hash table buckets that never shrink, the command budget's entry for the
	 * admin client). A count that missed frees would stay up by ~NDEV x the per-device size; one that
	 * counted foreign frees would fall below. */
	for (int i = 0; i < NDEV; i++) {
		fc_mq_close(dev[i]);
		dev[i] = NULL;
	}
	for (int i = 0; i < NDEV; i++) {
		char req[96];
		snprintf(req, sizeof req, "{\"name\":\"fctest_hd%02d\",\"forget_keys\":true}", i);
		CHECK(fc_mq_publish(admin, "fakecloud/bridge/request/device/remove", req, 1, false) == 0);
		CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/response/device/remove", "\"status\":\"ok\"", WAIT, NULL));
	}
	struct health h4 = ask_until(admin, &n, 0, 0);
	CHECK(h4.ok && h4.devices == 0);
	double grown = h2.heap - h0.heap, left = h4.heap - h0.heap;
	fprintf(stderr, "heap: empty %.0f, %d devices %.0f, after removal %.0f (%+.0f)\n", h0.heap, NDEV, h2.heap,
		h4.heap, left);
	CHECK(left < grown / 4);
	CHECK(left > -grown / 4);
	CHECK(h4.heap > 0);

out:
	for (int i = 0; i < NDEV; i++)
		fc_mq_close(dev[i]);
	fc_mq_close(admin);
	fc_env_cleanup(&e);
	return t_done();
}
