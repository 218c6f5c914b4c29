/* The keystore on SQLite: see keystore.h.
 *
 * One handle owns one connection (WAL, synchronous=NORMAL, busy_timeout, foreign keys) and a cache of
 * prepared statements. The schema is created and upgraded by an ordered list of migration steps, each
 * run in its own BEGIN IMMEDIATE transaction that re-reads user_version, so that two processes opening a
 * fresh database at once migrate it exactly once. */
#include "core/keystore.h"

#include "core/crypto.h"
#include "core/log.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- schema ---------------------------------------------------------------------------------------- */

/* migrations[i] upgrades a database from user_version i to i + 1. Append a step to add a version and
 * bump FC_KS_SCHEMA_VERSION; never edit a step that has shipped. */
static const char *const migrations[] = {
	/* 0 -> 1: initial schema */
	"CREATE TABLE devices ("
	"  vendor  TEXT NOT NULL,"
	"  vid     TEXT NOT NULL,"
	"  name    TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
	"  secrets TEXT NOT NULL DEFAULT '{}',"
	"  meta    TEXT NOT NULL DEFAULT '{}',"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (vendor, vid));"
	"CREATE TABLE accounts ("
	"  vendor     TEXT NOT NULL,"
	"  account_id TEXT NOT NULL,"
	"  name       TEXT NOT NULL DEFAULT '',"
	"  secrets    TEXT NOT NULL DEFAULT '{}',"
	"  meta       TEXT NOT NULL DEFAULT '{}',"
	"  created    INTEGER NOT NULL,"
	"  updated    INTEGER NOT NULL,"
	"  PRIMARY KEY (vendor, account_id));"
	"CREATE TABLE tokens ("
	"  vendor       TEXT NOT NULL,"
	"  token_sha256 TEXT NOT NULL,"
	"  account_id   TEXT NOT NULL,"
	"  kind         TEXT NOT NULL DEFAULT '',"
	"  created      INTEGER NOT NULL,"
	"  expires      INTEGER NOT NULL,"
	"  PRIMARY KEY (vendor, token_sha256));"
	"CREATE TABLE settings ("
	"  key   TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL);",
	/* 1 -> 2: a second, vendor-assigned id per device (Tuya's devId, minted at activation; the device
	 * is keyed by the factory uuid its owner imports). Unique per vendor when set. */
	"ALTER TABLE devices ADD COLUMN alias TEXT;"
	"CREATE UNIQUE INDEX devices_alias ON devices (vendor, alias) WHERE alias IS NOT NULL;",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == FC_KS_SCHEMA_VERSION,
	       "one migration step per schema version");

/* ---- statements ------------------------------------------------------------------------------------ */

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DEV_PUT,
	ST_DEV_GET,
	ST_DEV_GET_BY_NAME,
	ST_DEV_EACH,
	ST_DEV_GET_META,
	ST_DEV_GET_SECRETS,
	ST_DEV_SET_META,
	ST_DEV_SET_SECRETS,
	ST_DEV_RENAME,
	ST_DEV_DELETE,
	ST_DEV_SET_ALIAS,
	ST_DEV_GET_BY_ALIAS,
	ST_ACC_PUT,
	ST_ACC_GET,
	ST_ACC_EACH,
	ST_ACC_DELETE,
	ST_TOK_PUT,
	ST_TOK_GET,
	ST_TOK_DELETE,
	ST_SET_GET,
	ST_SET_SET,
	ST_SET_ADD,
	ST_COUNT
};

#define DEV_COLS "vendor, vid, name, secrets, meta, created, updated"
#define ACC_COLS "vendor, account_id, name, secrets, meta, created, updated"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* ?7 = 1 keeps the stored name of an existing device ("" given: only a new device gets the default). */
	[ST_DEV_PUT] = "INSERT INTO devices (" DEV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
		       "ON CONFLICT (vendor, vid) DO UPDATE SET "
		       "name = CASE WHEN ?7 THEN devices.name ELSE excluded.name END, "
		       "secrets = excluded.secrets, meta = excluded.meta, updated = excluded.updated",
	[ST_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_GET_BY_NAME] = "SELECT " DEV_COLS " FROM devices WHERE name = ?1",
	[ST_DEV_EACH] = "SELECT " DEV_COLS " FROM devices WHERE ?1 IS NULL OR vendor = ?1 ORDER BY vendor, vid",
	[ST_DEV_GET_META] = "SELECT meta FROM devices WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_GET_SECRETS] = "SELECT secrets FROM devices WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_SET_META] = "UPDATE devices SET meta = ?3, updated = ?4 WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_SET_SECRETS] = "UPDATE devices SET secrets = ?3, updated = ?4 WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_RENAME] = "UPDATE devices SET name = ?3, updated = ?4 WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_DELETE] = "DELETE FROM devices WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_SET_ALIAS] = "UPDATE devices SET alias = ?3, updated = ?4 WHERE vendor = ?1 AND vid = ?2",
	[ST_DEV_GET_BY_ALIAS] = "SELECT " DEV_COLS " FROM devices WHERE vendor = ?1 AND alias = ?2",
	[ST_ACC_PUT] = "INSERT INTO accounts (" ACC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
		       "ON CONFLICT (vendor, account_id) DO UPDATE SET "
		       "name = excluded.name, secrets = excluded.secrets, meta = excluded.meta, "
		       "updated = excluded.updated",
	[ST_ACC_GET] = "SELECT " ACC_COLS " FROM accounts WHERE vendor = ?1 AND account_id = ?2",
	[ST_ACC_EACH] = "SELECT " ACC_COLS " FROM accounts WHERE ?1 IS NULL OR vendor = ?1 "
			"ORDER BY vendor, account_id",
	[ST_ACC_DELETE] = "DELETE FROM accounts WHERE vendor = ?1 AND account_id = ?2",
	[ST_TOK_PUT] = "INSERT OR REPLACE INTO tokens (vendor, token_sha256, account_id, kind, created, expires) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_TOK_GET] = "SELECT account_id, expires FROM tokens WHERE vendor = ?1 AND token_sha256 = ?2",
	[ST_TOK_DELETE] = "DELETE FROM tokens WHERE vendor = ?1 AND token_sha256 = ?2",
	[ST_SET_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SET_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
		       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_SET_ADD] = "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
};

struct fc_keystore {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[ST_COUNT];
	/* Root opened a database owned by someone else: keep -wal/-shm owned by that user too. */
	bool fix_owner;
	bool fixed_after_write;
	uid_t owner_uid;
	gid_t owner_gid;
};

/* A statement in use. Normally the cached one; when that is busy (a callback of an _each re-entering the
 * keystore with the same statement) a private copy that is finalized on release. */
struct stmt {
	sqlite3_stmt *s;
	bool owned;
};

static int stmt_get(struct fc_keystore *ks, enum stmt_id id, struct stmt *st)
{
	st->owned = false;
	st->s = ks->stmt[id];
	if (st->s && !sqlite3_stmt_busy(st->s))
		return 0;
	sqlite3_stmt *s = NULL;
	unsigned flags = st->s ? 0 : SQLITE_PREPARE_PERSISTENT;
	if (sqlite3_prepare_v3(ks->db, stmt_sql[id], -1, flags, &s, NULL) != SQLITE_OK) {
		fc_error("keystore: cannot prepare statement %d: %s", (int)id, sqlite3_errmsg(ks->db));
		sqlite3_finalize(s);
		st->s = NULL;
		return -1;
	}
	if (st->s) {
		st->owned = true;
	} else {
		ks->stmt[id] = s;
	}
	st->s = s;
	return 0;
}

static void stmt_release(struct stmt *st)
{
	if (!st->s)
		return;
	if (st->owned) {
		sqlite3_finalize(st->s);
	} else {
		sqlite3_reset(st->s);
		sqlite3_clear_bindings(st->s);
	}
	st->s = NULL;
}

static void bind_text(struct stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st->s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st->s, i);
}

/* Runs a statement that returns no rows. Returns the sqlite result code (SQLITE_DONE on success). */
static int stmt_exec(struct fc_keystore *ks, enum stmt_id id)
{
	struct stmt st;
	if (stmt_get(ks, id, &st))
		return SQLITE_ERROR;
	int rc = sqlite3_step(st.s);
	stmt_release(&st);
	return rc;
}

static int tx_begin(struct fc_keystore *ks, const char *what)
{
	int rc = stmt_exec(ks, ST_BEGIN);
	if (rc != SQLITE_DONE) {
		fc_error("keystore: %s: cannot begin transaction: %s", what, sqlite3_errmsg(ks->db));
		return FC_KS_ERR;
	}
	return FC_KS_OK;
}

static int tx_commit(struct fc_keystore *ks, const char *what)
{
	int rc = stmt_exec(ks, ST_COMMIT);
	if (rc != SQLITE_DONE) {
		fc_error("keystore: %s: commit failed: %s", what, sqlite3_errmsg(ks->db));
		if (!sqlite3_get_autocommit(ks->db))
			stmt_exec(ks, ST_ROLLBACK);
		return FC_KS_ERR;
	}
	return FC_KS_OK;
}

static void tx_rollback(struct fc_keystore *ks)
{
	if (!sqlite3_get_autocommit(ks->db))
		stmt_exec(ks, ST_ROLLBACK);
}

/* ---- helpers --------------------------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s", buf);
	else
		fc_error("%s", buf);
}

/* Capacities of the row fields; longer values are refused (FC_KS_EINVAL) instead of being truncated. */
#define VENDOR_CAP sizeof(((struct fc_device_row *)0)->vendor)
#define VID_CAP sizeof(((struct fc_device_row *)0)->vid)
#define NAME_CAP sizeof(((struct fc_device_row *)0)->name)
#define ACCOUNT_CAP sizeof(((struct fc_account_row *)0)->account_id)
#define ACCOUNT_NAME_CAP sizeof(((struct fc_account_row *)0)->name)

static bool valid_id(const char *s, size_t cap)
{
	return s && s[0] && strlen(s) < cap;
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);
	snprintf(dst, cap, "%s", v ? v : "");
}

/* "<vendor>_<vid>" into out; -1 when it does not fit a name. */
static int default_name(const char *vendor, const char *vid, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s_%s", vendor, vid);
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* Text of a JSON object argument (NULL means {}). */
struct json_arg {
	const char *text;
	char *owned;
};

/* FC_KS_OK, FC_KS_EINVAL (not an object) or FC_KS_ERR (out of memory). */
static int json_arg_init(struct json_arg *a, const cJSON *obj)
{
	a->owned = NULL;
	a->text = "{}";
	if (!obj)
		return FC_KS_OK;
	if (!cJSON_IsObject(obj))
		return FC_KS_EINVAL;
	if (!(a->owned = cJSON_PrintUnformatted(obj)))
		return FC_KS_ERR;
	a->text = a->owned;
	return FC_KS_OK;
}

static void json_arg_free(struct json_arg *a)
{
	cJSON_free(a->owned);
	a->owned = NULL;
}

/* Parse a stored JSON column; it must be a whole, NUL-terminated object. */
static cJSON *json_column(sqlite3_stmt *s, int col)
{
	const char *text = (const char *)sqlite3_column_text(s, col);
	int len = sqlite3_column_bytes(s, col);
	if (!text || len < 0 || strlen(text) != (size_t)len)
		return NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(text, (size_t)len + 1, NULL, 1);
	if (v && !cJSON_IsObject(v)) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

/* Every string value (at any depth) of a secrets object is redacted from logs from now on. */
static void register_secrets(const cJSON *v)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		if (cJSON_IsString(it) && it->valuestring)
			fc_log_register_secret(it->valuestring, strlen(it->valuestring));
		else if (cJSON_IsObject(it) || cJSON_IsArray(it))
			register_secrets(it);
	}
}

/* After open and after the first write: the -wal and -shm files follow the database file's owner
 * when root works on a database that belongs to another user (the broker's). */
static void fix_owner_files(struct fc_keystore *ks)
{
	static const char *const suffix[] = {"-wal", "-shm"};
	if (!ks->fix_owner)
		return;
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		char p[4096];
		if (snprintf(p, sizeof p, "%s%s", ks->path, suffix[i]) >= (int)sizeof p)
			continue;
		/* O_NOFOLLOW + fstat: never chown what a symlink planted next to the database points to. */
		int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT)
				fc_warn("keystore: cannot open %s to fix its owner: %s", p, strerror(errno));
			continue;
		}
		struct stat sb;
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (sb.st_uid != ks->owner_uid || sb.st_gid != ks->owner_gid) &&
		    fchown(fd, ks->owner_uid, ks->owner_gid) != 0)
			fc_warn("keystore: cannot chown %s: %s", p, strerror(errno));
		close(fd);
	}
}

static void after_write(struct fc_keystore *ks)
{
	if (ks->fix_owner && !ks->fixed_after_write) {
		ks->fixed_after_write = true;
		fix_owner_files(ks);
	}
}

/* Maps the result of a write statement. */
static int write_result(struct fc_keystore *ks, int rc, const char *what, const char *vendor, const char *id)
{
	if (rc == SQLITE_DONE) {
		after_write(ks);
		return FC_KS_OK;
	}
	if (sqlite3_extended_errcode(ks->db) == SQLITE_CONSTRAINT_UNIQUE ||
	    sqlite3_extended_errcode(ks->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return FC_KS_EXISTS;
	fc_error("keystore: %s %s/%s: %s", what, vendor ? vendor : "", id ? id : "", sqlite3_errmsg(ks->db));
	return FC_KS_ERR;
}

/* ---- open, migrate, close -------------------------------------------------------------------------- */

static int read_user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int v = 0;
	if (read_user_version(db, &v) != SQLITE_OK) {
		set_err(err, errlen, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	/* Each step in its own write transaction; the version is read again once the write lock is held,
	 * so a step another process has just applied is not applied twice. */
	while (v < N_MIGRATIONS) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, errlen, "%s: cannot begin migration: %s", path, sqlite3_errmsg(db));
			return -1;
		}
		if (read_user_version(db, &v) != SQLITE_OK) {
			set_err(err, errlen, "%s: cannot read schema version: %s", path, sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (v >= N_MIGRATIONS) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			break;
		}
		char bump[64];
		snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, errlen, "%s: schema migration %d -> %d failed: %s", path, v, v + 1,
				sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, errlen, "%s: schema migration %d -> %d: commit failed: %s", path, v, v + 1,
				sqlite3_errmsg(db));
			if (!sqlite3_get_autocommit(db))
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		fc_info("keystore: %s: schema upgraded to version %d", path, v + 1);
		v++;
	}
	if (v > N_MIGRATIONS) {
		set_err(err, errlen,
			"%s: database schema version %d is newer than this fakecloud supports (%d); "
			"upgrade fakecloud or use another store",
			path, v, N_MIGRATIONS);
		return -1;
	}
	return 0;
}

/* journal_mode=WAL needs a brief exclusive lock on a fresh database; retry while another process
 * holds it (the busy handler is not consulted for every path of the mode change). */
static int enable_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		sqlite3_stmt *s = NULL;
		int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(s, 0);
			bool ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
			if (!ok)
				set_err(err, errlen, "%s: cannot enable WAL (journal mode stays '%s')", path,
					mode ? mode : "?");
			sqlite3_finalize(s);
			return ok ? 0 : -1;
		}
		sqlite3_finalize(s);
		if (((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) && attempt < 500) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		set_err(err, errlen, "%s: cannot enable WAL: %s", path, sqlite3_errmsg(db));
		return -1;
	}
}

static bool is_memory_path(const char *path)
{
	return path[0] == '\0' || strcmp(path, ":memory:") == 0;
}

struct fc_keystore *fc_keystore_open(const char *path, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!path) {
		set_err(err, errlen, "keystore: no path given");
		return NULL;
	}
	struct fc_keystore *ks = calloc(1, sizeof *ks);
	if (!ks || !(ks->path = strdup(path))) {
		free(ks);
		set_err(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
	int rc = sqlite3_open_v2(path, &ks->db, flags, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: cannot open: %s", path, ks->db ? sqlite3_errmsg(ks->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(ks->db, 1);
	/* busy_timeout first: the following steps may wait for another process. */
	if (sqlite3_exec(ks->db, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, "%s: cannot set busy_timeout: %s", path, sqlite3_errmsg(ks->db));
		goto fail;
	}
	if (enable_wal(ks->db, path, err, errlen))
		goto fail;
	/* cache_size: SQLite's default 2 MiB page cache per connection filled with keystore pages and stayed
	 * in the broker (about 0.8 KB per device at 1000 devices). Lookups are by key; the OS caches the
	 * file anyway. */
	if (sqlite3_exec(ks->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -256",
			 NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, "%s: cannot set pragmas: %s", path, sqlite3_errmsg(ks->db));
		goto fail;
	}
	if (!is_memory_path(path) && geteuid() == 0) {
		struct stat sb;
		if (stat(path, &sb) == 0 && sb.st_uid != 0) {
			ks->fix_owner = true;
			ks->owner_uid = sb.st_uid;
			ks->owner_gid = sb.st_gid;
		}
	}
	if (migrate(ks->db, path, err, errlen))
		goto fail;
	fix_owner_files(ks);
	return ks;
fail:
	fix_owner_files(ks);
	fc_keystore_close(ks);
	return NULL;
}

int64_t fc_ks_memory_used(void) { return (int64_t)sqlite3_memory_used(); }

void fc_keystore_close(struct fc_keystore *ks)
{
	if (!ks)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(ks->stmt[i]);
	sqlite3_close_v2(ks->db);
	free(ks->path);
	free(ks);
}

int fc_keystore_schema_version(struct fc_keystore *ks)
{
	int v = 0;
	if (read_user_version(ks->db, &v) != SQLITE_OK) {
		fc_error("keystore: cannot read schema version: %s", sqlite3_errmsg(ks->db));
		return -1;
	}
	return v;
}

int fc_keystore_integrity_check(struct fc_keystore *ks)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(ks->db, "PRAGMA integrity_check", -1, &s, NULL);
	int result = FC_KS_ERR;
	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(s, 0);
		if (r && strcmp(r, "ok") == 0)
			result = FC_KS_OK;
		else
			fc_error("keystore: integrity check: %s", r ? r : "(no result)");
	} else {
		fc_error("keystore: integrity check failed: %s", sqlite3_errmsg(ks->db));
	}
	sqlite3_finalize(s);
	return result;
}

/* ---- devices and accounts: two tables of one shape ------------------------------------------------- */

/* The fields of a device or an account row (id is vid or account_id), whichever struct holds them. */
struct row_view {
	char *vendor, *id, *name;
	cJSON **secrets, **meta;
	int64_t *created, *updated;
};

/* What tells the device table from the account table. Every row statement selects DEV_COLS or ACC_COLS
 * and binds ?1 = vendor, ?2 = id. */
struct table {
	const char *noun; /* "device", "account": in log messages */
	size_t id_cap, name_cap, row_size;
	enum stmt_id put, get, each;
	bool put_keeps_name; /* put binds ?7: keep the stored name of an existing row */
	struct row_view (*view)(void *row);
};

static struct row_view device_view(void *row)
{
	struct fc_device_row *r = row;
	return (struct row_view){r->vendor, r->vid, r->name, &r->secrets, &r->meta, &r->created, &r->updated};
}

static struct row_view account_view(void *row)
{
	struct fc_account_row *r = row;
	return (struct row_view){r->vendor, r->account_id, r->name, &r->secrets, &r->meta, &r->created,
				 &r->updated};
}

static const struct table devices = {"device", VID_CAP, NAME_CAP, sizeof(struct fc_device_row),
				     ST_DEV_PUT, ST_DEV_GET, ST_DEV_EACH, true, device_view};
static const struct table accounts = {"account", ACCOUNT_CAP, ACCOUNT_NAME_CAP, sizeof(struct fc_account_row),
				      ST_ACC_PUT, ST_ACC_GET, ST_ACC_EACH, false, account_view};
_Static_assert(sizeof(((struct fc_account_row *)0)->vendor) == VENDOR_CAP, "one vendor capacity");

static void row_free(struct row_view v)
{
	cJSON_Delete(*v.secrets);
	cJSON_Delete(*v.meta);
	*v.secrets = NULL;
	*v.meta = NULL;
}

/* Fills a row from the current result of a DEV_COLS / ACC_COLS statement. -1 when a stored JSON value
 * is bad. */
static int row_load(const struct table *t, sqlite3_stmt *s, void *row)
{
	memset(row, 0, t->row_size);
	struct row_view v = t->view(row);
	copy_col(v.vendor, VENDOR_CAP, s, 0);
	copy_col(v.id, t->id_cap, s, 1);
	copy_col(v.name, t->name_cap, s, 2);
	*v.secrets = json_column(s, 3);
	*v.meta = json_column(s, 4);
	*v.created = sqlite3_column_int64(s, 5);
	*v.updated = sqlite3_column_int64(s, 6);
	if (!*v.secrets || !*v.meta) {
		fc_error("keystore: %s %s/%s: stored JSON is not an object", t->noun, v.vendor, v.id);
		row_free(v);
		return -1;
	}
	register_secrets(*v.secrets);
	return 0;
}

/* Insert or update (vendor, id); `keep_name` only where the table's put statement takes it. */
static int row_put(struct fc_keystore *ks, const struct table *t, const char *vendor, const char *id,
		   const char *name, bool keep_name, const cJSON *secrets, const cJSON *meta)
{
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(id, t->id_cap) || strlen(name) >= t->name_cap)
		return FC_KS_EINVAL;
	struct json_arg sj, mj;
	int result = json_arg_init(&sj, secrets);
	if (result == FC_KS_OK)
		result = json_arg_init(&mj, meta);
	else
		mj.owned = NULL;
	if (result != FC_KS_OK)
		goto out;
	register_secrets(secrets);
	struct stmt st;
	result = FC_KS_ERR;
	if (stmt_get(ks, t->put, &st))
		goto out;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, id);
	bind_text(&st, 3, name);
	bind_text(&st, 4, sj.text);
	bind_text(&st, 5, mj.text);
	sqlite3_bind_int64(st.s, 6, (sqlite3_int64)time(NULL));
	if (t->put_keeps_name)
		sqlite3_bind_int(st.s, 7, keep_name);
	char what[32];
	snprintf(what, sizeof what, "%s put", t->noun);
	result = write_result(ks, sqlite3_step(st.s), what, vendor, id);
	stmt_release(&st);
out:
	json_arg_free(&sj);
	json_arg_free(&mj);
	return result;
}

/* Runs a single-row query with its parameters already bound. An error is logged as "<what>: ..." or,
 * given a vendor, "<what> <vendor>/<id>: ...". */
static int row_fetch(struct fc_keystore *ks, const struct table *t, struct stmt *st, const char *what,
		     const char *vendor, const char *id, void *out)
{
	int rc = sqlite3_step(st->s);
	int result;
	if (rc == SQLITE_ROW)
		result = row_load(t, st->s, out) ? FC_KS_ERR : FC_KS_OK;
	else if (rc == SQLITE_DONE)
		result = FC_KS_NOTFOUND;
	else {
		if (vendor)
			fc_error("keystore: %s %s/%s: %s", what, vendor, id, sqlite3_errmsg(ks->db));
		else
			fc_error("keystore: %s: %s", what, sqlite3_errmsg(ks->db));
		result = FC_KS_ERR;
	}
	stmt_release(st);
	return result;
}

/* The row of (vendor, id); `log_key` adds them to an error message. */
static int row_get(struct fc_keystore *ks, const struct table *t, const char *vendor, const char *id,
		   bool log_key, void *out)
{
	memset(out, 0, t->row_size);
	if (!vendor || !id)
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, t->get, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, id);
	char what[32];
	snprintf(what, sizeof what, "%s get", t->noun);
	return row_fetch(ks, t, &st, what, log_key ? vendor : NULL, id, out);
}

/* A caller's _each callback: the member for the table. */
union each_fn {
	int (*device)(void *ctx, const struct fc_device_row *row);
	int (*account)(void *ctx, const struct fc_account_row *row);
};

/* Calls fn for each row (vendor NULL = all). A row whose JSON is bad is logged and skipped, and makes
 * the result FC_KS_ERR; the other rows are still visited. */
static int row_each(struct fc_keystore *ks, const struct table *t, const char *vendor, union each_fn fn,
		    void *ctx)
{
	struct stmt st;
	if (stmt_get(ks, t->each, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	int result = FC_KS_OK, rc;
	while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
		union {
			struct fc_device_row device;
			struct fc_account_row account;
		} row;
		if (row_load(t, st.s, &row)) {
			result = FC_KS_ERR;
			continue;
		}
		int stop = t == &devices ? fn.device(ctx, &row.device) : fn.account(ctx, &row.account);
		row_free(t->view(&row));
		if (stop)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fc_error("keystore: %s each: %s", t->noun, sqlite3_errmsg(ks->db));
		result = FC_KS_ERR;
	}
	stmt_release(&st);
	return result;
}

/* ---- devices --------------------------------------------------------------------------------------- */

void fc_device_row_free(struct fc_device_row *row)
{
	if (row)
		row_free(device_view(row));
}

int fc_ks_device_put(struct fc_keystore *ks, const char *vendor, const char *vid, const char *name,
		     const struct cJSON *secrets, const struct cJSON *meta)
{
	char defname[NAME_CAP];
	if (!name)
		name = "";
	/* "" names a new device "<vendor>_<vid>" and leaves the name of an existing one alone (a device
	 * registering again must not undo a rename). */
	bool keep_name = name[0] == '\0';
	if (keep_name) {
		if (!valid_id(vendor, VENDOR_CAP) || !valid_id(vid, VID_CAP) ||
		    default_name(vendor, vid, defname, sizeof defname))
			return FC_KS_EINVAL;
		name = defname;
	}
	return row_put(ks, &devices, vendor, vid, name, keep_name, secrets, meta);
}

/* Shallow merge: each key of patch replaces the stored one; a JSON null removes it. */
static int merge_into(cJSON *stored, const cJSON *patch)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, patch)
	{
		if (!it->string)
			continue;
		if (cJSON_IsNull(it)) {
			cJSON_DeleteItemFromObjectCaseSensitive(stored, it->string);
			continue;
		}
		cJSON *copy = cJSON_Duplicate(it, 1);
		if (!copy)
			return -1;
		bool ok = cJSON_GetObjectItemCaseSensitive(stored, it->string)
				  ? cJSON_ReplaceItemInObjectCaseSensitive(stored, it->string, copy)
				  : cJSON_AddItemToObject(stored, it->string, copy);
		if (!ok) {
			cJSON_Delete(copy);
			return -1;
		}
	}
	return 0;
}

static int device_merge(struct fc_keystore *ks, const char *vendor, const char *vid, const cJSON *patch,
			bool secrets)
{
	const char *what = secrets ? "device merge secrets" : "device merge meta";
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(vid, VID_CAP))
		return FC_KS_EINVAL;
	if (patch && !cJSON_IsObject(patch))
		return FC_KS_EINVAL;
	if (tx_begin(ks, what))
		return FC_KS_ERR;

	int result = FC_KS_ERR;
	cJSON *stored = NULL;
	char *text = NULL;
	struct stmt st;
	if (stmt_get(ks, secrets ? ST_DEV_GET_SECRETS : ST_DEV_GET_META, &st))
		goto out;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, vid);
	int rc = sqlite3_step(st.s);
	if (rc == SQLITE_ROW) {
		stored = json_column(st.s, 0);
		if (!stored)
			fc_error("keystore: %s %s/%s: stored JSON is not an object", what, vendor, vid);
	} else if (rc == SQLITE_DONE) {
		result = FC_KS_NOTFOUND;
	} else {
		fc_error("keystore: %s %s/%s: %s", what, vendor, vid, sqlite3_errmsg(ks->db));
	}
	stmt_release(&st);
	if (!stored)
		goto out;
	if (patch && merge_into(stored, patch)) {
		fc_error("keystore: %s %s/%s: out of memory", what, vendor, vid);
		goto out;
	}
	if (secrets)
		register_secrets(stored);
	if (!(text = cJSON_PrintUnformatted(stored)))
		goto out;
	if (stmt_get(ks, secrets ? ST_DEV_SET_SECRETS : ST_DEV_SET_META, &st))
		goto out;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, vid);
	bind_text(&st, 3, text);
	sqlite3_bind_int64(st.s, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st.s);
	if (rc == SQLITE_DONE)
		result = FC_KS_OK;
	else
		fc_error("keystore: %s %s/%s: %s", what, vendor, vid, sqlite3_errmsg(ks->db));
	stmt_release(&st);
out:
	if (result == FC_KS_OK) {
		result = tx_commit(ks, what);
		if (result == FC_KS_OK)
			after_write(ks);
	} else {
		tx_rollback(ks);
	}
	cJSON_Delete(stored);
	cJSON_free(text);
	return result;
}

int fc_ks_device_merge_meta(struct fc_keystore *ks, const char *vendor, const char *vid,
			    const struct cJSON *meta_patch)
{
	return device_merge(ks, vendor, vid, meta_patch, false);
}

int fc_ks_device_merge_secrets(struct fc_keystore *ks, const char *vendor, const char *vid,
			       const struct cJSON *secrets_patch)
{
	return device_merge(ks, vendor, vid, secrets_patch, true);
}

int fc_ks_device_get(struct fc_keystore *ks, const char *vendor, const char *vid, struct fc_device_row *out)
{
	return row_get(ks, &devices, vendor, vid, false, out);
}

int fc_ks_device_get_by_name(struct fc_keystore *ks, const char *name, struct fc_device_row *out)
{
	memset(out, 0, sizeof *out);
	if (!name || !name[0])
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, ST_DEV_GET_BY_NAME, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, name);
	return row_fetch(ks, &devices, &st, "device get by name", NULL, NULL, out);
}

int fc_ks_device_set_alias(struct fc_keystore *ks, const char *vendor, const char *vid, const char *alias)
{
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(vid, VID_CAP) || (alias && !valid_id(alias, VID_CAP)))
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, ST_DEV_SET_ALIAS, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, vid);
	bind_text(&st, 3, alias);
	sqlite3_bind_int64(st.s, 4, (sqlite3_int64)time(NULL));
	int result = write_result(ks, sqlite3_step(st.s), "device set alias", vendor, vid);
	if (result == FC_KS_OK && sqlite3_changes(ks->db) == 0)
		result = FC_KS_NOTFOUND;
	stmt_release(&st);
	return result;
}

int fc_ks_device_put_with_alias(struct fc_keystore *ks, const char *vendor, const char *vid, const char *name,
				const cJSON *secrets, const cJSON *meta, const char *alias)
{
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(vid, VID_CAP) || (alias && !valid_id(alias, VID_CAP)))
		return FC_KS_EINVAL;
	if (tx_begin(ks, "device put with alias"))
		return FC_KS_ERR;
	int rc = fc_ks_device_put(ks, vendor, vid, name, secrets, meta);
	if (rc == FC_KS_OK)
		rc = fc_ks_device_set_alias(ks, vendor, vid, alias);
	if (rc != FC_KS_OK) {
		tx_rollback(ks);
		return rc;
	}
	return tx_commit(ks, "device put with alias");
}

int fc_ks_device_get_by_alias(struct fc_keystore *ks, const char *vendor, const char *alias,
			      struct fc_device_row *out)
{
	memset(out, 0, sizeof *out);
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(alias, VID_CAP))
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, ST_DEV_GET_BY_ALIAS, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, alias);
	return row_fetch(ks, &devices, &st, "device get by alias", NULL, NULL, out);
}

int fc_ks_device_rename(struct fc_keystore *ks, const char *vendor, const char *vid, const char *new_name)
{
	char name[NAME_CAP];
	if (!valid_id(vendor, VENDOR_CAP) || !valid_id(vid, VID_CAP))
		return FC_KS_EINVAL;
	if (!new_name || !new_name[0]) {
		if (default_name(vendor, vid, name, sizeof name))
			return FC_KS_EINVAL;
	} else if (snprintf(name, sizeof name, "%s", new_name) >= (int)sizeof name) {
		return FC_KS_EINVAL;
	}
	struct stmt st;
	if (stmt_get(ks, ST_DEV_RENAME, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, vid);
	bind_text(&st, 3, name);
	sqlite3_bind_int64(st.s, 4, (sqlite3_int64)time(NULL));
	int result = write_result(ks, sqlite3_step(st.s), "device rename", vendor, vid);
	if (result == FC_KS_OK && sqlite3_changes(ks->db) == 0)
		result = FC_KS_NOTFOUND;
	stmt_release(&st);
	return result;
}

/* Runs a (vendor, id) DELETE; FC_KS_NOTFOUND when nothing was there. */
static int delete_row(struct fc_keystore *ks, enum stmt_id id, const char *what, const char *vendor,
		      const char *key)
{
	if (!vendor || !key)
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, id, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, key);
	int result = write_result(ks, sqlite3_step(st.s), what, vendor, id == ST_TOK_DELETE ? "(token)" : key);
	if (result == FC_KS_OK && sqlite3_changes(ks->db) == 0)
		result = FC_KS_NOTFOUND;
	stmt_release(&st);
	return result;
}

int fc_ks_device_delete(struct fc_keystore *ks, const char *vendor, const char *vid)
{
	return delete_row(ks, ST_DEV_DELETE, "device delete", vendor, vid);
}

int fc_ks_device_each(struct fc_keystore *ks, const char *vendor,
		      int (*fn)(void *ctx, const struct fc_device_row *row), void *ctx)
{
	if (!fn)
		return FC_KS_EINVAL;
	return row_each(ks, &devices, vendor, (union each_fn){.device = fn}, ctx);
}

/* ---- accounts -------------------------------------------------------------------------------------- */

void fc_account_row_free(struct fc_account_row *row)
{
	if (row)
		row_free(account_view(row));
}

int fc_ks_account_put(struct fc_keystore *ks, const char *vendor, const char *account_id, const char *name,
		      const struct cJSON *secrets, const struct cJSON *meta)
{
	return row_put(ks, &accounts, vendor, account_id, name ? name : "", false, secrets, meta);
}

int fc_ks_account_get(struct fc_keystore *ks, const char *vendor, const char *account_id,
		      struct fc_account_row *out)
{
	return row_get(ks, &accounts, vendor, account_id, true, out);
}

int fc_ks_account_delete(struct fc_keystore *ks, const char *vendor, const char *account_id)
{
	return delete_row(ks, ST_ACC_DELETE, "account delete", vendor, account_id);
}

int fc_ks_account_each(struct fc_keystore *ks, const char *vendor,
		       int (*fn)(void *ctx, const struct fc_account_row *row), void *ctx)
{
	if (!fn)
		return FC_KS_EINVAL;
	return row_each(ks, &accounts, vendor, (union each_fn){.account = fn}, ctx);
}

/* ---- tokens ---------------------------------------------------------------------------------------- */

int fc_ks_token_put(struct fc_keystore *ks, const char *vendor, const char *token, const char *account_id,
		    const char *kind, int64_t expires)
{
	if (!valid_id(vendor, VENDOR_CAP) || !token || !token[0] || !account_id)
		return FC_KS_EINVAL;
	char hash[65];
	fc_sha256_hex(token, strlen(token), hash);
	struct stmt st;
	if (stmt_get(ks, ST_TOK_PUT, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, hash);
	bind_text(&st, 3, account_id);
	bind_text(&st, 4, kind ? kind : "");
	sqlite3_bind_int64(st.s, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(st.s, 6, (sqlite3_int64)expires);
	int result = write_result(ks, sqlite3_step(st.s), "token put", vendor, account_id);
	stmt_release(&st);
	return result;
}

int fc_ks_token_check(struct fc_keystore *ks, const char *vendor, const char *token, int64_t now,
		      char *account_id, size_t account_id_len)
{
	if (account_id && account_id_len)
		account_id[0] = '\0';
	if (!vendor || !token || !token[0])
		return FC_KS_EINVAL;
	char hash[65];
	fc_sha256_hex(token, strlen(token), hash);
	struct stmt st;
	if (stmt_get(ks, ST_TOK_GET, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, vendor);
	bind_text(&st, 2, hash);
	int rc = sqlite3_step(st.s);
	int result = FC_KS_NOTFOUND;
	if (rc == SQLITE_ROW) {
		/* Valid strictly before `expires`. */
		if (now < (int64_t)sqlite3_column_int64(st.s, 1)) {
			const char *acc = (const char *)sqlite3_column_text(st.s, 0);
			result = FC_KS_OK;
			if (account_id && account_id_len &&
			    snprintf(account_id, account_id_len, "%s", acc ? acc : "") >= (int)account_id_len) {
				account_id[0] = '\0';
				result = FC_KS_EINVAL;
			}
		}
	} else if (rc != SQLITE_DONE) {
		fc_error("keystore: token check (%s): %s", vendor, sqlite3_errmsg(ks->db));
		result = FC_KS_ERR;
	}
	stmt_release(&st);
	return result;
}

int fc_ks_token_delete(struct fc_keystore *ks, const char *vendor, const char *token)
{
	if (!vendor || !token || !token[0])
		return FC_KS_EINVAL;
	char hash[65];
	fc_sha256_hex(token, strlen(token), hash);
	return delete_row(ks, ST_TOK_DELETE, "token delete", vendor, hash);
}

/* ---- settings -------------------------------------------------------------------------------------- */

/* Reads a setting into out (may be NULL). FC_KS_EINVAL when it does not fit. */
static int setting_read(struct fc_keystore *ks, const char *key, char *out, size_t outlen)
{
	struct stmt st;
	if (stmt_get(ks, ST_SET_GET, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, key);
	int rc = sqlite3_step(st.s);
	int result = FC_KS_NOTFOUND;
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st.s, 0);
		result = FC_KS_OK;
		if (out && outlen && snprintf(out, outlen, "%s", v ? v : "") >= (int)outlen) {
			out[0] = '\0';
			fc_error("keystore: setting %s: value longer than %zu bytes", key, outlen - 1);
			result = FC_KS_EINVAL;
		}
	} else if (rc != SQLITE_DONE) {
		fc_error("keystore: setting get %s: %s", key, sqlite3_errmsg(ks->db));
		result = FC_KS_ERR;
	}
	stmt_release(&st);
	return result;
}

int fc_ks_setting_get(struct fc_keystore *ks, const char *key, char *out, size_t outlen)
{
	if (out && outlen)
		out[0] = '\0';
	if (!key || !key[0])
		return FC_KS_EINVAL;
	return setting_read(ks, key, out, outlen);
}

int fc_ks_setting_set(struct fc_keystore *ks, const char *key, const char *value)
{
	if (!key || !key[0] || !value)
		return FC_KS_EINVAL;
	struct stmt st;
	if (stmt_get(ks, ST_SET_SET, &st))
		return FC_KS_ERR;
	bind_text(&st, 1, key);
	bind_text(&st, 2, value);
	int result = write_result(ks, sqlite3_step(st.s), "setting set", "settings", key);
	stmt_release(&st);
	return result;
}

int fc_ks_setting_ensure(struct fc_keystore *ks, const char *key, const char *value, char *out, size_t outlen)
{
	if (out && outlen)
		out[0] = '\0';
	if (!key || !key[0] || !value)
		return FC_KS_EINVAL;
	if (tx_begin(ks, "setting ensure"))
		return FC_KS_ERR;
	struct stmt st;
	int result = FC_KS_ERR;
	if (stmt_get(ks, ST_SET_ADD, &st) == 0) {
		bind_text(&st, 1, key);
		bind_text(&st, 2, value);
		if (sqlite3_step(st.s) == SQLITE_DONE)
			result = FC_KS_OK;
		else
			fc_error("keystore: setting ensure %s: %s", key, sqlite3_errmsg(ks->db));
		stmt_release(&st);
	}
	if (result == FC_KS_OK) {
		result = setting_read(ks, key, out, outlen);
		if (result == FC_KS_NOTFOUND) /* cannot happen inside the transaction */
			result = FC_KS_ERR;
	}
	if (result == FC_KS_OK) {
		result = tx_commit(ks, "setting ensure");
		if (result == FC_KS_OK)
			after_write(ks);
	} else {
		tx_rollback(ks);
	}
	return result;
}
