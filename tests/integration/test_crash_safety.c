/* Crash safety of the shared keystore: while registrations are happening, kill -9 the writers at a
 * random moment and check that what was acknowledged survived and nothing half-written is visible.
 *
 * Every round starts W `fakecloud device add fctest ...` processes concurrently, sleeps a random
 * 0..80 ms and then SIGKILLs whatever is still running. Every BROKER_EVERY-th round the broker is part
 * of it: a Meross simulator with a fresh uuid connects (the plugin registers the device when it logs
 * in, before it answers the Bind) and the broker is killed -9 at the random moment, then restarted.
 * Every HTTPD_EVERY-th round fakecloud-httpd (an MQTT client of the broker holding its own keystore
 * handle) is killed -9 too and restarted.
 *
 * After every round, with nothing but (maybe) httpd running, the database is checked directly:
 *  - every device whose registration was acknowledged in any round so far is present (CLI exited 0;
 *    the simulator accepted a Bind SETACK, which the plugin only sends after it registered the uuid);
 *  - every devices/accounts row's secrets and meta parse as JSON objects, names are unique and
 *    non-empty (read with plain SQLite, not through the keystore layer, so nothing is filtered);
 *  - PRAGMA integrity_check passes (fc_keystore_integrity_check) and the keystore opens.
 *
 * FC_CRASH_SEED (default fixed), FC_CRASH_ROUNDS (default 200), FC_CRASH_BROKER_EVERY (default 2) and
 * FC_CRASH_HTTPD_EVERY (default 10) override the plan; scripts/crash-loop runs many more rounds. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/keystore.h"
#include "harness/harness.h"
#include "sim/meross_sim.h"
#include "unit/t.h"

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
		if (kill_broker) {
			fc_env_kill_broker(&e);
			broker_kills++;
		}
		if (kill_httpd) {
			if (e.httpd_pid > 0) {
				kill(e.httpd_pid, SIGKILL);
				waitpid(e.httpd_pid, NULL, 0);
				e.httpd_pid = 0;
			}
			httpd_kills++;
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
		if (p) {
			round_problems++;
			setenv("FC_KEEP", "1", 1);
		}
		CHECK_INT(p, 0);
	}
	int64_t ms = fc_mono_ms() - t0;
	printf("crash_safety: %d rounds in %" PRId64 " ms: CLI adds acknowledged %d, killed %d, other %d; broker kill -9 %d "
	       "(Meross binds acknowledged %d of %d), httpd kill -9 %d; %d acknowledged devices all present\n",
	       r, ms, cli_ok, cli_killed, cli_other, broker_kills, bound, sims, httpd_kills, n_acked);
	/* The rounds must really have exercised both outcomes, or the test proves nothing. */
	CHECK(cli_ok > 0);
	if (rounds >= 50) /* with few rounds every writer may finish before its kill */
		CHECK(cli_killed > 0);
	CHECK_INT(cli_other, 0);
	CHECK_INT(r, rounds);
	CHECK(broker_kills >= rounds / broker_every);

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
	return t_done();
}
