/* Keystore: CRUD, name uniqueness, tokens stored hashed, settings, migrations and downgrade protection,
 * two processes at once, file ownership under root, and secrets registered for log redaction. */
#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "unit/t.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static struct fc_keystore *open_ok(const char *path)
{
	char err[256] = "";
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks)
		fprintf(stderr, "open %s: %s\n", path, err);
	CHECK(ks != NULL);
	return ks;
}

static cJSON *obj(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	if (!v)
		abort();
	return v;
}

/* The string member `key` of a JSON object; NULL when absent or not a string. */
static const char *str_at(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* True when opening path fails; err (cleared first) holds the reason. */
static bool open_refused(const char *path, char *err, size_t errlen)
{
	err[0] = '\0';
	struct fc_keystore *ks = fc_keystore_open(path, err, errlen);
	bool refused = ks == NULL;
	fc_keystore_close(ks);
	return refused;
}

/* Direct SQL on the database file, bypassing the keystore. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	long long v = -12345;
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ---- log capture ----------------------------------------------------------------------------------- */

static char captured[4096];

static void capture_sink(void *ctx, enum fc_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	size_t used = strlen(captured);
	snprintf(captured + used, sizeof captured - used, "%s\n", line);
}

/* ---- devices --------------------------------------------------------------------------------------- */

static void test_devices(void)
{
	char path[512];
	path_in_tmp(path, sizeof path, "devices.db");
	struct fc_keystore *ks = open_ok(path);
	if (!ks)
		return;
	CHECK_INT(fc_keystore_schema_version(ks), FC_KS_SCHEMA_VERSION);

	cJSON *sec = obj("{\"key\":\"k1-secret-value\"}");
	cJSON *meta = obj("{\"model\":\"mss310\",\"fw\":\"1.0\",\"ip\":\"10.0.0.5\"}");
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid1", "", sec, meta), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "tuya", "dev9", "porch", NULL, NULL), FC_KS_OK);

	struct fc_device_row r;
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid1", &r), FC_KS_OK);
	CHECK_STR(r.name, "meross_uuid1");
	CHECK_STR(str_at(r.secrets, "key"), "k1-secret-value");
	CHECK_STR(str_at(r.meta, "model"), "mss310");
	CHECK(r.created > 0 && r.updated >= r.created);
	int64_t created = r.created;
	fc_device_row_free(&r);
	CHECK(r.secrets == NULL && r.meta == NULL);

	CHECK_INT(fc_ks_device_get(ks, "tuya", "dev9", &r), FC_KS_OK);
	CHECK_STR(r.name, "porch");
	CHECK(cJSON_IsObject(r.secrets) && cJSON_GetArraySize(r.secrets) == 0); /* NULL stored as {} */
	fc_device_row_free(&r);

	CHECK_INT(fc_ks_device_get(ks, "meross", "nope", &r), FC_KS_NOTFOUND);
	CHECK(r.secrets == NULL);
	fc_device_row_free(&r);

	/* Rename, then a put with "" keeps the chosen name and `created`. */
	CHECK_INT(fc_ks_device_rename(ks, "meross", "uuid1", "kitchen"), FC_KS_OK);
	cJSON *meta2 = obj("{\"model\":\"mss310\",\"fw\":\"2.0\"}");
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid1", "", sec, meta2), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_name(ks, "kitchen", &r), FC_KS_OK);
	CHECK_STR(r.vid, "uuid1");
	CHECK_STR(str_at(r.meta, "fw"), "2.0");
	CHECK(cJSON_GetObjectItemCaseSensitive(r.meta, "ip") == NULL); /* put replaces meta */
	CHECK_INT(r.created, created);
	fc_device_row_free(&r);
	CHECK_INT(fc_ks_device_get_by_name(ks, "meross_uuid1", &r), FC_KS_NOTFOUND);
	/* An explicit name given to put does replace the old one. */
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid1", "kitchen2", sec, meta2), FC_KS_OK);
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid1", &r), FC_KS_OK);
	CHECK_STR(r.name, "kitchen2");
	fc_device_row_free(&r);
	/* rename to "" = back to the default name */
	CHECK_INT(fc_ks_device_rename(ks, "meross", "uuid1", ""), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_name(ks, "meross_uuid1", &r), FC_KS_OK);
	fc_device_row_free(&r);
	CHECK_INT(fc_ks_device_rename(ks, "meross", "nope", "x"), FC_KS_NOTFOUND);

	/* merge_meta: keys replaced/added, null deletes. */
	cJSON *patch = obj("{\"fw\":\"3.0\",\"mac\":\"aa:bb\",\"model\":null}");
	CHECK_INT(fc_ks_device_merge_meta(ks, "meross", "uuid1", patch), FC_KS_OK);
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid1", &r), FC_KS_OK);
	CHECK_STR(str_at(r.meta, "fw"), "3.0");
	CHECK_STR(str_at(r.meta, "mac"), "aa:bb");
	CHECK(cJSON_GetObjectItemCaseSensitive(r.meta, "model") == NULL);
	CHECK_STR(str_at(r.secrets, "key"), "k1-secret-value");
	fc_device_row_free(&r);
	CHECK_INT(fc_ks_device_merge_meta(ks, "meross", "nope", patch), FC_KS_NOTFOUND);

	cJSON *spatch = obj("{\"key\":\"k2-secret-value\",\"psk\":{\"id\":\"x\",\"key\":\"nested-secret-1\"}}");
	CHECK_INT(fc_ks_device_merge_secrets(ks, "meross", "uuid1", spatch), FC_KS_OK);
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid1", &r), FC_KS_OK);
	CHECK_STR(str_at(r.secrets, "key"), "k2-secret-value");
	CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r.secrets, "psk")));
	CHECK_STR(str_at(r.meta, "fw"), "3.0");
	fc_device_row_free(&r);

	/* JSON arguments must be objects. */
	cJSON *arr = obj("[1,2]");
	cJSON *str = cJSON_CreateString("x");
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid2", "", arr, NULL), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid2", "", NULL, str), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_merge_meta(ks, "meross", "uuid1", arr), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_merge_secrets(ks, "meross", "uuid1", str), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid2", &r), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_put(ks, "", "uuid2", "", NULL, NULL), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_put(ks, "meross", "", "", NULL, NULL), FC_KS_EINVAL);
	char longname[200];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK_INT(fc_ks_device_put(ks, "meross", "uuid2", longname, NULL, NULL), FC_KS_EINVAL);

	/* delete */
	CHECK_INT(fc_ks_device_put(ks, "meross", "gone", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_delete(ks, "meross", "gone"), FC_KS_OK);
	CHECK_INT(fc_ks_device_delete(ks, "meross", "gone"), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_get(ks, "meross", "gone", &r), FC_KS_NOTFOUND);

	cJSON_Delete(sec);
	cJSON_Delete(meta);
	cJSON_Delete(meta2);
	cJSON_Delete(patch);
	cJSON_Delete(spatch);
	cJSON_Delete(arr);
	cJSON_Delete(str);
	fc_keystore_close(ks);

	/* Reopen: everything persisted. */
	ks = open_ok(path);
	if (!ks)
		return;
	CHECK_INT(fc_ks_device_get(ks, "meross", "uuid1", &r), FC_KS_OK);
	CHECK_STR(r.name, "meross_uuid1");
	CHECK_STR(str_at(r.meta, "fw"), "3.0");
	CHECK_STR(str_at(r.secrets, "key"), "k2-secret-value");
	fc_device_row_free(&r);
	CHECK_INT(fc_ks_device_get_by_name(ks, "porch", &r), FC_KS_OK);
	fc_device_row_free(&r);
	CHECK_INT(fc_keystore_integrity_check(ks), FC_KS_OK);
	fc_keystore_close(ks);
}

/* ---- name uniqueness ------------------------------------------------------------------------------- */

static void test_names(void)
{
	struct fc_keystore *ks = open_ok(":memory:");
	if (!ks)
		return;
	struct fc_device_row r;
	cJSON *m1 = obj("{\"v\":1}"), *m2 = obj("{\"v\":2}");
	CHECK_INT(fc_ks_device_put(ks, "meross", "a", "lamp", NULL, m1), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "tuya", "b", "desk", NULL, m1), FC_KS_OK);

	/* A new device with a taken name: refused, nothing stored. */
	CHECK_INT(fc_ks_device_put(ks, "tuya", "c", "lamp", NULL, m2), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get(ks, "tuya", "c", &r), FC_KS_NOTFOUND);
	/* An existing device renamed by put onto a taken name: refused, its row unchanged. */
	CHECK_INT(fc_ks_device_put(ks, "tuya", "b", "lamp", NULL, m2), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get(ks, "tuya", "b", &r), FC_KS_OK);
	CHECK_STR(r.name, "desk");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r.meta, "v")), 1);
	fc_device_row_free(&r);
	/* rename onto a taken name */
	CHECK_INT(fc_ks_device_rename(ks, "tuya", "b", "lamp"), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get_by_name(ks, "lamp", &r), FC_KS_OK);
	CHECK_STR(r.vendor, "meross");
	fc_device_row_free(&r);
	/* Names are unique across vendors, default names included. */
	CHECK_INT(fc_ks_device_put(ks, "x", "y", "tuya_z", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "tuya", "z", "", NULL, NULL), FC_KS_EXISTS);
	/* A device that keeps its name on re-registration does not collide with its own default. */
	CHECK_INT(fc_ks_device_put(ks, "meross", "a", "", NULL, m2), FC_KS_OK);
	CHECK_INT(fc_ks_device_get(ks, "meross", "a", &r), FC_KS_OK);
	CHECK_STR(r.name, "lamp");
	fc_device_row_free(&r);
	/* ... even when another device holds that default name. */
	CHECK_INT(fc_ks_device_put(ks, "tuya", "d", "meross_a", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "meross", "a", "", NULL, m1), FC_KS_OK);
	CHECK_INT(fc_ks_device_get(ks, "meross", "a", &r), FC_KS_OK);
	CHECK_STR(r.name, "lamp");
	fc_device_row_free(&r);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	fc_keystore_close(ks);
}

/* ---- each ------------------------------------------------------------------------------------------ */

struct each_ctx {
	struct fc_keystore *ks;
	char seen[512];
	int calls, stop_after, nested_ok;
};

static int each_cb(void *p, const struct fc_device_row *row)
{
	struct each_ctx *c = p;
	size_t used = strlen(c->seen);
	snprintf(c->seen + used, sizeof c->seen - used, "%s/%s=%s;", row->vendor, row->vid, row->name);
	/* Re-entering the keystore from the callback (the same statement is in use) works. */
	struct fc_device_row again;
	if (fc_ks_device_get(c->ks, row->vendor, row->vid, &again) == FC_KS_OK && strcmp(again.name, row->name) == 0)
		c->nested_ok++;
	fc_device_row_free(&again);
	return ++c->calls == c->stop_after;
}

static int nested_each_cb(void *p, const struct fc_device_row *row)
{
	struct each_ctx *c = p;
	struct each_ctx inner = {c->ks, "", 0, 0, 0};
	(void)row;
	if (fc_ks_device_each(c->ks, NULL, each_cb, &inner) == FC_KS_OK && inner.calls == 3)
		c->nested_ok++;
	c->calls++;
	return 0;
}

static void test_each(void)
{
	struct fc_keystore *ks = open_ok(":memory:");
	if (!ks)
		return;
	CHECK_INT(fc_ks_device_put(ks, "tuya", "b", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "meross", "z", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "meross", "a", "first", NULL, NULL), FC_KS_OK);

	struct each_ctx c = {ks, "", 0, 0, 0};
	CHECK_INT(fc_ks_device_each(ks, NULL, each_cb, &c), FC_KS_OK);
	CHECK_STR(c.seen, "meross/a=first;meross/z=meross_z;tuya/b=tuya_b;");
	CHECK_INT(c.nested_ok, 3);

	struct each_ctx v = {ks, "", 0, 0, 0};
	CHECK_INT(fc_ks_device_each(ks, "tuya", each_cb, &v), FC_KS_OK);
	CHECK_STR(v.seen, "tuya/b=tuya_b;");

	struct each_ctx s = {ks, "", 0, 2, 0};
	CHECK_INT(fc_ks_device_each(ks, NULL, each_cb, &s), FC_KS_OK);
	CHECK_INT(s.calls, 2);

	struct each_ctx n = {ks, "", 0, 0, 0};
	CHECK_INT(fc_ks_device_each(ks, NULL, nested_each_cb, &n), FC_KS_OK);
	CHECK_INT(n.calls, 3);
	CHECK_INT(n.nested_ok, 3);

	struct each_ctx none = {ks, "", 0, 0, 0};
	CHECK_INT(fc_ks_device_each(ks, "nobody", each_cb, &none), FC_KS_OK);
	CHECK_INT(none.calls, 0);
	fc_keystore_close(ks);
}

/* ---- accounts -------------------------------------------------------------------------------------- */

static int acc_cb(void *p, const struct fc_account_row *row)
{
	char *seen = p;
	size_t used = strlen(seen);
	snprintf(seen + used, 256 - used, "%s/%s;", row->vendor, row->account_id);
	return 0;
}

static void test_accounts(void)
{
	struct fc_keystore *ks = open_ok(":memory:");
	if (!ks)
		return;
	cJSON *sec = obj("{\"key\":\"account-key-123456\"}"), *meta = obj("{\"email\":\"a@b.c\"}");
	struct fc_account_row r;
	CHECK_INT(fc_ks_account_put(ks, "meross", "u1", "me", sec, meta), FC_KS_OK);
	CHECK_INT(fc_ks_account_put(ks, "meross", "u0", NULL, NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_account_put(ks, "meross", "u2", "", sec, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_account_get(ks, "meross", "u1", &r), FC_KS_OK);
	CHECK_STR(r.name, "me");
	CHECK_STR(str_at(r.secrets, "key"), "account-key-123456");
	CHECK_STR(str_at(r.meta, "email"), "a@b.c");
	int64_t created = r.created;
	fc_account_row_free(&r);
	CHECK_INT(fc_ks_account_put(ks, "meross", "u1", "me2", NULL, meta), FC_KS_OK);
	CHECK_INT(fc_ks_account_get(ks, "meross", "u1", &r), FC_KS_OK);
	CHECK_STR(r.name, "me2");
	CHECK_INT(cJSON_GetArraySize(r.secrets), 0);
	CHECK_INT(r.created, created);
	fc_account_row_free(&r);

	char seen[256] = "";
	CHECK_INT(fc_ks_account_each(ks, NULL, acc_cb, seen), FC_KS_OK);
	CHECK_STR(seen, "meross/u0;meross/u1;meross/u2;");
	CHECK_INT(fc_ks_account_delete(ks, "meross", "u1"), FC_KS_OK);
	CHECK_INT(fc_ks_account_delete(ks, "meross", "u1"), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_account_get(ks, "meross", "u1", &r), FC_KS_NOTFOUND);
	cJSON *arr = cJSON_CreateArray();
	CHECK_INT(fc_ks_account_put(ks, "meross", "u3", "", arr, NULL), FC_KS_EINVAL);
	cJSON_Delete(arr);
	cJSON_Delete(sec);
	cJSON_Delete(meta);
	fc_keystore_close(ks);
}

/* ---- tokens ---------------------------------------------------------------------------------------- */

/* 1 when `needle` occurs anywhere in the file's bytes. */
static int file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t cap = 1 << 22, n;
	char *buf = malloc(cap);
	n = buf ? fread(buf, 1, cap, f) : 0;
	fclose(f);
	int found = buf && memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_tokens(void)
{
	char path[512], wal[600], sql[256], hash[65], acc[64];
	const char *token = "tok-PLAINTEXT-7f3a9c0d1e2b";
	path_in_tmp(path, sizeof path, "tokens.db");
	snprintf(wal, sizeof wal, "%s-wal", path);
	struct fc_keystore *ks = open_ok(path);
	if (!ks)
		return;
	CHECK_INT(fc_ks_token_put(ks, "meross", token, "user-1", "app", 1000), FC_KS_OK);
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 999, acc, sizeof acc), FC_KS_OK);
	CHECK_STR(acc, "user-1");
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 1000, acc, sizeof acc), FC_KS_NOTFOUND); /* expired */
	CHECK_STR(acc, "");
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 5000, NULL, 0), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_token_check(ks, "tuya", token, 999, acc, sizeof acc), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_token_check(ks, "meross", "tok-other", 999, acc, sizeof acc), FC_KS_NOTFOUND);
	char tiny[4];
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 999, tiny, sizeof tiny), FC_KS_EINVAL);
	/* put again replaces (new expiry, new account) */
	CHECK_INT(fc_ks_token_put(ks, "meross", token, "user-2", "app", 9000), FC_KS_OK);
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 5000, acc, sizeof acc), FC_KS_OK);
	CHECK_STR(acc, "user-2");

	/* Stored by hash only: the raw table holds the SHA-256 and the plaintext is nowhere in the files. */
	fc_sha256_hex(token, strlen(token), hash);
	CHECK_INT(strlen(hash), 64);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM tokens WHERE token_sha256 = '%s'", hash);
	CHECK_INT(raw_int(path, sql), 1);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM tokens WHERE instr(vendor || token_sha256 || account_id || kind, '%s') > 0",
		 token);
	CHECK_INT(raw_int(path, sql), 0);
	CHECK(file_contains(wal, "user-2") || file_contains(path, "user-2")); /* the search itself works */
	CHECK(!file_contains(path, token) && !file_contains(wal, token));

	CHECK_INT(fc_ks_token_delete(ks, "meross", token), FC_KS_OK);
	CHECK_INT(fc_ks_token_delete(ks, "meross", token), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_token_check(ks, "meross", token, 5000, acc, sizeof acc), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_token_put(ks, "meross", "", "user-1", "app", 1000), FC_KS_EINVAL);
	fc_keystore_close(ks);
}

/* ---- settings -------------------------------------------------------------------------------------- */

static void test_settings(void)
{
	char path[512], out[64];
	path_in_tmp(path, sizeof path, "settings.db");
	struct fc_keystore *ks = open_ok(path);
	if (!ks)
		return;
	CHECK_INT(fc_ks_setting_get(ks, "mqtt_user", out, sizeof out), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_setting_set(ks, "mqtt_user", "fakecloud-internal"), FC_KS_OK);
	CHECK_INT(fc_ks_setting_get(ks, "mqtt_user", out, sizeof out), FC_KS_OK);
	CHECK_STR(out, "fakecloud-internal");
	CHECK_INT(fc_ks_setting_set(ks, "mqtt_user", "other"), FC_KS_OK);
	CHECK_INT(fc_ks_setting_get(ks, "mqtt_user", out, sizeof out), FC_KS_OK);
	CHECK_STR(out, "other");
	char tiny[3];
	CHECK_INT(fc_ks_setting_get(ks, "mqtt_user", tiny, sizeof tiny), FC_KS_EINVAL);

	CHECK_INT(fc_ks_setting_ensure(ks, "acct", "first", out, sizeof out), FC_KS_OK);
	CHECK_STR(out, "first");
	CHECK_INT(fc_ks_setting_ensure(ks, "acct", "second", out, sizeof out), FC_KS_OK);
	CHECK_STR(out, "first");
	CHECK_INT(fc_ks_setting_ensure(ks, "acct", "third", NULL, 0), FC_KS_OK);
	CHECK_INT(fc_ks_setting_get(ks, "acct", out, sizeof out), FC_KS_OK);
	CHECK_STR(out, "first");
	fc_keystore_close(ks);

	/* ensure is atomic across processes: four racing processes all end up with one value. */
	int fds[2], go[2];
	if (pipe(fds) || pipe(go))
		abort();
	for (int i = 0; i < 4; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char b, mine[16], got[16] = "";
			close(go[1]);
			if (read(go[0], &b, 1) < 0) /* returns 0 when the parent closes: all start together */
				_exit(2);
			snprintf(mine, sizeof mine, "proc%d", i);
			struct fc_keystore *k = fc_keystore_open(path, NULL, 0);
			int rc = k ? fc_ks_setting_ensure(k, "race", mine, got, sizeof got) : FC_KS_ERR;
			fc_keystore_close(k);
			if (write(fds[1], got, sizeof got) != (ssize_t)sizeof got)
				_exit(2);
			_exit(rc == FC_KS_OK ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]);
	close(fds[1]);
	char results[4][16];
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		int st;
		if (read(fds[0], results[i], 16) == 16)
			ok++;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = -100;
	}
	close(fds[0]);
	CHECK_INT(ok, 4);
	ks = open_ok(path);
	if (!ks)
		return;
	CHECK_INT(fc_ks_setting_get(ks, "race", out, sizeof out), FC_KS_OK);
	for (int i = 0; i < 4; i++)
		CHECK_STR(results[i], out);
	fc_keystore_close(ks);
}

/* ---- secrets are registered for log redaction ------------------------------------------------------ */

static int count_rows(void *ctx, const struct fc_device_row *row)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static void test_redaction(void)
{
	const char *secret = "0123456789abcdef0123456789abcdef";
	const char *nested = "nestedSecret0123";
	const char *acc_secret = "accountSecret987654";
	struct fc_keystore *ks = open_ok(":memory:");
	if (!ks)
		return;
	cJSON *sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "key", secret);
	cJSON *inner = cJSON_AddObjectToObject(sec, "psk");
	cJSON *list = cJSON_AddArrayToObject(inner, "keys");
	cJSON_AddItemToArray(list, cJSON_CreateString(nested));
	cJSON *asec = cJSON_CreateObject();
	cJSON_AddStringToObject(asec, "key", acc_secret);
	CHECK_INT(fc_ks_device_put(ks, "meross", "r1", "", sec, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_account_put(ks, "meross", "acc", "", asec, NULL), FC_KS_OK);

	fc_log_set_sink(capture_sink, NULL);
	/* Control: with the registry cleared the value goes through, so the check below can fail. */
	fc_log_clear_secrets();
	captured[0] = '\0';
	fc_info("device key %s", secret);
	CHECK(strstr(captured, secret) != NULL);

	/* Loading the device registers its secrets, nested ones included. */
	struct fc_device_row r;
	CHECK_INT(fc_ks_device_get(ks, "meross", "r1", &r), FC_KS_OK);
	fc_device_row_free(&r);
	captured[0] = '\0';
	fc_info("device key %s nested %s", secret, nested);
	CHECK(strstr(captured, secret) == NULL && strstr(captured, nested) == NULL);
	CHECK(strstr(captured, "device key *** nested ***") != NULL);

	/* So does iterating, and loading an account. */
	fc_log_clear_secrets();
	int n = 0;
	CHECK_INT(fc_ks_device_each(ks, NULL, count_rows, &n), FC_KS_OK);
	CHECK_INT(n, 1);
	struct fc_account_row a;
	CHECK_INT(fc_ks_account_get(ks, "meross", "acc", &a), FC_KS_OK);
	fc_account_row_free(&a);
	captured[0] = '\0';
	fc_warn("k=%s a=%s", secret, acc_secret);
	CHECK(strstr(captured, "k=*** a=***") != NULL);

	/* And merging secrets registers the merged values. */
	fc_log_clear_secrets();
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddStringToObject(patch, "extra", "mergedSecretABCDEF");
	CHECK_INT(fc_ks_device_merge_secrets(ks, "meross", "r1", patch), FC_KS_OK);
	captured[0] = '\0';
	fc_info("%s %s", "mergedSecretABCDEF", secret);
	CHECK(strstr(captured, "*** ***") != NULL);

	fc_log_set_sink(NULL, NULL);
	cJSON_Delete(patch);
	cJSON_Delete(sec);
	cJSON_Delete(asec);
	fc_keystore_close(ks);
}

/* ---- aliases (a vendor-assigned second id, e.g. Tuya devId) ------------------------------------------ */

static void test_alias(void)
{
	struct fc_keystore *ks = fc_keystore_open(":memory:", NULL, 0);
	CHECK(ks != NULL);
	if (!ks)
		return;
	struct fc_device_row row;
	CHECK_INT(fc_ks_device_put(ks, "tuya", "uuid1", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "tuya", "uuid2", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev1", &row), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "uuid1", "dev1"), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev1", &row), FC_KS_OK);
	CHECK_STR(row.vid, "uuid1");
	fc_device_row_free(&row);
	/* Unique per vendor: another device cannot take it, and nothing changes. */
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "uuid2", "dev1"), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev1", &row), FC_KS_OK);
	CHECK_STR(row.vid, "uuid1");
	fc_device_row_free(&row);
	/* ...but another vendor may use the same string. */
	CHECK_INT(fc_ks_device_put(ks, "other", "x", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_set_alias(ks, "other", "x", "dev1"), FC_KS_OK);
	/* A put (secrets/meta update) keeps the alias. */
	CHECK_INT(fc_ks_device_put(ks, "tuya", "uuid1", "", NULL, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev1", &row), FC_KS_OK);
	fc_device_row_free(&row);
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "nope", "dev9"), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "uuid1", ""), FC_KS_EINVAL);
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "uuid1", NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev1", &row), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_set_alias(ks, "tuya", "uuid2", "dev1"), FC_KS_OK);

	/* put_with_alias: record and alias together, or nothing. */
	cJSON *sec = cJSON_Parse("{\"secKey\":\"s3\"}");
	CHECK_INT(fc_ks_device_put_with_alias(ks, "tuya", "uuid3", "", sec, NULL, "dev3"), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev3", &row), FC_KS_OK);
	CHECK_STR(row.vid, "uuid3");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(row.secrets, "secKey")), "s3");
	fc_device_row_free(&row);
	/* the alias of another device: the new record is not written either */
	CHECK_INT(fc_ks_device_put_with_alias(ks, "tuya", "uuid4", "", sec, NULL, "dev3"), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get(ks, "tuya", "uuid4", &row), FC_KS_NOTFOUND);
	/* an update that fails on the alias leaves the stored keys as they were */
	cJSON *sec2 = cJSON_Parse("{\"secKey\":\"changed\"}");
	CHECK_INT(fc_ks_device_put_with_alias(ks, "tuya", "uuid2", "", sec2, NULL, "dev3"), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get(ks, "tuya", "uuid2", &row), FC_KS_OK);
	CHECK(cJSON_GetObjectItem(row.secrets, "secKey") == NULL);
	fc_device_row_free(&row);
	/* a name another device has: the alias is not set */
	CHECK_INT(fc_ks_device_put_with_alias(ks, "tuya", "uuid5", "tuya_uuid1", sec, NULL, "dev5"), FC_KS_EXISTS);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", "dev5", &row), FC_KS_NOTFOUND);
	CHECK_INT(fc_ks_device_put_with_alias(ks, "tuya", "uuid5", "", sec, NULL, ""), FC_KS_EINVAL);
	/* the keystore still takes writes (no transaction left open) */
	CHECK_INT(fc_ks_device_put(ks, "tuya", "uuid6", "", NULL, NULL), FC_KS_OK);
	cJSON_Delete(sec);
	cJSON_Delete(sec2);
	fc_keystore_close(ks);
}

/* ---- migrations ------------------------------------------------------------------------------------ */

static void test_migrations(void)
{
	char path[512], err[256];
	struct fc_keystore *ks;

	/* An empty file is a version-0 database: migrated to the current version. */
	path_in_tmp(path, sizeof path, "empty.db");
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0);
	close(fd);
	ks = open_ok(path);
	if (ks) {
		CHECK_INT(fc_keystore_schema_version(ks), FC_KS_SCHEMA_VERSION);
		CHECK_INT(fc_ks_device_put(ks, "v", "1", "", NULL, NULL), FC_KS_OK);
		fc_keystore_close(ks);
	}
	CHECK_INT(raw_int(path, "PRAGMA user_version"), FC_KS_SCHEMA_VERSION);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
				"('devices', 'accounts', 'tokens', 'settings')"),
		  4);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);

	/* Opening a current database writes nothing: another connection sees no new commit. */
	sqlite3 *watch;
	CHECK_INT(sqlite3_open(path, &watch), SQLITE_OK);
	sqlite3_stmt *dv = NULL;
	CHECK_INT(sqlite3_prepare_v2(watch, "PRAGMA data_version", -1, &dv, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(dv), SQLITE_ROW);
	int before = sqlite3_column_int(dv, 0);
	sqlite3_reset(dv);
	ks = open_ok(path);
	if (ks) {
		CHECK_INT(fc_keystore_schema_version(ks), FC_KS_SCHEMA_VERSION);
		fc_keystore_close(ks);
	}
	CHECK_INT(sqlite3_step(dv), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(dv, 0), before);
	sqlite3_reset(dv);
	/* Control: a write through the keystore does change data_version. */
	ks = open_ok(path);
	if (ks) {
		CHECK_INT(fc_ks_setting_set(ks, "k", "v"), FC_KS_OK);
		fc_keystore_close(ks);
	}
	CHECK_INT(sqlite3_step(dv), SQLITE_ROW);
	CHECK(sqlite3_column_int(dv, 0) != before);
	sqlite3_finalize(dv);
	sqlite3_close(watch);

	/* A version-1 database (the first release's schema) with a device is upgraded in place: the device
	 * is still there and gains the alias column. */
	path_in_tmp(path, sizeof path, "v1.db");
	CHECK_INT(raw_exec(path, "CREATE TABLE devices (vendor TEXT NOT NULL, vid TEXT NOT NULL, name TEXT NOT NULL "
				 "UNIQUE CHECK (length(name) > 0), secrets TEXT NOT NULL DEFAULT '{}', meta TEXT NOT "
				 "NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY "
				 "(vendor, vid)); CREATE TABLE accounts (vendor TEXT NOT NULL, account_id TEXT NOT "
				 "NULL, name TEXT NOT NULL DEFAULT '', secrets TEXT NOT NULL DEFAULT '{}', meta TEXT "
				 "NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY "
				 "KEY (vendor, account_id)); CREATE TABLE tokens (vendor TEXT NOT NULL, token_sha256 "
				 "TEXT NOT NULL, account_id TEXT NOT NULL, kind TEXT NOT NULL DEFAULT '', created "
				 "INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (vendor, token_sha256)); "
				 "CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL); "
				 "INSERT INTO devices VALUES ('meross', 'u1', 'lamp', '{\"key\":\"k\"}', '{}', 1, 1); "
				 "PRAGMA user_version = 1;"),
		  SQLITE_OK);
	ks = open_ok(path);
	if (ks) {
		struct fc_device_row row;
		CHECK_INT(fc_ks_device_get_by_name(ks, "lamp", &row), FC_KS_OK);
		CHECK_STR(row.vid, "u1");
		fc_device_row_free(&row);
		CHECK_INT(fc_ks_device_set_alias(ks, "meross", "u1", "a1"), FC_KS_OK);
		fc_keystore_close(ks);
	}
	CHECK_INT(raw_int(path, "PRAGMA user_version"), FC_KS_SCHEMA_VERSION);

	/* A database from a newer fakecloud is refused and left alone (no downgrade). */
	path_in_tmp(path, sizeof path, "future.db");
	ks = open_ok(path);
	fc_keystore_close(ks);
	CHECK_INT(raw_exec(path, "PRAGMA user_version = 99"), SQLITE_OK);
	CHECK(open_refused(path, err, sizeof err));
	CHECK(strstr(err, "schema version 99 is newer") != NULL);
	CHECK(strchr(err, '\n') == NULL);
	CHECK_INT(raw_int(path, "PRAGMA user_version"), 99);

	/* A version-0 database with a conflicting table: the migration fails as a whole and nothing of it
	 * remains (its transaction is rolled back). */
	path_in_tmp(path, sizeof path, "foreign.db");
	CHECK_INT(raw_exec(path, "CREATE TABLE tokens (x INTEGER)"), SQLITE_OK);
	CHECK(open_refused(path, err, sizeof err));
	CHECK(strstr(err, "migration 0 -> 1 failed") != NULL);
	CHECK_INT(raw_int(path, "PRAGMA user_version"), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'devices'"), 0);

	/* Not a database at all. */
	path_in_tmp(path, sizeof path, "garbage.db");
	FILE *f = fopen(path, "wb");
	if (f) {
		for (int i = 0; i < 512; i++)
			fputs("not a database ", f);
		fclose(f);
	}
	CHECK(open_refused(path, err, sizeof err));
	CHECK(err[0] != '\0');

	/* Several processes opening the same fresh database at once: all succeed, migrated once. */
	path_in_tmp(path, sizeof path, "fresh-race.db");
	int go[2];
	if (pipe(go))
		abort();
	for (int i = 0; i < 4; i++) {
		if (fork() == 0) {
			char b;
			close(go[1]);
			if (read(go[0], &b, 1) < 0)
				_exit(2);
			char e[256] = "";
			struct fc_keystore *k = fc_keystore_open(path, e, sizeof e);
			if (!k)
				fprintf(stderr, "child open: %s\n", e);
			int ok = k && fc_keystore_schema_version(k) == FC_KS_SCHEMA_VERSION;
			fc_keystore_close(k);
			_exit(ok ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]);
	int good = 0;
	for (int i = 0; i < 4; i++) {
		int st;
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			good++;
	}
	CHECK_INT(good, 4);
	CHECK_INT(raw_int(path, "PRAGMA user_version"), FC_KS_SCHEMA_VERSION);
}

/* ---- two processes writing and reading at once ----------------------------------------------------- */

#define PER_PROC 500

/* Inserts PER_PROC devices of vendor `mine`, then reads all of `theirs`. Returns the number of failures. */
static int writer(const char *path, const char *mine, const char *theirs)
{
	int fails = 0;
	char vid[32], err[256] = "";
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "%s: open: %s\n", mine, err);
		return 1;
	}
	for (int i = 0; i < PER_PROC; i++) {
		snprintf(vid, sizeof vid, "%d", i);
		cJSON *meta = cJSON_CreateObject();
		cJSON_AddNumberToObject(meta, "i", i);
		int rc = fc_ks_device_put(ks, mine, vid, "", NULL, meta);
		cJSON_Delete(meta);
		if (rc != FC_KS_OK) {
			fprintf(stderr, "%s: put %d: %d\n", mine, i, rc);
			fails++;
		}
		struct fc_device_row r;
		rc = fc_ks_device_get(ks, theirs, vid, &r);
		fc_device_row_free(&r);
		if (rc != FC_KS_OK && rc != FC_KS_NOTFOUND) {
			fprintf(stderr, "%s: get %d: %d\n", mine, i, rc);
			fails++;
		}
	}
	/* Wait (bounded) until every device of the other process is visible, and check its content. */
	time_t deadline = time(NULL) + 60;
	for (int i = 0; i < PER_PROC && fails < 10;) {
		struct fc_device_row r;
		snprintf(vid, sizeof vid, "%d", i);
		int rc = fc_ks_device_get(ks, theirs, vid, &r);
		if (rc == FC_KS_OK) {
			if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r.meta, "i")) != i)
				fails++;
			i++;
		} else if (rc != FC_KS_NOTFOUND || time(NULL) > deadline) {
			fprintf(stderr, "%s: reading %s/%d: %d\n", mine, theirs, i, rc);
			fails++;
			i++;
		} else {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		fc_device_row_free(&r);
	}
	fc_keystore_close(ks);
	return fails;
}

static void test_two_processes(void)
{
	char path[512];
	path_in_tmp(path, sizeof path, "concurrent.db");
	int go[2];
	if (pipe(go))
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) < 0)
			_exit(100);
		_exit(writer(path, "child", "parent") ? 1 : 0);
	}
	close(go[0]);
	close(go[1]); /* both start now, on a database neither has created yet */
	int fails = writer(path, "parent", "child");
	CHECK_INT(fails, 0);
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	struct fc_keystore *ks = open_ok(path);
	if (!ks)
		return;
	int n = 0;
	CHECK_INT(fc_ks_device_each(ks, NULL, count_rows, &n), FC_KS_OK);
	CHECK_INT(n, 2 * PER_PROC);
	n = 0;
	CHECK_INT(fc_ks_device_each(ks, "child", count_rows, &n), FC_KS_OK);
	CHECK_INT(n, PER_PROC);
	CHECK_INT(fc_keystore_integrity_check(ks), FC_KS_OK);
	fc_keystore_close(ks);
}

/* ---- ownership: root working on the broker user's database ---------------------------------------- */

static void check_owner(const char *path, uid_t uid, gid_t gid)
{
	struct stat sb;
	int ok = stat(path, &sb) == 0;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  missing: %s\n", path);
	else if (sb.st_uid != uid || sb.st_gid != gid)
		fprintf(stderr, "  %s owned by %d:%d\n", path, (int)sb.st_uid, (int)sb.st_gid);
	CHECK(ok && sb.st_uid == uid && sb.st_gid == gid);
}

static void test_ownership(void)
{
	if (geteuid() != 0) {
		printf("skip: ownership test needs root\n");
		return;
	}
	const uid_t uid = 65534;
	const gid_t gid = 65534;
	char path[512], wal[600], shm[600];
	path_in_tmp(path, sizeof path, "owned.db");
	snprintf(wal, sizeof wal, "%s-wal", path);
	snprintf(shm, sizeof shm, "%s-shm", path);
	struct fc_keystore *ks = open_ok(path);
	fc_keystore_close(ks);

	/* -wal and -shm already exist, created by root while the file was still root's (SQLite only
	 * chowns files it creates itself); then the database is handed to the broker's user. */
	sqlite3 *holder;
	CHECK_INT(sqlite3_open(path, &holder), SQLITE_OK);
	CHECK_INT(sqlite3_exec(holder, "SELECT count(*) FROM devices", NULL, NULL, NULL), SQLITE_OK);
	check_owner(wal, 0, 0);
	check_owner(shm, 0, 0);
	CHECK(chown(path, uid, gid) == 0);

	ks = open_ok(path);
	if (ks) {
		check_owner(wal, uid, gid);
		check_owner(shm, uid, gid);
		CHECK_INT(fc_ks_device_put(ks, "o", "1", "", NULL, NULL), FC_KS_OK);
		check_owner(wal, uid, gid);
		check_owner(shm, uid, gid);
		check_owner(path, uid, gid);
		fc_keystore_close(ks);
	}
	sqlite3_close(holder); /* last connection: -wal and -shm are removed */

	/* Fresh -wal/-shm created by a root process stay with the database's owner too. */
	ks = open_ok(path);
	if (ks) {
		CHECK_INT(fc_ks_device_put(ks, "o", "2", "", NULL, NULL), FC_KS_OK);
		check_owner(wal, uid, gid);
		check_owner(shm, uid, gid);
		fc_keystore_close(ks);
	}

	/* A symlink planted as -wal is never followed by the chown (SQLite refuses it as well). */
	char target[512];
	path_in_tmp(target, sizeof target, "victim");
	int fd = open(target, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(symlink(target, wal) == 0);
	fc_log_set_sink(capture_sink, NULL);
	ks = fc_keystore_open(path, NULL, 0);
	fc_log_set_sink(NULL, NULL);
	fc_keystore_close(ks);
	check_owner(target, 0, 0);
	unlink(wal);
}

/* ---- main ------------------------------------------------------------------------------------------ */

static void remove_tree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/fc_test_keystore_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_devices();
	test_names();
	test_each();
	test_accounts();
	test_tokens();
	test_settings();
	test_redaction();
	test_alias();
	test_migrations();
	test_two_processes();
	test_ownership();
	remove_tree(tmpdir);
	return t_done();
}
