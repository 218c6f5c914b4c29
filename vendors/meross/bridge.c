/* Admin bridge requests of the Meross vendor (fakecloud/bridge/request/meross/<op>). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

/* account/add {"user_id":"1234567","key":"<key>","name":"..."}: import an account (both required, so
 * the key never has to travel back on a plain topic). Response data: {"user_id":...}. */
static int account_add(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen)
{
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "user_id"));
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "key"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "name"));
	if (!uid || !key) {
		snprintf(err, errlen, "meross/account/add needs {\"user_id\":\"<digits>\",\"key\":\"<key>\"}");
		return -1;
	}
	char out[24];
	int rc = meross_account_put(fc_hub_keystore(hub), uid, key, name ? name : "", out);
	if (rc == FC_KS_EINVAL) {
		snprintf(err, errlen, "user_id must be decimal digits and key at most 256 characters");
		return -1;
	}
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, "keystore error; nothing stored");
		return -1;
	}
	fc_info("meross: account %s imported through a bridge request", out);
	cJSON_AddStringToObject(data, "user_id", out);
	return 0;
}

/* user/add {"email":"...","password":"...","user_id":"<account>"}: an app user for the app API (user_id
 * optional: the default account). The password travels in the request only; the hub never relays vendor
 * requests. Hashing it takes about 0.1 s of the broker thread: an admin action, rare by nature.
 * Response data: {"email":...,"user_id":...}. */
static int user_add(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen)
{
	const char *email = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "email"));
	const char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "password"));
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "user_id"));
	if (!email || !pw) {
		snprintf(err, errlen, "meross/user/add needs {\"email\":\"...\",\"password\":\"...\"[,\"user_id\":\"<account>\"]}");
		return -1;
	}
	char out[24], why[256];
	if (meross_user_put(fc_hub_keystore(hub), email, pw, uid, out, why, sizeof why) != 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	fc_info("meross: app user %s (account %s) stored through a bridge request", email, out);
	cJSON_AddStringToObject(data, "email", email);
	cJSON_AddStringToObject(data, "user_id", out);
	return 0;
}

int meross_bridge_request(struct fc_hub *hub, void *vs, const char *op, const cJSON *req, cJSON *data, char *err,
			  size_t errlen)
{
	(void)vs;
	if (strcmp(op, "account/add") == 0)
		return account_add(hub, req, data, err, errlen);
	if (strcmp(op, "user/add") == 0)
		return user_add(hub, req, data, err, errlen);
	snprintf(err, errlen, "unknown request 'meross/%.64s' (known: meross/account/add, meross/user/add)", op);
	return -1;
}
