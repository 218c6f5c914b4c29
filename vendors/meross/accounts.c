/* Meross accounts (userId + key) in the keystore. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

int meross_account_get(struct fc_keystore *ks, const char *user_id, struct meross_account *out)
{
	struct fc_account_row row;
	int rc = fc_ks_account_get(ks, "meross", user_id, &row);
	if (rc != FC_KS_OK)
		return rc;
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(row.secrets, "key");
	rc = FC_KS_EINVAL;
	if (cJSON_IsString(key) && fc_secret_set_str(&out->key, key->valuestring) == 0) {
		snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
		rc = FC_KS_OK;
	}
	fc_account_row_free(&row);
	return rc;
}

static bool digits(const char *s)
{
	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int meross_account_put(struct fc_keystore *ks, const char *user_id, const char *key, const char *name,
		       char user_id_out[24])
{
	char uid[24], k[FC_SECRET_MAX + 1];
	if (user_id && *user_id) {
		if (!digits(user_id))
			return FC_KS_EINVAL;
		snprintf(uid, sizeof uid, "%s", user_id);
	} else {
		/* Real userIds are decimal integers; 7 digits, no leading zero. */
		uint32_t r;
		fc_random(&r, sizeof r);
		snprintf(uid, sizeof uid, "%u", 1000000u + r % 9000000u);
	}
	/* Any string is a valid Meross key (meross.md §2); a generated one is 32 hex like the cloud's. */
	if (key && strlen(key) > FC_SECRET_MAX)
		return FC_KS_EINVAL;
	if (!key)
		fc_random_hex(k, 32);
	cJSON *secrets = cJSON_CreateObject();
	cJSON_AddStringToObject(secrets, "key", key ? key : k);
	int rc = fc_ks_account_put(ks, "meross", uid, name ? name : "", secrets, NULL);
	cJSON_Delete(secrets);
	fc_wipe(k, sizeof k);
	if (rc == FC_KS_OK && user_id_out)
		snprintf(user_id_out, 24, "%s", uid);
	return rc;
}

static int any_cb(void *ctx, const struct fc_account_row *row)
{
	(void)row;
	*(bool *)ctx = true;
	return 1;
}

int meross_account_ensure_default(struct fc_keystore *ks)
{
	bool any = false;
	if (fc_ks_account_each(ks, "meross", any_cb, &any) < 0)
		return FC_KS_ERR;
	if (any)
		return FC_KS_OK;
	char uid[24];
	int rc = meross_account_put(ks, NULL, NULL, "default", uid);
	if (rc == FC_KS_OK)
		fc_info("meross: created the default account (userId %s)", uid);
	return rc;
}
