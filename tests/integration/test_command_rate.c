/* core.command_rate / core.command_burst: a client flooding plain-topic commands is cut to its
 * per-connection budget while another client's commands to the same device all arrive; the drop is
 * announced once on bridge/log and in the broker log (naming the client, not repeating per message);
 * the budget refills; nobody is disconnected; a bridge request carrying keys is still consumed (never
 * relayed) when it is over the budget. */
#include <stdio.h>
#include <string.h>

#include "harness/harness.h"
#include "unit/t.h"

#define WAIT 5000
#define DEV_PASS "rate-device-pass-0123"
#define RATE 20
#define BURST 30
#define FLOOD 1000
#define CALM_EVERY 100

int main(void)
{
	static struct fc_env e;
	const char *sets[] = {"core.command_rate=20", "core.command_burst=30", NULL};
	if (fc_env_init(&e, "command-rate", sets) != 0)
		return 1;
	char out[4096];
	struct fc_mq *dev = NULL, *watch = NULL, *flooder = NULL, *calm = NULL;
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id dev1 --password " DEV_PASS), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	int rc = -1;
	watch = fc_mq_connect_admin(&e, "watch");
	flooder = fc_mq_connect_admin(&e, "flooder");
	calm = fc_mq_connect_admin(&e, "calm");
	dev = fc_mq_connect(&e, "fctest:dev1", "dev1", DEV_PASS, 4, &rc);
	CHECK(watch && flooder && calm && dev);
	if (!watch || !flooder || !calm || !dev)
		goto out;
	CHECK(fc_mq_subscribe(dev, "fctest/dev1/cmd", 1) == 1);
	CHECK(fc_mq_subscribe(watch, "fakecloud/bridge/log", 0) >= 0);
	CHECK(fc_mq_subscribe(watch, "fakecloud/bridge/request/#", 0) >= 0);
	CHECK(fc_mq_subscribe(watch, "fakecloud/fctest_dev1/availability", 0) >= 0);
	CHECK(fc_mq_publish(dev, "fctest/dev1/hello", "{\"model\":\"T1000\",\"firmware\":\"1.0\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(watch, "fakecloud/fctest_dev1/availability", "online", WAIT, NULL));
	fc_mq_drain(watch);

	/* The flood, with the calm client's commands interleaved. The last flood message is QoS 1: once it
	 * is acknowledged the broker has handled everything before it (one connection, in order). */
	int calm_sent = 0;
	int64_t t0 = fc_mono_ms();
	for (int i = 0; i < FLOOD; i++) {
		char val[16];
		snprintf(val, sizeof val, "%d", i % 200);
		if (fc_mq_publish(flooder, "fakecloud/fctest_dev1/set/brightness", val, i == FLOOD - 1 ? 1 : 0, false) != 0) {
			CHECK(!"flood publish");
			break;
		}
		if (i % CALM_EVERY == 0) {
			CHECK(fc_mq_publish(calm, "fakecloud/fctest_dev1/set", calm_sent % 2 ? "{\"state\":\"OFF\"}"
											    : "{\"state\":\"ON\"}",
					    1, false) == 0);
			calm_sent++;
		}
	}
	int64_t elapsed = fc_mono_ms() - t0;

	int calm_got = 0;
	int64_t deadline = fc_mono_ms() + WAIT;
	while (fc_mono_ms() < deadline && (calm_got = fc_mq_count_containing(dev, "\"state\"")) < calm_sent)
		fc_sleep_ms(20);
	fc_sleep_ms(300); /* anything late would show now */
	calm_got = fc_mq_count_containing(dev, "\"state\"");
	int flood_got = fc_mq_count_containing(dev, "brightness");
	/* what the budget allows: the burst, plus the refill over the time the flood took (and a margin for
	 * the broker finishing after the client's last write) */
	long allowed = BURST + (long)RATE * (elapsed + 500) / 1000;
	printf("command-rate: %d flood commands in %lld ms -> %d reached the device (budget %ld); calm %d/%d\n", FLOOD,
	       (long long)elapsed, flood_got, allowed, calm_got, calm_sent);
	CHECK_INT(calm_got, calm_sent); /* the well-behaved client was not starved */
	CHECK(flood_got >= BURST);
	CHECK(flood_got <= allowed);
	CHECK(flood_got < FLOOD / 2);

	/* one notice for the whole flood, naming the client and the setting */
	CHECK_INT(fc_mq_count_containing(watch, "core.command_rate"), 1);
	CHECK_INT(fc_mq_count_containing(watch, "'flooder'"), 1);
	CHECK_INT(fc_mq_count_containing(watch, "'calm'"), 0);
	CHECK_INT(fc_env_broker_log_count(&e, "core.command_rate"), 1);

	/* the budget refills */
	fc_sleep_ms(1000);
	fc_mq_drain(dev);
	CHECK(fc_mq_publish(flooder, "fakecloud/fctest_dev1/set/brightness", "77", 1, false) == 0);
	CHECK(fc_mq_wait_payload(dev, "fctest/dev1/cmd", "77", WAIT, NULL));

	/* Over the budget, a bridge request that carries keys is dropped and still not relayed to anyone. */
	for (int i = 0; i < BURST + 10; i++)
		CHECK(fc_mq_publish(flooder, "fakecloud/bridge/request/fctest/noop", "{\"secret\":\"rate-secret-9\"}", 0,
				    false) == 0);
	CHECK(fc_mq_publish(flooder, "fakecloud/bridge/request/fctest/noop", "{\"secret\":\"rate-secret-9\"}", 1, false) ==
	      0);
	fc_sleep_ms(300);
	CHECK_INT(fc_mq_count_containing(watch, "rate-secret-9"), 0);

	CHECK(fc_mq_connected(flooder));
	CHECK(fc_mq_connected(calm));
	CHECK(fc_mq_connected(dev));
	CHECK(fc_env_broker_log_count(&e, "Client flooder disconnected") == 0);
out:
	fc_mq_close(dev);
	fc_mq_close(calm);
	fc_mq_close(flooder);
	fc_mq_close(watch);
	fc_env_cleanup(&e);
	return t_done();
}
