/* The Tuya device record: load, import, activation. vid = factory uuid, alias = devId (tuya_internal.h).
 * Activation writes the whole row in one statement (secrets and meta together), then the alias: a crash
 * in between leaves a device whose keys are stored and whose next activation restores the alias. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/tuya/tuya_internal.h"

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

void tuya_dev_free(struct tuya_dev *d)
{
	if (!d)
		return;
	fc_secret_wipe(&d->auth_key);
	fc_secret_wipe(&d->psk_key);
	fc_secret_wipe(&d->sec_key);
	fc_secret_wipe(&d->local_key);
	free(d->schema);
	cJSON_Delete(d->dp_names);
	memset(d, 0, sizeof *d);
}

static int secret_from(struct fc_secret *s, const cJSON *secrets, const char *key)
{
	const char *v = jstr(secrets, key);
	if (!v)
		return 0;
	return fc_secret_set_str(s, v);
}

int tuya_dev_from_row(const struct fc_device_row *row, struct tuya_dev *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (strlen(row->vid) > TUYA_UUID_MAX) {
		snprintf(err, errlen, "stored uuid is too long");
		return -1;
	}
	copy_str(out->uuid, sizeof out->uuid, row->vid);
	copy_str(out->name, sizeof out->name, row->name);
	if (secret_from(&out->auth_key, row->secrets, "authKey") || secret_from(&out->psk_key, row->secrets, "pskKey") ||
	    secret_from(&out->sec_key, row->secrets, "secKey") ||
	    secret_from(&out->local_key, row->secrets, "localKey")) {
		snprintf(err, errlen, "a stored key is too long");
		tuya_dev_free(out);
		return -1;
	}
	const char *s = jstr(row->meta, "devId");
	if (s && strlen(s) > TUYA_DEVID_MAX) {
		snprintf(err, errlen, "stored devId is too long");
		tuya_dev_free(out);
		return -1;
	}
	copy_str(out->dev_id, sizeof out->dev_id, s);
	copy_str(out->schema_id, sizeof out->schema_id, jstr(row->meta, "schemaId"));
	copy_str(out->pv, sizeof out->pv, jstr(row->meta, "protocolVer"));
	copy_str(out->soft_ver, sizeof out->soft_ver, jstr(row->meta, "softVer"));
	copy_str(out->product_key, sizeof out->product_key, jstr(row->meta, "productKey"));
	if ((s = jstr(row->meta, "schema")) && !(out->schema = strdup(s))) {
		snprintf(err, errlen, "out of memory");
		tuya_dev_free(out);
		return -1;
	}
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(row->meta, "dp_names");
	if (cJSON_IsObject(names))
		out->dp_names = cJSON_Duplicate(names, 1);
	return 0;
}

static int load_row(struct fc_device_row *row, int rc, struct tuya_dev *out)
{
	if (rc != FC_KS_OK)
		return rc;
	char err[128];
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "removed"))) {
		fc_device_row_free(row);
		return FC_KS_NOTFOUND;
	}
	if (tuya_dev_from_row(row, out, err, sizeof err) != 0) {
		fc_error("tuya: device %s: %s", row->name, err);
		fc_device_row_free(row);
		return FC_KS_ERR;
	}
	fc_device_row_free(row);
	return FC_KS_OK;
}

int tuya_dev_by_uuid(struct fc_keystore *ks, const char *uuid, struct tuya_dev *out)
{
	struct fc_device_row row;
	memset(out, 0, sizeof *out);
	if (!uuid || !uuid[0] || strlen(uuid) > TUYA_UUID_MAX)
		return FC_KS_NOTFOUND;
	return load_row(&row, fc_ks_device_get(ks, "tuya", uuid, &row), out);
}

int tuya_dev_by_devid(struct fc_keystore *ks, const char *dev_id, struct tuya_dev *out)
{
	struct fc_device_row row;
	memset(out, 0, sizeof *out);
	if (!dev_id || !dev_id[0] || strlen(dev_id) > TUYA_DEVID_MAX)
		return FC_KS_NOTFOUND;
	int rc = load_row(&row, fc_ks_device_get_by_alias(ks, "tuya", dev_id, &row), out);
	if (rc == FC_KS_OK && strcmp(out->dev_id, dev_id) != 0) {
		/* An alias left over from an earlier activation whose row was rewritten since. */
		tuya_dev_free(out);
		return FC_KS_NOTFOUND;
	}
	return rc;
}

/* ---- validation ---- */

static bool all_chars(const char *s, int (*ok)(int))
{
	for (; *s; s++)
		if (!ok((unsigned char)*s))
			return false;
	return true;
}

static int is_key_char(int c)
{
	return c > 0x20 && c < 0x7f; /* localKeys carry punctuation ("|", "'", "~"...) */
}

static int check_field(const char *what, const char *v, size_t min, size_t max, int (*ok)(int), char *err,
		       size_t errlen)
{
	size_t n = strlen(v);
	if (n < min || n > max) {
		if (min == max)
			snprintf(err, errlen, "%s must be %zu characters (got %zu)", what, min, n);
		else
			snprintf(err, errlen, "%s must be %zu..%zu characters (got %zu)", what, min, max, n);
		return -1;
	}
	if (!all_chars(v, ok)) {
		snprintf(err, errlen, "%s has a character that is not allowed (%s)", what,
			 ok == isalnum ? "letters and digits only" : "printable ASCII without spaces");
		return -1;
	}
	return 0;
}

static int validate(const struct tuya_import *in, char *err, size_t errlen)
{
	if (!in->uuid) {
		snprintf(err, errlen, "--uuid is required");
		return -1;
	}
	if (check_field("--uuid", in->uuid, 8, TUYA_UUID_MAX, isalnum, err, errlen))
		return -1;
	if (in->auth_key) {
		size_t n = strlen(in->auth_key);
		if (n != 16 && n != 32) {
			snprintf(err, errlen, "--auth-key must be 32 characters (16 after cloudcutter), got %zu", n);
			return -1;
		}
		if (check_field("--auth-key", in->auth_key, n, n, is_key_char, err, errlen))
			return -1;
	}
	if (in->psk_key && in->psk_key[0] &&
	    check_field("--psk-key", in->psk_key, 16, 64, is_key_char, err, errlen))
		return -1;
	if (in->dev_id && check_field("--dev-id", in->dev_id, 10, TUYA_DEVID_MAX, isalnum, err, errlen))
		return -1;
	if (in->sec_key && check_field("--sec-key", in->sec_key, 16, 16, is_key_char, err, errlen))
		return -1;
	if (in->local_key && check_field("--local-key", in->local_key, 16, 16, is_key_char, err, errlen))
		return -1;
	if (in->schema_id && check_field("--schema-id", in->schema_id, 1, 32, isalnum, err, errlen))
		return -1;
	enum tuya_pv pv;
	if (in->pv && tuya_pv_parse(in->pv, &pv) != 0) {
		snprintf(err, errlen, "--pv must be 2.1, 2.2 or 2.3");
		return -1;
	}
	if (in->name && in->name[0] && !fc_name_valid(in->name, err, errlen))
		return -1;
	if (in->dp_names && !cJSON_IsObject(in->dp_names)) {
		snprintf(err, errlen, "dp names must be an object {\"1\":\"state\"}");
		return -1;
	}
	return 0;
}

/* The schema and DP names the device will have must parse together. */
static int validate_schema(const char *schema, const cJSON *names, char *err, size_t errlen)
{
	struct tuya_schema *s = malloc(sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const char *text = schema ? schema : TUYA_DEFAULT_SCHEMA;
	char why[200] = "";
	int rc = tuya_schema_parse(text, strlen(text), names, s, why, sizeof why);
	free(s);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", schema ? "schema" : "dp names", why);
	return rc;
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v);
}

static cJSON *object_or_new(const cJSON *o)
{
	return o ? cJSON_Duplicate(o, 1) : cJSON_CreateObject();
}

int tuya_import(struct fc_keystore *ks, const struct tuya_import *in, char *err, size_t errlen)
{
	if (validate(in, err, errlen))
		return -1;
	struct fc_device_row row;
	int rc = fc_ks_device_get(ks, "tuya", in->uuid, &row);
	if (rc != FC_KS_OK && rc != FC_KS_NOTFOUND) {
		snprintf(err, errlen, "keystore error");
		return -1;
	}
	bool exists = rc == FC_KS_OK;
	cJSON *secrets = object_or_new(exists ? row.secrets : NULL);
	cJSON *meta = object_or_new(exists ? row.meta : NULL);
	if (exists)
		fc_device_row_free(&row);
	int result = -1;
	if (!secrets || !meta) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!in->auth_key && !jstr(secrets, "authKey") && !(in->dev_id && in->local_key)) {
		snprintf(err, errlen, "--auth-key is required (or --dev-id and --local-key for a device that is "
				      "already activated and will not activate again)");
		goto out;
	}
	const char *dev_id = in->dev_id ? in->dev_id : jstr(meta, "devId");
	if (dev_id) {
		struct fc_device_row other;
		int orc = fc_ks_device_get_by_alias(ks, "tuya", dev_id, &other);
		bool taken = orc == FC_KS_OK && strcmp(other.vid, in->uuid) != 0;
		if (taken)
			snprintf(err, errlen, "devId %s already belongs to device '%s' (uuid %s)", dev_id, other.name,
				 other.vid);
		if (orc == FC_KS_OK)
			fc_device_row_free(&other);
		if (taken || (orc != FC_KS_OK && orc != FC_KS_NOTFOUND)) {
			if (!taken)
				snprintf(err, errlen, "keystore error");
			goto out;
		}
	}
	const char *schema = in->schema ? in->schema : jstr(meta, "schema");
	const cJSON *names = in->dp_names ? in->dp_names : cJSON_GetObjectItemCaseSensitive(meta, "dp_names");
	if (validate_schema(schema, names, err, errlen))
		goto out;

	if (in->auth_key)
		set_str(secrets, "authKey", in->auth_key);
	if (in->psk_key)
		set_str(secrets, "pskKey", in->psk_key);
	if (in->sec_key)
		set_str(secrets, "secKey", in->sec_key);
	if (in->local_key)
		set_str(secrets, "localKey", in->local_key);
	if (in->dev_id)
		set_str(meta, "devId", in->dev_id);
	if (in->schema) {
		set_str(meta, "schema", in->schema);
		if (!in->schema_id) {
			/* Devices cache schemas by id: a changed schema needs a new one. */
			char md5[33], id[16];
			fc_md5_hex(in->schema, strlen(in->schema), md5);
			snprintf(id, sizeof id, "fc%.10s", md5);
			set_str(meta, "schemaId", id);
		}
	}
	if (in->schema_id)
		set_str(meta, "schemaId", in->schema_id);
	if (in->pv)
		set_str(meta, "protocolVer", in->pv);
	if (in->dp_names) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "dp_names");
		cJSON_AddItemToObject(meta, "dp_names", cJSON_Duplicate(in->dp_names, 1));
	}
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "removed");
	/* With a devId, the record and its alias land in one transaction; without one, an alias the
	 * device already has stays. */
	const char *name = in->name ? in->name : "";
	rc = in->dev_id ? fc_ks_device_put_with_alias(ks, "tuya", in->uuid, name, secrets, meta, in->dev_id)
			: fc_ks_device_put(ks, "tuya", in->uuid, name, secrets, meta);
	if (rc == FC_KS_EXISTS) {
		if (in->dev_id)
			snprintf(err, errlen, "the name '%s' or the devId %s belongs to another device", name, in->dev_id);
		else
			snprintf(err, errlen, "the name '%s' is taken by another device", name);
		goto out;
	}
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, "keystore error");
		goto out;
	}
	result = 0;
out:
	cJSON_Delete(secrets);
	cJSON_Delete(meta);
	return result;
}

/* ---- activation ---- */

static int mint(char *out, size_t len, bool lower_alnum)
{
	if (fc_random_alnum(out, len) != 0)
		return -1;
	if (lower_alnum)
		for (size_t i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

/* Body strings worth keeping (what the device says it is), bounded. */
static void record(cJSON *meta, const cJSON *body, const char *from, const char *to, size_t max)
{
	const char *v = jstr(body, from);
	if (v && strlen(v) <= max && all_chars(v, is_key_char))
		set_str(meta, to, v);
}

int tuya_activate(struct fc_keystore *ks, struct tuya_dev *d, const cJSON *body, const char *ip, char *err,
		  size_t errlen)
{
	struct fc_device_row row;
	int rc = fc_ks_device_get(ks, "tuya", d->uuid, &row);
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, rc == FC_KS_NOTFOUND ? "device vanished from the keystore" : "keystore error");
		return -1;
	}
	cJSON *secrets = cJSON_Duplicate(row.secrets, 1), *meta = cJSON_Duplicate(row.meta, 1);
	char name[128];
	copy_str(name, sizeof name, row.name);
	fc_device_row_free(&row);
	int result = -1;
	char dev_id[TUYA_DEVID_LEN + 1], sec[TUYA_SECKEY_LEN + 1], local[TUYA_LOCALKEY_LEN + 1];
	if (!secrets || !meta) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	const char *have = jstr(meta, "devId");
	if (!have || !have[0]) {
		/* "fc" marks ids fakecloud minted; 22 characters like current cloud ids. */
		memcpy(dev_id, "fc", 2);
		if (mint(dev_id + 2, TUYA_DEVID_LEN - 2, true)) {
			snprintf(err, errlen, "no randomness");
			goto out;
		}
		dev_id[TUYA_DEVID_LEN] = 0;
		set_str(meta, "devId", dev_id);
	}
	if (!jstr(secrets, "secKey")) {
		if (mint(sec, TUYA_SECKEY_LEN, false)) {
			snprintf(err, errlen, "no randomness");
			goto out;
		}
		sec[TUYA_SECKEY_LEN] = 0;
		set_str(secrets, "secKey", sec);
	}
	if (!jstr(secrets, "localKey")) {
		if (mint(local, TUYA_LOCALKEY_LEN, false)) {
			snprintf(err, errlen, "no randomness");
			goto out;
		}
		local[TUYA_LOCALKEY_LEN] = 0;
		set_str(secrets, "localKey", local);
	}
	record(meta, body, "softVer", "softVer", 31);
	record(meta, body, "softVer", "firmware", 31);
	record(meta, body, "productKey", "productKey", 32);
	if (!jstr(meta, "model"))
		record(meta, body, "productKey", "model", 32);
	enum tuya_pv pv;
	const char *pvs = jstr(body, "protocolVer");
	if (pvs && tuya_pv_parse(pvs, &pv) == 0)
		set_str(meta, "protocolVer", pvs);
	if (ip && ip[0] && strlen(ip) < 64)
		set_str(meta, "ip", ip);
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "activated");
	cJSON_AddNumberToObject(meta, "activated", (double)time(NULL));
	/* One transaction: the keys, the devId and its alias land together or not at all (a power cut
	 * in between must not leave a device whose devId cannot log in). */
	rc = fc_ks_device_put_with_alias(ks, "tuya", d->uuid, name, secrets, meta, jstr(meta, "devId"));
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, rc == FC_KS_EXISTS ? "devId %s already belongs to another device"
							 : "keystore error while storing the activation (devId %s)",
			 jstr(meta, "devId"));
		goto out;
	}
	struct tuya_dev fresh;
	rc = tuya_dev_by_uuid(ks, d->uuid, &fresh);
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, "keystore error while reading the activation back");
		goto out;
	}
	tuya_dev_free(d);
	*d = fresh;
	result = 0;
out:
	fc_wipe(sec, sizeof sec);
	fc_wipe(local, sizeof local);
	cJSON_Delete(secrets);
	cJSON_Delete(meta);
	return result;
}
