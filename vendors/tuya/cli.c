/* `fakecloud device add tuya`, `fakecloud device export tuya`, and the admin bridge request
 * tuya/device/add: importing what an owner has (flash dump, cloudcutter output, an earlier export). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub.h"
#include "core/keystore.h"
#include "vendors/tuya/tuya_internal.h"

/* "1=state,9=countdown" -> {"1":"state","9":"countdown"}; NULL with a reason on bad input. */
static cJSON *parse_dp_names(const char *s, char *err, size_t errlen)
{
	cJSON *o = cJSON_CreateObject();
	char buf[1024];
	if (!o || snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) {
		snprintf(err, errlen, "--dp-names is too long");
		cJSON_Delete(o);
		return NULL;
	}
	char *save = NULL;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		char *end = NULL;
		long id = eq ? strtol(item, &end, 10) : 0;
		if (!eq || end != eq || id < 1 || id > 255 || !eq[1]) {
			snprintf(err, errlen, "--dp-names: '%s' is not <dp id>=<attribute>", item);
			cJSON_Delete(o);
			return NULL;
		}
		char key[8];
		snprintf(key, sizeof key, "%ld", id);
		cJSON_DeleteItemFromObjectCaseSensitive(o, key);
		cJSON_AddStringToObject(o, key, eq + 1);
	}
	return o;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s", path);
		return NULL;
	}
	char *buf = malloc(TUYA_MAX_JSON + 2);
	size_t n = buf ? fread(buf, 1, TUYA_MAX_JSON + 1, f) : 0;
	if (f != stdin)
		fclose(f);
	if (!buf || n > TUYA_MAX_JSON) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, TUYA_MAX_JSON);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/* A schema file may hold the schema array itself, {"schema":"<array text>"}, or a cloudcutter device
 * profile with "schemas":{"<schemaId>":[...]} (the first one is taken). Returns the array text. */
static char *schema_from_file(const char *path, char *schema_id, size_t idcap, char *err, size_t errlen)
{
	char *text = read_file(path, err, errlen);
	if (!text)
		return NULL;
	cJSON *root = cJSON_Parse(text);
	char *out = NULL;
	if (cJSON_IsArray(root)) {
		out = cJSON_PrintUnformatted(root);
	} else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "schema"))) {
		out = strdup(cJSON_GetObjectItemCaseSensitive(root, "schema")->valuestring);
	} else {
		const cJSON *schemas = cJSON_GetObjectItemCaseSensitive(root, "schemas");
		const cJSON *first = cJSON_IsObject(schemas) ? schemas->child : NULL;
		if (cJSON_IsArray(first)) {
			out = cJSON_PrintUnformatted(first);
			snprintf(schema_id, idcap, "%s", first->string);
		}
	}
	if (!out)
		snprintf(err, errlen, "%s: not a Tuya schema (expected a JSON array of data points, {\"schema\":...} "
				      "or a device profile with \"schemas\")",
			 path);
	cJSON_Delete(root);
	free(text);
	return out;
}

static int device_add(struct fc_cli *cli, int argc, char **argv)
{
	struct tuya_import in = {0};
	const char *schema_file = NULL, *dp_names = NULL;
	const struct fc_cli_opt opts[] = {
		{"uuid", &in.uuid},	    {"auth-key", &in.auth_key},   {"psk-key", &in.psk_key},
		{"dev-id", &in.dev_id},	    {"sec-key", &in.sec_key},	  {"local-key", &in.local_key},
		{"schema-file", &schema_file}, {"schema-id", &in.schema_id}, {"dp-names", &dp_names},
		{"name", &in.name},	    {"pv", &in.pv},
	};
	if (fc_cli_parse(cli, "tuya", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0)
		return 2;
	char err[300] = "", sid[33] = "";
	char *schema = NULL;
	cJSON *names = NULL;
	int rc = 2;
	if (schema_file && !(schema = schema_from_file(schema_file, sid, sizeof sid, err, sizeof err)))
		goto out;
	if (schema && !in.schema_id && sid[0])
		in.schema_id = sid;
	in.schema = schema;
	if (dp_names && !(names = parse_dp_names(dp_names, err, sizeof err)))
		goto out;
	in.dp_names = names;
	if (tuya_import(cli->ks, &in, err, sizeof err) != 0)
		goto out;
	rc = 0;
	struct tuya_dev d;
	if (tuya_dev_by_uuid(cli->ks, in.uuid, &d) == FC_KS_OK) {
		fprintf(cli->out, "tuya device %s stored as '%s'%s%s\n", d.uuid, d.name, d.dev_id[0] ? ", devId " : "",
			d.dev_id);
		if (!schema && !d.schema)
			fprintf(cli->out, "no schema imported: the device gets a one-switch schema at activation; import "
					  "its real schema (--schema-file) so that every data point works\n");
		tuya_dev_free(&d);
	}
out:
	if (rc)
		fprintf(cli->err, "tuya: %s\n", err);
	free(schema);
	cJSON_Delete(names);
	return rc;
}

/* ---- export ---- */

struct export_ctx {
	struct fc_cli *cli;
	cJSON *json; /* --json: tinytuya devices.json shape */
};

static int export_one(void *ctx, const struct fc_device_row *row)
{
	struct export_ctx *x = ctx;
	struct tuya_dev d;
	char err[128];
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "removed")))
		return 0;
	if (tuya_dev_from_row(row, &d, err, sizeof err) != 0) {
		fprintf(x->cli->err, "tuya: %s: %s\n", row->name, err);
		return 0;
	}
	const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row->meta, "ip"));
	if (x->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", d.name);
		cJSON_AddStringToObject(o, "id", d.dev_id);
		cJSON_AddStringToObject(o, "key", fc_secret_reveal(&d.local_key));
		cJSON_AddStringToObject(o, "ip", ip ? ip : "");
		cJSON_AddStringToObject(o, "uuid", d.uuid);
		cJSON_AddStringToObject(o, "mqtt_version", d.pv[0] ? d.pv : "");
		cJSON_AddStringToObject(o, "product_key", d.product_key);
		cJSON_AddItemToArray(x->json, o);
	} else {
		fprintf(x->cli->out, "%s\t%s\t%s\t%s\t%s\t%s\n", d.name, d.dev_id[0] ? d.dev_id : "-",
			fc_secret_len(&d.local_key) ? fc_secret_reveal(&d.local_key) : "-", ip && ip[0] ? ip : "-",
			d.pv[0] ? d.pv : "-", d.uuid);
	}
	tuya_dev_free(&d);
	return 0;
}

static int device_export(struct fc_cli *cli, int argc, char **argv)
{
	const char *format = "text";
	const struct fc_cli_opt opts[] = {{"format", &format}};
	if (fc_cli_parse(cli, "tuya", argc, argv, opts, 1) != 0)
		return 2;
	bool json = strcmp(format, "json") == 0;
	if (!json && strcmp(format, "text") != 0) {
		fprintf(cli->err, "tuya: --format must be text or json\n");
		return 2;
	}
	struct export_ctx x = {.cli = cli, .json = json ? cJSON_CreateArray() : NULL};
	if (!json)
		fprintf(cli->out, "# name\tdevId\tlocalKey\tip\tmqtt_version\tuuid\n");
	int rc = fc_ks_device_each(cli->ks, "tuya", export_one, &x);
	if (json) {
		char *s = cJSON_Print(x.json);
		if (s)
			fprintf(cli->out, "%s\n", s);
		cJSON_free(s);
		cJSON_Delete(x.json);
	}
	return rc < 0 ? 1 : 0;
}

/* ---- bridge request tuya/device/add ---- */

static const char *req_str(const cJSON *req, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, k));
}

int tuya_bridge_request(struct fc_hub *hub, void *vs, const char *op, const cJSON *req, cJSON *data, char *err,
			size_t errlen)
{
	(void)vs;
	if (strcmp(op, "device/add") != 0) {
		snprintf(err, errlen, "unknown tuya request '%s' (known: device/add)", op);
		return -1;
	}
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(req, "dp_names");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(req, "schema");
	char *schema_text = cJSON_IsArray(schema) ? cJSON_PrintUnformatted(schema) : NULL;
	struct tuya_import in = {
		.uuid = req_str(req, "uuid"),
		.auth_key = req_str(req, "auth_key"),
		.psk_key = req_str(req, "psk_key"),
		.dev_id = req_str(req, "dev_id"),
		.sec_key = req_str(req, "sec_key"),
		.local_key = req_str(req, "local_key"),
		.schema = schema_text ? schema_text : req_str(req, "schema"),
		.schema_id = req_str(req, "schema_id"),
		.dp_names = names,
		.name = req_str(req, "name"),
		.pv = req_str(req, "pv"),
	};
	int rc = tuya_import(fc_hub_keystore(hub), &in, err, errlen);
	free(schema_text);
	if (rc != 0)
		return -1;
	/* Register (new) or reload (known) the device in the running hub. */
	struct fc_device *dev = fc_hub_device(hub, &tuya_vendor, in.uuid);
	struct fc_device_row row;
	if (fc_ks_device_get(fc_hub_keystore(hub), "tuya", in.uuid, &row) == FC_KS_OK) {
		if (!dev)
			dev = fc_hub_device_ensure(hub, &tuya_vendor, in.uuid, row.secrets, row.meta);
		else if (tuya_vendor.broker && tuya_vendor.broker->device_loaded)
			tuya_vendor.broker->device_loaded(hub, fc_hub_vendor_state(hub, &tuya_vendor), dev, row.secrets,
							  row.meta);
		fc_device_row_free(&row);
	}
	cJSON_AddStringToObject(data, "uuid", in.uuid);
	if (dev)
		cJSON_AddStringToObject(data, "name", dev->name);
	return 0;
}

const struct fc_vendor_cli tuya_cli = {
	.add_usage =
		"fakecloud device add tuya --uuid UUID --auth-key KEY [--psk-key KEY] [--schema-file FILE]\n"
		"    [--schema-id ID] [--dp-names 1=state,9=countdown] [--name NAME] [--pv 2.1|2.2|2.3]\n"
		"  (the factory secrets from a flash dump or cloudcutter; the device activates with fakecloud,\n"
		"   which mints its devId, secKey and localKey once)\n"
		"fakecloud device add tuya --uuid UUID --dev-id ID --local-key KEY [--sec-key KEY] ...\n"
		"  (a device already activated elsewhere: keeps its devId and localKey; without --sec-key its MQTT\n"
		"   password cannot be checked)",
	.device_add = device_add,
	.device_export = device_export,
	.provision_usage = tuya_provision_usage,
	.provision = tuya_provision,
};
