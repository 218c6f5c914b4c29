/* Telling the running broker that the keystore changed: a QoS 1 publish on fakecloud's internal topic,
 * as fakecloud's internal MQTT user. Best effort: a broker that is not running loads the keystore
 * when it starts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/vendor.h"
#include "provision/cli.h"

#define NOTIFY_TOPIC FC_INTERNAL_TOPIC_PREFIX "core/device-changed"
#define NOTIFY_TIMEOUT_MS 3000

struct nstate {
	bool connack;   /* a CONNACK arrived */
	int connack_rc; /* its code */
	bool lost;      /* connection failed or closed */
	int acked;      /* PUBACKs received */
};

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct nstate *st = ud;
	st->connack = true;
	st->connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	((struct nstate *)ud)->lost = true;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	((struct nstate *)ud)->acked++;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the client loop until done(st) or the deadline; false on timeout or a lost connection. */
static bool pump(struct mosquitto *m, struct nstate *st, long long deadline, bool (*done)(const struct nstate *, int),
		 int arg)
{
	while (!done(st, arg)) {
		if (st->lost || now_ms() >= deadline)
			return false;
		int rc = mosquitto_loop(m, 50, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			st->lost = true;
			return false;
		}
	}
	return true;
}

static bool got_connack(const struct nstate *st, int arg)
{
	(void)arg;
	return st->connack;
}

static bool got_acks(const struct nstate *st, int n) { return st->acked >= n; }

int cli_notify(const struct fc_config *cfg, struct fc_keystore *ks, const struct cli_change *ch, size_t n)
{
	if (n == 0)
		return 0;
	const char *host = fc_config_str(cfg, "mqtt", "host");
	long port = fc_config_int(cfg, "mqtt", "port");
	char password[256];
	if (fc_ks_setting_get(ks, FC_SETTING_INTERNAL_PASSWORD, password, sizeof password) != FC_KS_OK) {
		printf("broker not notified: the keystore has no internal MQTT password (run 'fakecloud init'); "
		       "the broker loads the change when it starts\n");
		return 1;
	}
	mosquitto_lib_init();
	struct nstate st = {0};
	char id[64];
	snprintf(id, sizeof id, "fakecloud-cli-%ld", (long)getpid());
	struct mosquitto *m = mosquitto_new(id, true, &st);
	int ret = 1;
	if (!m) {
		printf("broker not notified: cannot create an MQTT client\n");
		goto out;
	}
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_publish_callback_set(m, on_publish);
	mosquitto_username_pw_set(m, FC_INTERNAL_USER, password);

	long long deadline = now_ms() + NOTIFY_TIMEOUT_MS;
	int rc = mosquitto_connect_async(m, host, (int)port, 10);
	if (rc != MOSQ_ERR_SUCCESS || !pump(m, &st, deadline, got_connack, 0)) {
		printf("broker not reachable; it will load the change when it starts (tried %s:%ld)\n", host, port);
		goto out;
	}
	if (st.connack_rc != 0) {
		printf("broker at %s:%ld refused fakecloud's internal login (%s); restart it to load the change\n",
		       host, port, mosquitto_connack_string(st.connack_rc));
		goto out;
	}
	int sent = 0;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		char *payload = NULL;
		if (o && cJSON_AddStringToObject(o, "vendor", ch[i].vendor) &&
		    cJSON_AddStringToObject(o, "vid", ch[i].vid))
			payload = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (payload &&
		    mosquitto_publish(m, NULL, NOTIFY_TOPIC, (int)strlen(payload), payload, 1, false) == MOSQ_ERR_SUCCESS)
			sent++;
		cJSON_free(payload);
	}
	if (sent == (int)n && pump(m, &st, deadline + NOTIFY_TIMEOUT_MS, got_acks, sent)) {
		printf("broker notified: it reloads %zu device%s now\n", n, n == 1 ? "" : "s");
		ret = 0;
	} else {
		printf("broker did not acknowledge the change; restart it to be sure it loads the change\n");
	}
	mosquitto_disconnect(m);
	mosquitto_loop(m, 50, 1);
out:
	memset(password, 0, sizeof password);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return ret;
}

/* ---- which devices did a vendor hook touch? ---- */

struct snap_item {
	struct cli_change id;
	char fp[65]; /* SHA-256 of name, secrets and meta: any change shows */
};

struct snap {
	struct snap_item *v;
	size_t n, cap;
	bool oom;
};

static int snap_cb(void *ctx, const struct fc_device_row *row)
{
	struct snap *s = ctx;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct snap_item *v = realloc(s->v, cap * sizeof *v);
		if (!v) {
			s->oom = true;
			return 1;
		}
		s->v = v;
		s->cap = cap;
	}
	struct snap_item *it = &s->v[s->n++];
	memset(it, 0, sizeof *it);
	snprintf(it->id.vendor, sizeof it->id.vendor, "%s", row->vendor);
	snprintf(it->id.vid, sizeof it->id.vid, "%s", row->vid);
	char *sec = row->secrets ? cJSON_PrintUnformatted(row->secrets) : NULL;
	char *meta = row->meta ? cJSON_PrintUnformatted(row->meta) : NULL;
	size_t ln = strlen(row->name), ls = sec ? strlen(sec) : 0, lm = meta ? strlen(meta) : 0;
	char *all = malloc(ln + ls + lm + 3);
	if (all) {
		memcpy(all, row->name, ln + 1);
		if (sec)
			memcpy(all + ln + 1, sec, ls);
		all[ln + 1 + ls] = '\0';
		if (meta)
			memcpy(all + ln + ls + 2, meta, lm);
		fc_sha256_hex(all, ln + ls + lm + 2, it->fp);
		memset(all, 0, ln + ls + lm + 2);
		free(all);
	} else {
		s->oom = true;
	}
	if (sec)
		memset(sec, 0, ls);
	cJSON_free(sec);
	cJSON_free(meta);
	return s->oom;
}

static const struct snap_item *snap_find(const struct snap *s, const struct cli_change *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].id.vendor, id->vendor) && !strcmp(s->v[i].id.vid, id->vid))
			return &s->v[i];
	return NULL;
}

static bool snap_take(struct fc_keystore *ks, const char *vendor, struct snap *s)
{
	memset(s, 0, sizeof *s);
	return fc_ks_device_each(ks, vendor, snap_cb, s) >= 0 && !s->oom;
}

int cli_run_vendor_hook(struct fc_cli *cli, const char *vendor, int (*hook)(struct fc_cli *, int, char **),
			int argc, char **argv)
{
	struct snap before, after;
	bool ok = snap_take(cli->ks, vendor, &before);
	fflush(stdout);
	int rc = hook(cli, argc, argv);
	fflush(cli->out);
	ok = snap_take(cli->ks, vendor, &after) && ok;
	if (!ok) {
		printf("cannot tell what changed in the keystore; restart the broker to load any change\n");
	} else {
		struct cli_change *ch = calloc(before.n + after.n + 1, sizeof *ch);
		size_t n = 0;
		for (size_t i = 0; ch && i < after.n; i++) {
			const struct snap_item *b = snap_find(&before, &after.v[i].id);
			if (!b || strcmp(b->fp, after.v[i].fp) != 0)
				ch[n++] = after.v[i].id;
		}
		for (size_t i = 0; ch && i < before.n; i++)
			if (!snap_find(&after, &before.v[i].id))
				ch[n++] = before.v[i].id;
		if (ch)
			cli_notify(cli->cfg, cli->ks, ch, n);
		free(ch);
	}
	free(before.v);
	free(after.v);
	return rc;
}
