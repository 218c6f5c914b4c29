/* Crash safety of the shared keystore: while registrations are happening, kill -9 the writers at a
 * random moment and check that what was acknowledged survived and nothing half-written is visible.
 *
 * Every round starts W `fakecloud device add fctest ...` processes concurrently, sleeps a random
 * 0..80 ms and then SIGKILLs whatever is still running. Every BROKER_EVERY-th round the broker is part
 * of it: a Meross simulator with a fresh uuid connects (the plugin registers the device when it logs
 * in, before it answers the Bind) and the broker is killed -9 at the random moment, then restarted.
 * Every HTTPD_EVERY-th round fakecloud-httpd is part of it too: 3 threads acting as Tuya devices (uuids
 * imported through the Tuya store just before, as `fakecloud device add tuya` does) send one
 * tuya.device.active after the other over plain HTTP (signed query, body encrypted with the authKey),
 * and httpd is killed -9 at the same random moment as the writers, in the middle of its own keystore
 * writes. An activation counts as acknowledged when its whole reply opened with the authKey, its sign
 * verified and it carried devId, secKey and localKey.
 *
 * After every round, with nothing but (maybe) httpd running, the database is checked directly:
 *  - every device whose registration was acknowledged in any round so far is present (CLI exited 0;
 *    the simulator accepted a Bind SETACK, which the plugin only sends after it registered the uuid);
 *  - every devices/accounts row's secrets and meta parse as JSON objects, names are unique and
 *    non-empty (read with plain SQLite, not through the keystore layer, so nothing is filtered);
 *  - PRAGMA integrity_check passes (fc_keystore_integrity_check) and the keystore opens;
 *  - every Tuya row has none of devId/secKey/localKey or all three plus the alias = devId (nothing
 *    half-activated); every acknowledged activation is stored with exactly the keys the device got, and
 *    (after httpd rounds) its devId resolves to its uuid through the keystore.
 * After an httpd round httpd is restarted and the devices nearest the kill (per thread the cut ones and
 * the last acknowledged one, plus one older device) activate again: each must get the keys it was
 * acknowledged, or the keys the table holds if the reply never reached it; then the rows are checked again.
 *
 * FC_CRASH_SEED (default fixed), FC_CRASH_ROUNDS (default 200), FC_CRASH_BROKER_EVERY (default 2) and
 * FC_CRASH_HTTPD_EVERY (default 10) override the plan; scripts/crash-loop runs many more rounds. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/keystore.h"
#include "harness/harness.h"
#include "sim/meross_sim.h"
#include "unit/t.h"
#include "vendors/tuya/tuya_internal.h"

#define USER_ID "7300001"
#define KEY "crash0123456789abcdef0123456789a"
#define WRITERS 3
#define MAX_ACKED 4096

static struct fc_env e;
static uint64_t rng_state;

static uint64_t rng(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 0) : def;
}

struct acked {
	char vendor[16];
	char vid[40];
	int round;
};
static struct acked acked[MAX_ACKED];
static int n_acked;

static void ack(const char *vendor, const char *vid, int round)
{
	if (n_acked >= MAX_ACKED)
		return;
	snprintf(acked[n_acked].vendor, sizeof acked[n_acked].vendor, "%s", vendor);
	snprintf(acked[n_acked].vid, sizeof acked[n_acked].vid, "%s", vid);
	acked[n_acked].round = round;
	n_acked++;
}

/* `fakecloud --config <conf> device add fctest --id <id> --password <pw>`, output discarded. */
static pid_t spawn_cli_add(const char *id, const char *pw)
{
	char exe[600];
	snprintf(exe, sizeof exe, "%s/fakecloud", e.bin_dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		char *argv[] = {exe, "--config", e.conf, "device", "add", "fctest", "--id", (char *)id,
				"--password", (char *)pw, NULL};
		execv(exe, argv);
		_exit(127);
	}
	return pid;
}

static void sim_uuid(int round, char out[33])
{
	snprintf(out, 33, "c7a5b000000000000000000000%06u", (unsigned)round % 1000000u);
}

static struct meross_sim *start_sim(int round)
{
	struct meross_sim_opts o;
	meross_sim_opts_init(&o, MEROSS_SIM_PLUG);
	sim_uuid(round, o.uuid);
	snprintf(o.mac, sizeof o.mac, "48:e1:e9:%02x:%02x:%02x", (round >> 16) & 0xff, (round >> 8) & 0xff, round & 0xff);
	snprintf(o.user_id, sizeof o.user_id, "%s", USER_ID);
	snprintf(o.key, sizeof o.key, "%s", KEY);
	o.port = e.tls_port;
	o.bind_retry_ms = 300;
	o.reconnect_ms = 50;
	return meross_sim_start(&o);
}

/* Read every row with plain SQLite: JSON columns must be whole objects, names unique. Returns the
 * number of problems found (each printed). */
static int check_rows(const char *db, const char *table, bool names, int round, int *rows_out)
{
	sqlite3 *h = NULL;
	int problems = 0, rows = 0;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "round %d: cannot open %s read-only: %s\n", round, db, h ? sqlite3_errmsg(h) : "?");
		sqlite3_close(h);
		return 1;
	}
	sqlite3_busy_timeout(h, 5000);
	char sql[200];
	/* devices: name NOT NULL UNIQUE, non-empty; accounts: name may be "" and is not unique */
	snprintf(sql, sizeof sql, "SELECT name, secrets, meta FROM %s ORDER BY name", table);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "round %d: %s: %s\n", round, sql, sqlite3_errmsg(h));
		sqlite3_close(h);
		return 1;
	}
	char prev[256] = "";
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rows++;
		const char *name = (const char *)sqlite3_column_text(s, 0);
		if (!names) {
			name = name ? name : "";
		} else if (!name || !*name) {
			fprintf(stderr, "round %d: %s row %d has an empty name\n", round, table, rows);
			problems++;
			name = "";
		} else if (strcmp(name, prev) == 0) {
			fprintf(stderr, "round %d: %s name '%s' appears twice\n", round, table, name);
			problems++;
		}
		snprintf(prev, sizeof prev, "%s", name);
		for (int col = 1; col <= 2; col++) {
			const char *txt = (const char *)sqlite3_column_text(s, col);
			cJSON *j = txt ? cJSON_Parse(txt) : NULL;
			if (!cJSON_IsObject(j)) {
				fprintf(stderr, "round %d: %s '%s': %s is not a JSON object\n", round, table, name,
					col == 1 ? "secrets" : "meta");
				problems++;
			}
			cJSON_Delete(j);
		}
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "round %d: reading %s: %s\n", round, table, sqlite3_errmsg(h));
		problems++;
	}
	sqlite3_finalize(s);
	sqlite3_close(h);
	if (rows_out)
		*rows_out = rows;
	return problems;
}

static int count_cb(void *ctx, const struct fc_device_row *row)
{
	int *n = ctx;
	if (cJSON_IsObject(row->secrets) && cJSON_IsObject(row->meta))
		(*n)++;
	return 0;
}

/* Everything acknowledged so far is there; the rows are whole; integrity_check passes. */
static int verify(const char *db, int round)
{
	int problems = 0, rows = 0, arows = 0;
	problems += check_rows(db, "devices", true, round, &rows);
	problems += check_rows(db, "accounts", false, round, &arows);
	char err[256] = "";
	struct fc_keystore *ks = fc_keystore_open(db, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "round %d: keystore does not open: %s\n", round, err);
		return problems + 1;
	}
	if (fc_keystore_integrity_check(ks) != 0) {
		fprintf(stderr, "round %d: PRAGMA integrity_check failed\n", round);
		problems++;
	}
	int listed = 0;
	if (fc_ks_device_each(ks, NULL, count_cb, &listed) < 0 || listed != rows) {
		fprintf(stderr, "round %d: the keystore lists %d whole devices, the table has %d rows\n", round, listed,
			rows);
		problems++;
	}
	for (int i = 0; i < n_acked; i++) {
		struct fc_device_row row;
		int rc = fc_ks_device_get(ks, acked[i].vendor, acked[i].vid, &row);
		if (rc != FC_KS_OK) {
			fprintf(stderr, "round %d: %s device %s acknowledged in round %d is missing (rc %d)\n", round,
				acked[i].vendor, acked[i].vid, acked[i].round, rc);
			problems++;
			continue;
		}
		if (!cJSON_IsObject(row.secrets) || !cJSON_IsObject(row.meta) || !row.name[0]) {
			fprintf(stderr, "round %d: %s device %s is not whole\n", round, acked[i].vendor, acked[i].vid);
			problems++;
		} else if (strcmp(acked[i].vendor, "fctest") == 0) {
			const cJSON *pw = cJSON_GetObjectItemCaseSensitive(row.secrets, "password");
			if (!cJSON_IsString(pw) || strncmp(pw->valuestring, "pw-", 3) != 0) {
				fprintf(stderr, "round %d: fctest device %s has no password\n", round, acked[i].vid);
				problems++;
			}
		}
		fc_device_row_free(&row);
	}
	fc_keystore_close(ks);
	return problems;
}

/* ---- Tuya activations through fakecloud-httpd ---- */

#define ACT_THREADS 3
#define ACT_POOL 32 /* devices imported per activation thread and httpd round */

struct tdev {
	char uuid[16]; /* "ct" + 10-digit index into tdevs */
	char auth[33];
	bool attempted; /* a request was started */
	bool acked;     /* a whole, validly signed reply with devId/secKey/localKey came back */
	char dev_id[TUYA_DEVID_MAX + 1], sec[TUYA_SECKEY_LEN + 1], local[TUYA_LOCALKEY_LEN + 1];
	/* what the last check read from the table (plain SQLite) */
	int db_keys; /* how many of devId/secKey/localKey the row has */
	char db_dev_id[TUYA_DEVID_MAX + 1], db_sec[TUYA_SECKEY_LEN + 1], db_local[TUYA_LOCALKEY_LEN + 1];
};
static struct tdev *tdevs;
static int n_tdevs, cap_tdevs, n_tuya_acked;
static atomic_bool act_stop;

static void random_key(char *out, size_t len)
{
	static const char cs[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	for (size_t i = 0; i < len; i++)
		out[i] = cs[rng() % (sizeof cs - 1)];
	out[len] = 0;
}

/* Import n fresh devices (uuid + authKey, nothing activated) through the Tuya store, as
 * `fakecloud device add tuya --uuid U --auth-key K` does. Returns the index of the first or -1. */
static int import_tuya(const char *db, int n)
{
	if (n_tdevs + n > cap_tdevs) {
		int cap = cap_tdevs ? cap_tdevs * 2 : 1024;
		while (cap < n_tdevs + n)
			cap *= 2;
		struct tdev *nt = realloc(tdevs, (size_t)cap * sizeof *nt);
		if (!nt)
			return -1;
		tdevs = nt;
		cap_tdevs = cap;
	}
	char err[256] = "";
	struct fc_keystore *ks = fc_keystore_open(db, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "cannot open the keystore to import Tuya devices: %s\n", err);
		return -1;
	}
	int first = n_tdevs;
	for (int i = 0; i < n; i++) {
		struct tdev *d = &tdevs[n_tdevs];
		memset(d, 0, sizeof *d);
		snprintf(d->uuid, sizeof d->uuid, "ct%010d", n_tdevs);
		random_key(d->auth, 32);
		struct tuya_import in = {.uuid = d->uuid, .auth_key = d->auth};
		if (tuya_import(ks, &in, err, sizeof err) != 0) {
			fprintf(stderr, "importing Tuya device %s: %s\n", d->uuid, err);
			fc_keystore_close(ks);
			return -1;
		}
		n_tdevs++;
	}
	fc_keystore_close(ks);
	return first;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v && *v ? v : NULL;
}

/* One tuya.device.active as the device sends it (plain HTTP, et=1, query signed and body encrypted with
 * the authKey). 1 = acknowledged: a whole reply whose sign verifies, success:true, with devId, secKey and
 * localKey (copied out); 0 = a whole answer without keys; -1 = no whole answer (httpd gone or killed
 * while answering). `why` says what was wrong. */
static int tuya_active(const struct tdev *d, char *dev_id, char *sec, char *local, char *why, size_t whylen)
{
	char ts[24], sign[33], target[256], json[256], err[160];
	long long t = (long long)time(NULL);
	snprintf(ts, sizeof ts, "%lld", t);
	struct tuya_query_param p[] = {
		{"a", "tuya.device.active"}, {"et", "1"}, {"t", ts}, {"uuid", d->uuid}, {"v", "4.4"},
	};
	if (tuya_atop_sign_params(p, sizeof p / sizeof p[0], d->auth, strlen(d->auth), sign) != 0) {
		snprintf(why, whylen, "cannot sign");
		return 0;
	}
	snprintf(target, sizeof target, "/d.json?a=tuya.device.active&et=1&t=%s&uuid=%s&v=4.4&sign=%s", ts, d->uuid,
		 sign);
	snprintf(json, sizeof json,
		 "{\"token\":\"AAAAAA\",\"softVer\":\"1.1.7\",\"productKey\":\"keyfakecloudsim1\",\"protocolVer\":"
		 "\"2.2\",\"t\":%lld}",
		 t);
	char *body = tuya_atop_body_encode(json, strlen(json), TUYA_ET_ECB, d->auth, strlen(d->auth), NULL, err,
					   sizeof err);
	if (!body) {
		snprintf(why, whylen, "cannot encrypt: %s", err);
		return 0;
	}
	char reply[16384];
	int st = fc_http_request(e.http_port, "POST", target, body, reply, sizeof reply);
	free(body);
	if (st < 0) {
		snprintf(why, whylen, "no answer");
		return -1;
	}
	if (st != 200) {
		snprintf(why, whylen, "HTTP %d", st);
		return 0;
	}
	struct tuya_atop_body b;
	int64_t rt = 0;
	bool sign_ok = false;
	if (tuya_atop_response_open(reply, strlen(reply), TUYA_ET_ECB, d->auth, strlen(d->auth), &b, &rt, &sign_ok,
				    err, sizeof err) != 0) {
		/* A reply cut by the kill does not open either. */
		snprintf(why, whylen, "reply does not open: %s", err);
		return -1;
	}
	int rc = 0;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(b.root, "result");
	const char *id = jstr(res, "devId"), *s = jstr(res, "secKey"), *l = jstr(res, "localKey");
	if (!sign_ok)
		snprintf(why, whylen, "reply sign is wrong");
	else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b.root, "success")))
		snprintf(why, whylen, "success:false (%s)", jstr(b.root, "errorCode") ? jstr(b.root, "errorCode") : "?");
	else if (!id || strlen(id) < 10 || strlen(id) > TUYA_DEVID_MAX || !s || strlen(s) != TUYA_SECKEY_LEN || !l ||
		 strlen(l) != TUYA_LOCALKEY_LEN)
		snprintf(why, whylen, "reply lacks devId/secKey/localKey");
	else
		rc = 1;
	if (rc == 1) {
		snprintf(dev_id, TUYA_DEVID_MAX + 1, "%s", id);
		snprintf(sec, TUYA_SECKEY_LEN + 1, "%s", s);
		snprintf(local, TUYA_LOCALKEY_LEN + 1, "%s", l);
	}
	tuya_atop_body_free(&b);
	return rc;
}

struct act_thread {
	pthread_t th;
	int first, n;
	int acked, errors;
};

/* A device that activates one imported uuid after the other until httpd stops answering (or told to
 * stop). Only the thread's own tdevs entries are written. */
static void *act_main(void *arg)
{
	struct act_thread *a = arg;
	for (int i = 0; i < a->n && !atomic_load(&act_stop); i++) {
		struct tdev *d = &tdevs[a->first + i];
		char why[200] = "";
		d->attempted = true;
		int rc = tuya_active(d, d->dev_id, d->sec, d->local, why, sizeof why);
		if (rc == 1) {
			d->acked = true;
			a->acked++;
		} else if (rc == 0) {
			/* httpd answered, but not with keys: never expected while it runs */
			fprintf(stderr, "activation of %s refused: %s\n", d->uuid, why);
			a->errors++;
		} else {
			break; /* httpd is gone */
		}
	}
	return NULL;
}

static int tdev_index(const char *uuid)
{
	if (!uuid || strncmp(uuid, "ct", 2) != 0 || strlen(uuid) != 12)
		return -1;
	int i = atoi(uuid + 2);
	return i >= 0 && i < n_tdevs && strcmp(tdevs[i].uuid, uuid) == 0 ? i : -1;
}

/* Every Tuya row read with plain SQLite: either none of devId/secKey/localKey, or all three plus the alias
 * (= devId); every acknowledged activation is there with exactly the keys the device got; and, when
 * `alias_lookups`, through the keystore its devId resolves to the uuid. Fills each tdev's db_* fields.
 * Returns the problems. (tuya_activate() stores the keys, the devId and its alias in one transaction.) */
static int check_tuya(const char *db, int round, bool alias_lookups)
{
	sqlite3 *h = NULL;
	int problems = 0;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "round %d: cannot open %s read-only\n", round, db);
		sqlite3_close(h);
		return 1;
	}
	sqlite3_busy_timeout(h, 5000);
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(h, "SELECT vid, alias, secrets, meta FROM devices WHERE vendor = 'tuya'", -1, &s,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "round %d: %s\n", round, sqlite3_errmsg(h));
		sqlite3_close(h);
		return 1;
	}
	for (int i = 0; i < n_tdevs; i++)
		tdevs[i].db_keys = -1; /* row not seen */
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *vid = (const char *)sqlite3_column_text(s, 0);
		const char *alias = (const char *)sqlite3_column_text(s, 1);
		const char *st = (const char *)sqlite3_column_text(s, 2), *mt = (const char *)sqlite3_column_text(s, 3);
		cJSON *sec = st ? cJSON_Parse(st) : NULL, *meta = mt ? cJSON_Parse(mt) : NULL;
		const char *id = jstr(meta, "devId"), *sk = jstr(sec, "secKey"), *lk = jstr(sec, "localKey");
		int keys = !!id + !!sk + !!lk;
		int i = tdev_index(vid);
		if (keys != 0 && keys != 3) {
			fprintf(stderr, "round %d: Tuya device %s is half-activated: %s devId, %s secKey, %s localKey\n",
				round, vid ? vid : "?", id ? "has" : "no", sk ? "has" : "no", lk ? "has" : "no");
			problems++;
		} else if (keys == 3 && (!alias || strcmp(alias, id) != 0)) {
			fprintf(stderr, "round %d: Tuya device %s has its keys but %s\n", round, vid ? vid : "?",
				alias ? "another alias than its devId" : "no devId alias (half-activated)");
			problems++;
		} else if (keys == 0 && alias) {
			fprintf(stderr, "round %d: Tuya device %s has an alias but no keys\n", round, vid ? vid : "?");
			problems++;
		}
		if (i >= 0) {
			struct tdev *d = &tdevs[i];
			d->db_keys = keys;
			snprintf(d->db_dev_id, sizeof d->db_dev_id, "%s", id ? id : "");
			snprintf(d->db_sec, sizeof d->db_sec, "%s", sk ? sk : "");
			snprintf(d->db_local, sizeof d->db_local, "%s", lk ? lk : "");
		}
		cJSON_Delete(sec);
		cJSON_Delete(meta);
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "round %d: reading Tuya rows: %s\n", round, sqlite3_errmsg(h));
		problems++;
	}
	sqlite3_finalize(s);
	sqlite3_close(h);

	/* Through the keystore layer too (devId alias -> uuid) after httpd rounds and at the end; the rows
	 * themselves were compared above in every round. */
	struct fc_keystore *ks = alias_lookups ? fc_keystore_open(db, NULL, 0) : NULL;
	if (alias_lookups && !ks)
		return problems + 1;
	for (int i = 0; i < n_tdevs; i++) {
		struct tdev *d = &tdevs[i];
		if (d->db_keys < 0) {
			fprintf(stderr, "round %d: imported Tuya device %s is missing\n", round, d->uuid);
			problems++;
			continue;
		}
		if (!d->acked)
			continue;
		/* Secrets are compared, never printed. */
		if (d->db_keys != 3 || strcmp(d->db_dev_id, d->dev_id) != 0 || strcmp(d->db_sec, d->sec) != 0 ||
		    strcmp(d->db_local, d->local) != 0) {
			fprintf(stderr, "round %d: acknowledged activation of %s (devId %s) is not stored as acknowledged: "
				"devId %s, secKey %s, localKey %s\n",
				round, d->uuid, d->dev_id, strcmp(d->db_dev_id, d->dev_id) ? "differs" : "same",
				strcmp(d->db_sec, d->sec) ? "differs" : "same",
				strcmp(d->db_local, d->local) ? "differs" : "same");
			problems++;
			continue;
		}
		if (!ks)
			continue;
		struct fc_device_row row;
		int grc = fc_ks_device_get_by_alias(ks, "tuya", d->dev_id, &row);
		if (grc != FC_KS_OK || strcmp(row.vid, d->uuid) != 0) {
			fprintf(stderr, "round %d: devId %s does not resolve to %s (rc %d)\n", round, d->dev_id, d->uuid,
				grc);
			problems++;
		}
		if (grc == FC_KS_OK)
			fc_device_row_free(&row);
	}
	fc_keystore_close(ks);
	return problems;
}

/* After httpd restarted: devices of the round activate again and get the keys they were acknowledged
 * (or, if the reply never reached them, the keys the table holds); afterwards they count as acknowledged.
 * Which: per thread the activations the kill cut and the last acknowledged one (those nearest the kill),
 * plus one older acknowledged device. Returns the problems. */
static int reactivate(int first, int round, int *done)
{
	int problems = 0;
	bool pick[ACT_THREADS * ACT_POOL + 1] = {false};
	int older = first > 0 ? (int)(rng() % (uint64_t)first) : -1;
	for (int t = 0; t < ACT_THREADS; t++) {
		int last_acked = -1;
		for (int k = 0; k < ACT_POOL; k++) {
			const struct tdev *d = &tdevs[first + t * ACT_POOL + k];
			if (d->attempted && !d->acked)
				pick[t * ACT_POOL + k] = true;
			if (d->acked)
				last_acked = t * ACT_POOL + k;
		}
		if (last_acked >= 0)
			pick[last_acked] = true;
	}
	for (int j = 0; j <= ACT_THREADS * ACT_POOL; j++) {
		int i = j < ACT_THREADS * ACT_POOL ? first + j : older;
		if (i < 0 || (j < ACT_THREADS * ACT_POOL && !pick[j]) || (j == ACT_THREADS * ACT_POOL && !tdevs[i].acked))
			continue;
		struct tdev *d = &tdevs[i];
		char id[TUYA_DEVID_MAX + 1], sec[TUYA_SECKEY_LEN + 1], local[TUYA_LOCALKEY_LEN + 1], why[200] = "";
		int rc = tuya_active(d, id, sec, local, why, sizeof why);
		(*done)++;
		if (rc != 1) {
			fprintf(stderr, "round %d: re-activation of %s after the restart failed: %s\n", round, d->uuid, why);
			problems++;
			continue;
		}
		const char *want_id = d->acked ? d->dev_id : d->db_keys == 3 ? d->db_dev_id : NULL;
		const char *want_sec = d->acked ? d->sec : d->db_sec, *want_local = d->acked ? d->local : d->db_local;
		if (want_id && (strcmp(id, want_id) != 0 || strcmp(sec, want_sec) != 0 || strcmp(local, want_local) != 0)) {
			fprintf(stderr, "round %d: re-activation of %s returned other keys (devId %s, secKey %s, localKey %s)\n",
				round, d->uuid, strcmp(id, want_id) ? "differs" : "same", strcmp(sec, want_sec) ? "differs" : "same",
				strcmp(local, want_local) ? "differs" : "same");
			problems++;
		}
		if (!d->acked) {
			snprintf(d->dev_id, sizeof d->dev_id, "%s", id);
			snprintf(d->sec, sizeof d->sec, "%s", sec);
			snprintf(d->local, sizeof d->local, "%s", local);
			d->acked = true;
		}
	}
	return problems;
}

int main(void)
{
	uint64_t seed = (uint64_t)env_long("FC_CRASH_SEED", 0x5eed2024);
	int rounds = (int)env_long("FC_CRASH_ROUNDS", 200);
	int broker_every = (int)env_long("FC_CRASH_BROKER_EVERY", 2);
	int httpd_every = (int)env_long("FC_CRASH_HTTPD_EVERY", 10);
	if (broker_every < 1)
		broker_every = 1;
	rng_state = seed ? seed : 1;
	printf("crash_safety: seed %#" PRIx64 " rounds %d, broker killed every %d, httpd every %d "
	       "(FC_CRASH_SEED/FC_CRASH_ROUNDS/FC_CRASH_BROKER_EVERY/FC_CRASH_HTTPD_EVERY)\n",
	       seed, rounds, broker_every, httpd_every);
	fflush(stdout);

	if (fc_env_init(&e, "crash", NULL) != 0)
		return 1;
	char out[4096], db[400];
	snprintf(db, sizeof db, "%s/fakecloud.db", e.dir);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add meross-account --user-id " USER_ID " --key " KEY), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	CHECK_INT(fc_env_start_httpd(&e), 0);
	if (t_failed)
		goto out;

	int64_t t0 = fc_mono_ms();
	int cli_ok = 0, cli_killed = 0, cli_other = 0, broker_kills = 0, httpd_kills = 0, bound = 0, sims = 0;
	int round_problems = 0, r;
	int act_attempted = 0, act_cut = 0, act_errors = 0, reactivated = 0;
	for (r = 0; r < rounds && round_problems < 5; r++) {
		bool kill_broker = (r % broker_every) == broker_every - 1;
		bool kill_httpd = httpd_every > 0 && (r % httpd_every) == httpd_every - 1;
		if (e.broker_pid <= 0 && fc_env_start_broker(&e) != 0) {
			CHECK(!"broker restarts");
			break;
		}
		if (e.httpd_pid <= 0 && fc_env_start_httpd(&e) != 0) {
			CHECK(!"httpd restarts");
			break;
		}
		struct meross_sim *sim = NULL;
		if (kill_broker) {
			sim = start_sim(r);
			sims += sim != NULL;
		}
		/* httpd rounds: devices activating through httpd while it is killed */
		struct act_thread act[ACT_THREADS];
		int act_first = -1, n_act = 0;
		if (kill_httpd) {
			act_first = import_tuya(db, ACT_THREADS * ACT_POOL);
			if (act_first < 0) {
				CHECK(!"Tuya devices import");
				break;
			}
			atomic_store(&act_stop, false);
			for (int i = 0; i < ACT_THREADS; i++) {
				act[i] = (struct act_thread){.first = act_first + i * ACT_POOL, .n = ACT_POOL};
				if (pthread_create(&act[i].th, NULL, act_main, &act[i]) == 0)
					n_act++;
				else
					break;
			}
		}
		char ids[WRITERS][32], pws[WRITERS][48];
		pid_t pids[WRITERS];
		for (int i = 0; i < WRITERS; i++) {
			snprintf(ids[i], sizeof ids[i], "c%04d_%d", r, i);
			snprintf(pws[i], sizeof pws[i], "pw-%04d-%d-%08" PRIx64, r, i, rng() & 0xffffffffu);
			pids[i] = spawn_cli_add(ids[i], pws[i]);
		}
		/* Broker rounds give the simulator a little longer so that some binds are acknowledged. */
		int delay = (int)(rng() % 81) + (kill_broker ? (int)(rng() % 120) : 0);
		fc_sleep_ms(delay);
		for (int i = 0; i < WRITERS; i++)
			if (pids[i] > 0)
				kill(pids[i], SIGKILL);
		if (kill_httpd && e.httpd_pid > 0)
			kill(e.httpd_pid, SIGKILL); /* first: the same random moment as the writers */
		if (kill_broker) {
			fc_env_kill_broker(&e);
			broker_kills++;
		}
		if (kill_httpd) {
			if (e.httpd_pid > 0) {
				waitpid(e.httpd_pid, NULL, 0);
				e.httpd_pid = 0;
			}
			httpd_kills++;
			atomic_store(&act_stop, true);
			for (int i = 0; i < n_act; i++) {
				pthread_join(act[i].th, NULL);
				n_tuya_acked += act[i].acked;
				act_errors += act[i].errors;
			}
			for (int i = act_first; i < act_first + ACT_THREADS * ACT_POOL; i++) {
				act_attempted += tdevs[i].attempted;
				act_cut += tdevs[i].attempted && !tdevs[i].acked;
			}
		}
		for (int i = 0; i < WRITERS; i++) {
			int st = 0;
			if (pids[i] <= 0 || waitpid(pids[i], &st, 0) < 0) {
				cli_other++;
				continue;
			}
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
				cli_ok++;
				ack("fctest", ids[i], r);
			} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
				cli_killed++;
			} else {
				cli_other++;
				fprintf(stderr, "round %d: device add %s exited with %d\n", r, ids[i],
					WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			}
		}
		if (sim) {
			/* The broker is dead: a SETACK counted now was sent before the kill. */
			if (meross_sim_counter(sim, MSC_SETACK_OK) > 0) {
				char uuid[33];
				sim_uuid(r, uuid);
				ack("meross", uuid, r);
				bound++;
			}
			meross_sim_stop(sim);
		}
		int p = verify(db, r);
		p += check_tuya(db, r, kill_httpd || r == rounds - 1);
		if (kill_httpd && !p) {
			/* Restarted, every device of the round activates again with the keys it got or the table
			 * holds; then the table must have all of them whole. */
			if ((e.broker_pid > 0 || fc_env_start_broker(&e) == 0) && fc_env_start_httpd(&e) == 0) {
				p += reactivate(act_first, r, &reactivated);
				p += check_tuya(db, r, true);
			} else {
				fprintf(stderr, "round %d: restart after the httpd kill failed\n", r);
				p++;
			}
		}
		if (p) {
			round_problems++;
			setenv("FC_KEEP", "1", 1);
		}
		CHECK_INT(p, 0);
	}
	int64_t ms = fc_mono_ms() - t0;
	printf("crash_safety: %d rounds in %" PRId64 " ms: CLI adds acknowledged %d, killed %d, other %d; broker kill -9 %d "
	       "(Meross binds acknowledged %d of %d), httpd kill -9 %d (Tuya activations started %d, acknowledged %d, "
	       "cut by the kill %d, re-activated after restart %d); %d acknowledged devices all present\n",
	       r, ms, cli_ok, cli_killed, cli_other, broker_kills, bound, sims, httpd_kills, act_attempted, n_tuya_acked, act_cut,
	       reactivated, n_acked);
	/* The rounds must really have exercised both outcomes, or the test proves nothing. */
	CHECK(cli_ok > 0);
	if (rounds >= 50) /* with few rounds every writer may finish before its kill */
		CHECK(cli_killed > 0);
	CHECK_INT(cli_other, 0);
	CHECK_INT(r, rounds);
	CHECK(broker_kills >= rounds / broker_every);
	CHECK_INT(act_errors, 0);
	if (httpd_every > 0 && rounds >= httpd_every * 10) {
		/* Activations were both acknowledged and cut by a kill, or the httpd part proves nothing. */
		CHECK(n_tuya_acked > 0);
		CHECK(act_cut > 0);
	}

	/* After all that, the system still works: the broker restarts and an acknowledged device logs in. */
	if (e.broker_pid <= 0)
		CHECK_INT(fc_env_start_broker(&e), 0);
	for (int i = 0; i < n_acked; i++) {
		if (strcmp(acked[i].vendor, "fctest") != 0)
			continue;
		char ks_err[128] = "";
		struct fc_keystore *ks = fc_keystore_open(db, ks_err, sizeof ks_err);
		struct fc_device_row row;
		char pw[64] = "";
		if (ks && fc_ks_device_get(ks, "fctest", acked[i].vid, &row) == FC_KS_OK) {
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(row.secrets, "password");
			if (cJSON_IsString(p))
				snprintf(pw, sizeof pw, "%s", p->valuestring);
			fc_device_row_free(&row);
		}
		fc_keystore_close(ks);
		char cid[64];
		snprintf(cid, sizeof cid, "fctest:%s", acked[i].vid);
		int rc = -1;
		struct fc_mq *dev = fc_mq_connect(&e, cid, acked[i].vid, pw, 4, &rc);
		CHECK(dev != NULL);
		fc_mq_close(dev);
		break;
	}
out:
	fc_env_cleanup(&e);
	free(tdevs);
	return t_done();
}
