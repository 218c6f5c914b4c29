/* Meross app users: the email + password that the Meross app API (http.c, /v1/Auth/signIn) checks, each
 * linked to a Meross account (userId + key, accounts.c) whose devices it sees and whose key it gets.
 *
 * Storage: keystore accounts table, vendor MEROSS_USER_STORE, account_id = lowercased email, name = the
 * email as given, secrets {"kdf":"pbkdf2-sha512","iterations":N,"salt":hex,"hash":hex}, meta
 * {"user_id":...}. What is hashed is md5hex(password): apps send that ("encryption":1, meross.md §6), so
 * a clear-text login is reduced to it first. The md5 is password-equivalent on the wire (as with the real
 * cloud); at rest only the salted slow hash of it is kept. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

#define USER_ITERATIONS 50000u /* ~0.1 s on a small server: signIn is rare (apps keep their token) */
#define USER_MIN_ITERATIONS 1000u
#define USER_MAX_ITERATIONS 10000000u
#define SALT_LEN 16
#define HASH_LEN 64
#define PASSWORD_MAX 256

static bool email_key(const char *email, char out[MEROSS_EMAIL_MAX + 1])
{
	size_t n = email ? strlen(email) : 0;
	if (n < 3 || n > MEROSS_EMAIL_MAX)
		return false;
	const char *at = strchr(email, '@');
	if (!at || at == email || at[1] == '\0')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)email[i];
		if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	return true;
}

static bool digits(const char *s)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int kdf(const char *md5hex, const uint8_t *salt, size_t saltlen, unsigned iterations, uint8_t out[HASH_LEN])
{
	return fc_pbkdf2_sha512(md5hex, 32, salt, saltlen, iterations, out, HASH_LEN);
}

struct pick {
	int n;
	char first[24], def[24];
};

static int pick_cb(void *ctx, const struct fc_account_row *row)
{
	struct pick *p = ctx;
	if (strlen(row->account_id) >= sizeof p->first)
		return 0; /* not a userId */
	if (p->n++ == 0)
		snprintf(p->first, sizeof p->first, "%.23s", row->account_id);
	if (strcmp(row->name, "default") == 0 && !p->def[0])
		snprintf(p->def, sizeof p->def, "%.23s", row->account_id);
	return 0;
}

/* The account a user without --account belongs to. */
static int default_account(struct fc_keystore *ks, char uid[24], char *err, size_t errlen)
{
	if (meross_account_ensure_default(ks) != FC_KS_OK) {
		snprintf(err, errlen, "keystore error while looking for the Meross accounts");
		return -1;
	}
	struct pick p = {0};
	if (fc_ks_account_each(ks, "meross", pick_cb, &p) < 0) {
		snprintf(err, errlen, "keystore error while looking for the Meross accounts");
		return -1;
	}
	if (p.def[0]) {
		snprintf(uid, 24, "%s", p.def);
		return 0;
	}
	if (p.n == 1) {
		snprintf(uid, 24, "%s", p.first);
		return 0;
	}
	snprintf(err, errlen, "there are %d Meross accounts and none is named 'default': choose one with --account USERID",
		 p.n);
	return -1;
}

int meross_user_put(struct fc_keystore *ks, const char *email, const char *password, const char *account,
		    char user_id_out[24], char *err, size_t errlen)
{
	char key[MEROSS_EMAIL_MAX + 1], uid[24];
	if (!email_key(email, key)) {
		snprintf(err, errlen, "the email must be 3 to %d characters with an '@', no blanks or quotes", MEROSS_EMAIL_MAX);
		return -1;
	}
	size_t pwlen = password ? strlen(password) : 0;
	if (pwlen == 0 || pwlen > PASSWORD_MAX) {
		snprintf(err, errlen, "the password must have 1 to %d characters", PASSWORD_MAX);
		return -1;
	}
	if (account && *account) {
		struct meross_account acct;
		int rc = digits(account) ? meross_account_get(ks, account, &acct) : FC_KS_EINVAL;
		if (rc == FC_KS_OK)
			fc_secret_wipe(&acct.key);
		if (rc != FC_KS_OK) {
			snprintf(err, errlen,
				 "no Meross account with userId '%.24s' (add it first with `fakecloud device add "
				 "meross-account --user-id ID --key KEY`)",
				 account);
			return -1;
		}
		snprintf(uid, sizeof uid, "%s", account);
	} else if (default_account(ks, uid, err, errlen) != 0) {
		return -1;
	}

	char md5[33], salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
	uint8_t salt[SALT_LEN], hash[HASH_LEN];
	if (fc_random(salt, sizeof salt) != 0) {
		snprintf(err, errlen, "no random numbers for the password salt");
		return -1;
	}
	fc_md5_hex(password, pwlen, md5);
	int krc = kdf(md5, salt, sizeof salt, USER_ITERATIONS, hash);
	fc_wipe(md5, sizeof md5);
	if (krc != 0) {
		snprintf(err, errlen, "cannot hash the password");
		return -1;
	}
	fc_hex_encode(salt, sizeof salt, salt_hex);
	fc_hex_encode(hash, sizeof hash, hash_hex);
	fc_wipe(hash, sizeof hash);

	cJSON *secrets = cJSON_CreateObject(), *meta = cJSON_CreateObject();
	int rc = FC_KS_ERR;
	if (secrets && meta && cJSON_AddStringToObject(secrets, "kdf", "pbkdf2-sha512") &&
	    cJSON_AddNumberToObject(secrets, "iterations", USER_ITERATIONS) &&
	    cJSON_AddStringToObject(secrets, "salt", salt_hex) && cJSON_AddStringToObject(secrets, "hash", hash_hex) &&
	    cJSON_AddStringToObject(meta, "user_id", uid))
		rc = fc_ks_account_put(ks, MEROSS_USER_STORE, key, email, secrets, meta);
	cJSON_Delete(secrets);
	cJSON_Delete(meta);
	fc_wipe(hash_hex, sizeof hash_hex);
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, "keystore error; the user was not stored");
		return -1;
	}
	if (user_id_out)
		snprintf(user_id_out, 24, "%s", uid);
	return 0;
}

static bool hex_field(const cJSON *o, const char *k, uint8_t *out, size_t cap, size_t *outlen)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s && fc_hex_decode(s, strlen(s), out, cap, outlen) == 0 && *outlen > 0;
}

enum meross_login meross_user_login(struct fc_keystore *ks, const char *email, const char *pw_md5, char user_id[24],
				    char email_out[MEROSS_EMAIL_MAX + 1])
{
	char key[MEROSS_EMAIL_MAX + 1];
	if (!email_key(email, key))
		return MEROSS_LOGIN_NO_USER;
	struct fc_account_row row;
	int rc = fc_ks_account_get(ks, MEROSS_USER_STORE, key, &row);
	if (rc == FC_KS_NOTFOUND)
		return MEROSS_LOGIN_NO_USER;
	if (rc != FC_KS_OK)
		return MEROSS_LOGIN_ERROR;
	enum meross_login res = MEROSS_LOGIN_ERROR;
	uint8_t salt[64], want[HASH_LEN + 1], got[HASH_LEN];
	size_t saltlen = 0, wantlen = 0;
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(row.secrets, "iterations");
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "user_id"));
	if (!cJSON_IsNumber(it) || it->valuedouble < USER_MIN_ITERATIONS || it->valuedouble > USER_MAX_ITERATIONS ||
	    !hex_field(row.secrets, "salt", salt, sizeof salt, &saltlen) ||
	    !hex_field(row.secrets, "hash", want, sizeof want, &wantlen) || wantlen != HASH_LEN || !digits(uid)) {
		fc_error("meross: app user '%s' has an unusable stored password record; set the password again", row.name);
		goto out;
	}
	char md5[33];
	size_t n = pw_md5 ? strlen(pw_md5) : 0;
	bool hex = n == 32;
	for (size_t i = 0; hex && i < 32; i++) {
		char c = pw_md5[i];
		hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		md5[i] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
	}
	md5[32] = '\0';
	res = MEROSS_LOGIN_BAD_PASSWORD;
	if (hex) {
		if (kdf(md5, salt, saltlen, (unsigned)it->valuedouble, got) != 0)
			res = MEROSS_LOGIN_ERROR;
		else if (fc_ct_equal(got, want, HASH_LEN)) {
			res = MEROSS_LOGIN_OK;
			snprintf(user_id, 24, "%s", uid);
			snprintf(email_out, MEROSS_EMAIL_MAX + 1, "%s", row.name);
		}
	}
	fc_wipe(md5, sizeof md5);
	fc_wipe(got, sizeof got);
out:
	fc_account_row_free(&row);
	return res;
}

/* First line of a file ("-" = standard input), without its line end. */
static int read_password_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	bool ok = fgets(out, (int)cap, f) != NULL;
	if (f != stdin)
		fclose(f);
	if (!ok) {
		snprintf(err, errlen, "%s is empty", path);
		return -1;
	}
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int meross_user_cli_add(struct fc_cli *cli, int argc, char **argv)
{
	const char *email = NULL, *password = NULL, *file = NULL, *account = NULL;
	const struct fc_cli_opt opts[] = {{"email", &email}, {"password", &password}, {"password-file", &file},
					  {"account", &account}};
	if (fc_cli_parse(cli, "meross-user", argc, argv, opts, 4) != 0)
		return 2;
	if (!email || (!password && !file) || (password && file)) {
		fprintf(cli->err, "meross-user: needs --email and one of --password / --password-file\n");
		return 2;
	}
	char buf[PASSWORD_MAX + 2], err[256], uid[24];
	if (file && read_password_file(file, buf, sizeof buf, err, sizeof err) != 0) {
		fprintf(cli->err, "meross-user: %s\n", err);
		return 2;
	}
	int rc = meross_user_put(cli->ks, email, file ? buf : password, account, uid, err, sizeof err);
	fc_wipe(buf, sizeof buf);
	if (rc != 0) {
		fprintf(cli->err, "meross-user: %s\n", err);
		return strstr(err, "keystore") ? 1 : 2;
	}
	fprintf(cli->out, "meross app user %s stored (account %s); Meross app clients log in with it at the app API\n",
		email, uid);
	return 0;
}
