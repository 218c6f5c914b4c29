/* Meross namespace converters: device payloads (meross.md §4) -> normalised attributes, and plain
 * attributes -> SET payloads. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "unit/t.h"
#include "vendors/meross/meross_internal.h"

static cJSON *to_state(const char *ns, const char *payload, struct meross_dev *md)
{
	const struct meross_ns *n = meross_ns_find(ns, NULL);
	CHECK(n != NULL);
	cJSON *p = cJSON_Parse(payload);
	cJSON *patch = cJSON_CreateObject();
	if (n && p)
		n->to_state(p, patch, md);
	cJSON_Delete(p);
	return patch;
}

static char *set_payload(const char *ns, const char *set, const char *state, struct meross_dev *md, char *err,
			 size_t errlen)
{
	const struct meross_ns *n = meross_ns_find(ns, NULL);
	cJSON *s = cJSON_Parse(set), *st = cJSON_Parse(state ? state : "{}");
	cJSON *p = n ? n->set_payload(md, s, st, err, errlen) : NULL;
	char *out = p ? cJSON_PrintUnformatted(p) : NULL;
	cJSON_Delete(p);
	cJSON_Delete(s);
	cJSON_Delete(st);
	return out;
}

static void check_json(cJSON *j, const char *want)
{
	char *s = cJSON_PrintUnformatted(j);
	CHECK_STR(s, want);
	free(s);
	cJSON_Delete(j);
}

static void check_str(char *got, const char *want)
{
	CHECK_STR(got, want);
	free(got);
}

int main(void)
{
	struct meross_dev md = {.channels = 1};
	snprintf(md.uuid, sizeof md.uuid, "2012317778118925583748e1e943e9bc");
	char err[128] = "";

	/* ToggleX: list (multi-channel) and single object forms; channel 0 = state, n = state_l<n> */
	check_json(to_state("Appliance.Control.ToggleX",
			    "{\"togglex\":[{\"channel\":0,\"onoff\":1,\"lmTime\":1559375884},{\"channel\":3,\"onoff\":0}]}", &md),
		   "{\"state\":\"ON\",\"state_l3\":\"OFF\"}");
	CHECK_INT(md.channels, 4);
	check_json(to_state("Appliance.Control.ToggleX", "{\"togglex\":{\"channel\":0,\"onoff\":0}}", &md),
		   "{\"state\":\"OFF\"}");
	check_json(to_state("Appliance.Control.ToggleX", "{\"togglex\":[{\"channel\":99,\"onoff\":1},{\"channel\":\"x\"}]}",
			    &md),
		   "{}");
	check_str(set_payload("Appliance.Control.ToggleX", "{\"state_l2\":\"ON\"}", NULL, &md, err, sizeof err),
		  "{\"togglex\":{\"channel\":2,\"onoff\":1}}");
	check_str(set_payload("Appliance.Control.ToggleX", "{\"state\":\"TOGGLE\"}", "{\"state\":\"ON\"}", &md, err, sizeof err),
		  "{\"togglex\":{\"channel\":0,\"onoff\":0}}");
	check_str(set_payload("Appliance.Control.ToggleX", "{\"state\":\"OFF\",\"state_l1\":\"ON\"}", NULL, &md, err,
			      sizeof err),
		  "{\"togglex\":[{\"channel\":0,\"onoff\":0},{\"channel\":1,\"onoff\":1}]}");

	/* legacy Toggle */
	check_json(to_state("Appliance.Control.Toggle", "{\"toggle\":{\"onoff\":1,\"lmTime\":5}}", &md), "{\"state\":\"ON\"}");
	check_str(set_payload("Appliance.Control.Toggle", "{\"state\":\"OFF\"}", NULL, &md, err, sizeof err),
		  "{\"channel\":0,\"toggle\":{\"onoff\":0}}");

	/* Electricity: mA / dV / mW -> A / V / W (sample from meross.md §4) */
	check_json(to_state("Appliance.Control.Electricity",
			    "{\"electricity\":{\"channel\":0,\"current\":56,\"voltage\":2180,\"power\":714}}", &md),
		   "{\"power\":0.714,\"voltage\":218,\"current\":0.056}");

	/* ConsumptionX: the latest day, Wh -> kWh */
	check_json(to_state("Appliance.Control.ConsumptionX",
			    "{\"consumptionx\":[{\"date\":\"2023-02-10\",\"time\":1676020378,\"value\":1234},"
			    "{\"date\":\"2023-02-09\",\"time\":1675933978,\"value\":99}]}",
			    &md),
		   "{\"energy\":1.234}");

	/* Light */
	check_json(to_state("Appliance.Control.Light",
			    "{\"light\":{\"capacity\":5,\"channel\":0,\"rgb\":62719,\"temperature\":44,\"luminance\":1}}", &md),
		   "{\"brightness\":1,\"color_temp\":44,\"color\":\"#00f4ff\"}");
	check_str(set_payload("Appliance.Control.Light", "{\"brightness\":40,\"color\":\"#ff0000\"}", NULL, &md, err,
			      sizeof err),
		  "{\"light\":{\"luminance\":40,\"rgb\":16711680,\"channel\":0,\"capacity\":5,\"gradual\":0}}");
	err[0] = 0;
	CHECK(set_payload("Appliance.Control.Light", "{\"color\":\"red\"}", NULL, &md, err, sizeof err) == NULL);
	CHECK(strstr(err, "#rrggbb") != NULL);

	/* Spray, garage door, DND */
	check_json(to_state("Appliance.Control.Spray", "{\"spray\":{\"channel\":0,\"mode\":2}}", &md),
		   "{\"spray\":\"intermittent\"}");
	check_str(set_payload("Appliance.Control.Spray", "{\"spray\":\"continuous\"}", NULL, &md, err, sizeof err),
		  "{\"spray\":{\"channel\":0,\"mode\":1}}");
	check_json(to_state("Appliance.GarageDoor.State", "{\"state\":[{\"channel\":0,\"open\":1,\"lmTime\":0}]}", &md),
		   "{\"door\":\"OPEN\"}");
	check_str(set_payload("Appliance.GarageDoor.State", "{\"door\":\"CLOSE\"}", NULL, &md, err, sizeof err),
		  "{\"state\":{\"channel\":0,\"open\":0,\"uuid\":\"2012317778118925583748e1e943e9bc\"}}");
	check_json(to_state("Appliance.System.DNDMode", "{\"DNDMode\":{\"mode\":1}}", &md), "{\"do_not_disturb\":\"ON\"}");

	/* Thermostat.Mode (MTS200), temperatures x10 */
	check_json(to_state("Appliance.Control.Thermostat.Mode",
			    "{\"mode\":[{\"channel\":0,\"mode\":4,\"onoff\":1,\"manualTemp\":235,\"currentTemp\":198}]}", &md),
		   "{\"state\":\"ON\",\"system_mode\":\"manual\",\"target_temperature\":23.5,\"local_temperature\":19.8}");
	check_str(set_payload("Appliance.Control.Thermostat.Mode", "{\"system_mode\":\"economy\",\"target_temperature\":21}",
			      NULL, &md, err, sizeof err),
		  "{\"mode\":[{\"channel\":0,\"mode\":2,\"manualTemp\":210}]}");

	/* Exposes from abilities: a 4-channel strip with electricity */
	struct meross_dev strip = {.channels = 4};
	size_t tx, el;
	meross_ns_find("Appliance.Control.ToggleX", &tx);
	meross_ns_find("Appliance.Control.Electricity", &el);
	strip.abilities = (1u << tx) | (1u << el);
	struct fc_exposes x = {0};
	meross_build_exposes(&strip, &x);
	CHECK_INT(x.n, 7);
	CHECK(fc_exposes_find(&x, "state_l3") != NULL);
	CHECK(fc_exposes_find(&x, "state_l4") == NULL);
	const struct fc_expose *p = fc_exposes_find(&x, "power");
	CHECK(p && strcmp(p->unit, "W") == 0 && !(p->access & FC_ACCESS_SET));
	fc_exposes_free(&x);
	return t_done();
}
