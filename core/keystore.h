/* The keystore: one SQLite database (WAL, busy_timeout) shared by the broker plugin, fakecloud-httpd
 * and the CLI. Each process (and each thread) opens its own handle. Writes are single statements or
 * explicit transactions, so a crash never leaves a half-written device visible.
 *
 * Secrets and metadata are JSON objects stored as text; callers own the cJSON trees they get back. */
#ifndef FC_KEYSTORE_H
#define FC_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct fc_keystore;

#define FC_KS_OK 0
#define FC_KS_NOTFOUND 1   /* not an error: the row is not there */
#define FC_KS_ERR (-1)     /* database error (logged, with the SQLite message) */
#define FC_KS_EXISTS (-2)  /* unique constraint (e.g. a name already taken) */
#define FC_KS_EINVAL (-3)  /* bad argument (e.g. a JSON value that is not an object) */

/* Current schema version written by this build. */
#define FC_KS_SCHEMA_VERSION 2

struct fc_device_row {
	char vendor[32];
	char vid[128];   /* vendor's device id (Meross uuid, Tuya uuid/devId...) */
	char name[128];  /* friendly name, unique across vendors */
	struct cJSON *secrets;  /* object; never logged or published */
	struct cJSON *meta;     /* object: model, firmware, ip, mac, exposes hints... */
	int64_t created;  /* unix seconds */
	int64_t updated;
};

struct fc_account_row {
	char vendor[32];
	char account_id[128];
	char name[128];
	struct cJSON *secrets;
	struct cJSON *meta;
	int64_t created;
	int64_t updated;
};

/* Open (creating and migrating as needed). path ":memory:" works for tests. On error returns NULL and
 * writes a one-line reason to err (if given). */
struct fc_keystore *fc_keystore_open(const char *path, char *err, size_t errlen);
void fc_keystore_close(struct fc_keystore *ks);
/* Bytes SQLite holds in this process (all keystore handles together). */
int64_t fc_ks_memory_used(void);
int fc_keystore_schema_version(struct fc_keystore *ks);
/* PRAGMA integrity_check == "ok" -> 0. */
int fc_keystore_integrity_check(struct fc_keystore *ks);

/* Devices. put = insert or replace secrets/meta/name of (vendor, vid), keeping `created`.
 * A name that another device already has -> FC_KS_EXISTS and nothing changes. name "" = default name. */
int fc_ks_device_put(struct fc_keystore *ks, const char *vendor, const char *vid, const char *name,
		     const struct cJSON *secrets, const struct cJSON *meta);
/* Merge keys of `meta_patch` into the stored meta (a JSON null value deletes a key). */
int fc_ks_device_merge_meta(struct fc_keystore *ks, const char *vendor, const char *vid,
			    const struct cJSON *meta_patch);
int fc_ks_device_merge_secrets(struct fc_keystore *ks, const char *vendor, const char *vid,
			       const struct cJSON *secrets_patch);
int fc_ks_device_get(struct fc_keystore *ks, const char *vendor, const char *vid, struct fc_device_row *out);
int fc_ks_device_get_by_name(struct fc_keystore *ks, const char *name, struct fc_device_row *out);
/* A second id the vendor assigns to a device (Tuya devId), unique per vendor: set (NULL clears;
 * FC_KS_EXISTS when another device of the vendor has it, FC_KS_NOTFOUND without the device) and look up. */
int fc_ks_device_set_alias(struct fc_keystore *ks, const char *vendor, const char *vid, const char *alias);
int fc_ks_device_get_by_alias(struct fc_keystore *ks, const char *vendor, const char *alias,
			      struct fc_device_row *out);
/* put and set_alias in one transaction: the record and its alias land together or not at all
 * (FC_KS_EXISTS when the name or the alias belongs to another device; nothing changes then). */
int fc_ks_device_put_with_alias(struct fc_keystore *ks, const char *vendor, const char *vid, const char *name,
				const struct cJSON *secrets, const struct cJSON *meta, const char *alias);
int fc_ks_device_rename(struct fc_keystore *ks, const char *vendor, const char *vid, const char *new_name);
int fc_ks_device_delete(struct fc_keystore *ks, const char *vendor, const char *vid);
/* Calls fn for each device (vendor NULL = all), ordered by vendor, vid. fn returns non-zero to stop.
 * The row is only valid during the call. */
int fc_ks_device_each(struct fc_keystore *ks, const char *vendor,
		      int (*fn)(void *ctx, const struct fc_device_row *row), void *ctx);
void fc_device_row_free(struct fc_device_row *row);

/* Accounts (e.g. Meross userId + key, app users). */
int fc_ks_account_put(struct fc_keystore *ks, const char *vendor, const char *account_id, const char *name,
		      const struct cJSON *secrets, const struct cJSON *meta);
int fc_ks_account_get(struct fc_keystore *ks, const char *vendor, const char *account_id,
		      struct fc_account_row *out);
int fc_ks_account_delete(struct fc_keystore *ks, const char *vendor, const char *account_id);
int fc_ks_account_each(struct fc_keystore *ks, const char *vendor,
		       int (*fn)(void *ctx, const struct fc_account_row *row), void *ctx);
void fc_account_row_free(struct fc_account_row *row);

/* Tokens (app sessions). Stored by SHA-256 of the token, never the token itself. */
int fc_ks_token_put(struct fc_keystore *ks, const char *vendor, const char *token, const char *account_id,
		    const char *kind, int64_t expires);
/* FC_KS_OK and account_id filled when the token exists and has not expired at `now`. */
int fc_ks_token_check(struct fc_keystore *ks, const char *vendor, const char *token, int64_t now,
		      char *account_id, size_t account_id_len);
int fc_ks_token_delete(struct fc_keystore *ks, const char *vendor, const char *token);

/* Small key/value settings (e.g. the internal MQTT credential, the default Meross account id). */
int fc_ks_setting_get(struct fc_keystore *ks, const char *key, char *out, size_t outlen);
int fc_ks_setting_set(struct fc_keystore *ks, const char *key, const char *value);
/* Set only if absent (atomic across processes); afterwards `out` holds the stored value. */
int fc_ks_setting_ensure(struct fc_keystore *ks, const char *key, const char *value, char *out, size_t outlen);

#endif
