/* Tuya DP schema (vendors/tuya/schema.c, tuya_internal.h "schema.c") against tuya.md §1.5 "Schema string"
 * and §3 (dps objects of protocol 4 reports / protocol 5 commands).
 *
 * JSON in this file is written with single quotes for readability; q() turns them into double quotes
 * (no test text needs a real single quote). Expected outputs are literal JSON texts. cJSON prints a
 * double that is only close to a decimal like the decimal (0.30000000000000004 as 0.3), so exactness of
 * scaled numbers is also checked on the doubles themselves. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/exposes.h"
#include "t.h"
#include "vendors/tuya/tuya_internal.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

static char *q(const char *sq)
{
	char *s = strdup(sq);
	if (!s)
		abort();
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

static cJSON *J(const char *sq)
{
	if (!sq)
		return NULL;
	char *s = q(sq);
	cJSON *j = cJSON_Parse(s);
	free(s);
	if (!j)
		abort();
	return j;
}

/* Parse a single-quoted schema with optional single-quoted dp_names. */
static int parse(const char *schema_sq, const char *names_sq, struct tuya_schema *s, char *err, size_t errlen)
{
	char *text = q(schema_sq);
	cJSON *names = J(names_sq);
	err[0] = '\0';
	int rc = tuya_schema_parse(text, strlen(text), names, s, err, errlen);
	cJSON_Delete(names);
	free(text);
	return rc;
}

static struct tuya_schema S; /* ~45 KB: kept off the stack */

static void check_reason(const char *err, const char *want, int line)
{
	if (!strstr(err, want)) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: reason \"%s\" lacks \"%s\"\n", line, err, want);
	} else {
		t_passed++;
	}
}
#define REASON(err, want) check_reason((err), (want), __LINE__)

static void refused(const char *schema_sq, const char *names_sq, const char *want, int line)
{
	char err[256];
	int rc = parse(schema_sq, names_sq, &S, err, sizeof err);
	if (rc != -1 || S.n != 0) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: schema accepted (rc %d, n %zu): %s\n", line, rc, S.n, schema_sq);
		return;
	}
	t_passed++;
	check_reason(err, want, line);
}
#define REFUSED(schema, names, want) refused((schema), (names), (want), __LINE__)

static void parsed(const char *schema_sq, const char *names_sq, int line)
{
	char err[256];
	if (parse(schema_sq, names_sq, &S, err, sizeof err) != 0) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: schema refused: %s\n", line, err);
		memset(&S, 0, sizeof S);
	} else {
		t_passed++;
	}
}
#define PARSED(schema, names) parsed((schema), (names), __LINE__)

static const char *prop_of(int id)
{
	const struct tuya_dp *dp = tuya_schema_dp(&S, id);
	return dp ? dp->prop : "(no dp)";
}

/* dps -> printed state patch, compared with want (single quotes). */
static void state_is(const char *dps_sq, const char *want_sq, int want_n, int line)
{
	cJSON *dps = J(dps_sq), *patch = cJSON_CreateObject();
	int n = tuya_schema_dps_to_state(&S, dps, patch);
	char *got = cJSON_PrintUnformatted(patch), *want = q(want_sq);
	if (n != want_n || strcmp(got, want) != 0) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: state %s (%d) != %s (%d)\n", line, got, n, want, want_n);
	} else {
		t_passed++;
	}
	cJSON_free(got);
	free(want);
	cJSON_Delete(dps);
	cJSON_Delete(patch);
}
#define STATE_IS(dps, want, n) state_is((dps), (want), (n), __LINE__)

/* set (+ state) -> printed dps == want, or NULL with a reason containing why. */
static void set_is(const char *set_sq, const char *state_sq, const char *want_sq, const char *why, int line)
{
	cJSON *set = J(set_sq), *state = J(state_sq);
	char err[256] = "";
	cJSON *dps = tuya_schema_set_to_dps(&S, set, state, err, sizeof err);
	if (want_sq) {
		char *got = dps ? cJSON_PrintUnformatted(dps) : NULL, *want = q(want_sq);
		if (!got || strcmp(got, want) != 0) {
			t_failed++;
			fprintf(stderr, "FAIL line %d: set -> %s != %s (%s)\n", line, got ? got : "NULL", want, err);
		} else {
			t_passed++;
		}
		cJSON_free(got);
		free(want);
	} else if (dps) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: set accepted, expected \"%s\"\n", line, why);
	} else {
		t_passed++;
		check_reason(err, why, line);
	}
	cJSON_Delete(dps);
	cJSON_Delete(set);
	cJSON_Delete(state);
}
#define SET_IS(set, state, want) set_is((set), (state), (want), NULL, __LINE__)
#define SET_FAILS(set, state, why) set_is((set), (state), NULL, (why), __LINE__)

static const struct fc_expose *expose(const struct fc_exposes *x, const char *prop)
{
	static const struct fc_expose none; /* keeps the checks running after a failure */
	const struct fc_expose *e = fc_exposes_find(x, prop);
	if (!e) {
		t_failed++;
		fprintf(stderr, "FAIL: no expose %s\n", prop);
		return &none;
	}
	return e;
}

#define RO (FC_ACCESS_STATE | FC_ACCESS_GET)
#define RW (FC_ACCESS_STATE | FC_ACCESS_GET | FC_ACCESS_SET)

/* ---- schemas ----------------------------------------------------------------------------------- */

static const char example_schema[] =
	"[{'id':1,'type':'obj','mode':'rw','property':{'type':'bool'}},"
	"{'id':2,'type':'obj','mode':'rw','property':{'type':'value','min':0,'max':86400,'scale':0,'step':1,"
	"'unit':'s'},'code':'countdown_1'},"
	"{'id':3,'type':'obj','mode':'rw','property':{'type':'enum','range':['white','colour','scene','music']}},"
	"{'id':4,'type':'obj','mode':'ro','property':{'type':'string','maxlen':255}},"
	"{'id':5,'type':'raw','mode':'rw','property':{'type':'raw','maxlen':128}}]";

/* Shaped like the cloud's product schemas (ioBroker.tuya and tinytuya dumps): with code, name, desc,
 * iconname, passive; empty unit for add_ele so the table default shows. */
static const char plug_schema[] =
	"[{'mode':'rw','code':'switch_1','name':'Switch','property':{'type':'bool'},'iconname':'icon-dp_power2',"
	"'id':1,'type':'obj','desc':''},"
	"{'mode':'rw','code':'countdown_1','property':{'unit':'s','min':0,'max':86400,'scale':0,'step':1,"
	"'type':'value'},'id':9,'type':'obj','passive':true},"
	"{'mode':'ro','code':'add_ele','property':{'unit':'','min':0,'max':50000,'scale':3,'step':100,"
	"'type':'value'},'id':17,'type':'obj'},"
	"{'mode':'ro','code':'cur_current','property':{'unit':'mA','min':0,'max':30000,'scale':0,'step':1,"
	"'type':'value'},'id':18,'type':'obj'},"
	"{'mode':'ro','code':'cur_power','property':{'unit':'W','min':0,'max':50000,'scale':1,'step':1,"
	"'type':'value'},'id':19,'type':'obj'},"
	"{'mode':'ro','code':'cur_voltage','property':{'unit':'V','min':0,'max':5000,'scale':1,'step':1,"
	"'type':'value'},'id':20,'type':'obj'}]";

static const char bulb_schema[] =
	"[{'id':20,'type':'obj','mode':'rw','code':'switch_led','property':{'type':'bool'}},"
	"{'id':21,'type':'obj','mode':'rw','code':'work_mode','property':{'type':'enum',"
	"'range':['white','colour','scene','music']}},"
	"{'id':22,'type':'obj','mode':'rw','code':'bright_value_v2','property':{'type':'value','min':10,"
	"'max':1000,'scale':0,'step':1}},"
	"{'id':23,'type':'obj','mode':'rw','code':'temp_value_v2','property':{'type':'value','min':0,'max':1000,"
	"'scale':0,'step':1}},"
	"{'id':24,'type':'obj','mode':'rw','code':'colour_data_v2','property':{'type':'string','maxlen':255}},"
	"{'id':26,'type':'obj','mode':'rw','code':'countdown','trigger':'direct','property':{'type':'value',"
	"'min':0,'max':86400,'scale':0,'step':1,'unit':'s'}}]";

static const char gang3_schema[] =
	"[{'id':1,'type':'obj','mode':'rw','code':'switch_1','property':{'type':'bool'}},"
	"{'id':2,'type':'obj','mode':'rw','code':'switch_2','property':{'type':'bool'}},"
	"{'id':3,'type':'obj','mode':'rw','code':'switch_3','property':{'type':'bool'}},"
	"{'id':7,'type':'obj','mode':'rw','code':'countdown_1','property':{'type':'value','min':0,'max':86400,"
	"'scale':0,'step':1,'unit':'s'}},"
	"{'id':14,'type':'obj','mode':'rw','code':'relay_status','property':{'type':'enum',"
	"'range':['0','1','2']}},"
	"{'id':101,'type':'obj','mode':'rw','code':'child_lock','property':{'type':'bool'}}]";

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_example(void)
{
	PARSED(example_schema, NULL);
	CHECK_INT(S.n, 5);
	const struct tuya_dp *d1 = tuya_schema_dp(&S, 1), *d2 = tuya_schema_dp(&S, 2), *d3 = tuya_schema_dp(&S, 3),
			     *d4 = tuya_schema_dp(&S, 4), *d5 = tuya_schema_dp(&S, 5);
	CHECK(d1 && d2 && d3 && d4 && d5 && !tuya_schema_dp(&S, 6));
	if (!d1 || !d2 || !d3 || !d4 || !d5)
		return;
	CHECK_INT(d1->type, TUYA_DP_BOOL);
	CHECK(d1->readable && d1->writable);
	CHECK_STR(d1->prop, "state"); /* no code, DP 1 bool */
	CHECK_STR(d1->code, "");
	CHECK_INT(d2->type, TUYA_DP_VALUE);
	CHECK_STR(d2->code, "countdown_1");
	CHECK_STR(d2->prop, "countdown");
	CHECK(d2->has_range && d2->min == 0 && d2->max == 86400 && d2->step == 1 && d2->scale == 0);
	CHECK_STR(d2->unit, "s");
	CHECK_INT(d3->type, TUYA_DP_ENUM);
	CHECK_STR(d3->prop, "dp_3");
	CHECK_INT(d3->n_range, 4);
	CHECK_STR(d3->range[1], "colour");
	CHECK_INT(d4->type, TUYA_DP_STRING);
	CHECK(d4->readable && !d4->writable);
	CHECK_INT(d4->maxlen, 255);
	CHECK_STR(d4->prop, "dp_4");
	CHECK_INT(d5->type, TUYA_DP_RAW);
	CHECK_INT(d5->maxlen, 128);
	CHECK_STR(d5->prop, "dp_5");
	CHECK(tuya_schema_prop(&S, "countdown") == d2);
	CHECK(tuya_schema_prop(&S, "nope") == NULL);
	CHECK(tuya_schema_prop(&S, NULL) == NULL);
	CHECK(tuya_schema_dp(NULL, 1) == NULL);

	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_INT(x.n, 5);
	const struct fc_expose *e = expose(&x, "state");
	CHECK_INT(e->type, FC_EXPOSE_BINARY);
	CHECK_INT(e->access, RW);
	CHECK_STR(e->value_on, "ON");
	CHECK_STR(e->value_off, "OFF");
	CHECK_STR(e->label, "state");
	e = expose(&x, "countdown");
	CHECK_INT(e->type, FC_EXPOSE_NUMERIC);
	CHECK(e->has_min && e->has_max && e->min == 0 && e->max == 86400 && e->step == 1);
	CHECK_STR(e->unit, "s");
	CHECK_STR(e->category, "config");
	CHECK_STR(e->device_class, "");
	e = expose(&x, "dp_3");
	CHECK_INT(e->type, FC_EXPOSE_ENUM);
	CHECK_INT(e->n_values, 4);
	CHECK_STR(e->values[0], "white");
	CHECK_STR(e->values[3], "music");
	CHECK_INT(e->access, RW);
	e = expose(&x, "dp_4");
	CHECK_INT(e->type, FC_EXPOSE_TEXT);
	CHECK_INT(e->access, RO);
	e = expose(&x, "dp_5");
	CHECK_INT(e->type, FC_EXPOSE_TEXT);
	CHECK_INT(e->access, RO); /* raw: shown, never set */
	fc_exposes_free(&x);

	STATE_IS("{'1':true,'2':60,'3':'colour','4':'hello','5':'AAEC','9':7}",
		 "{'state':'ON','countdown':60,'dp_3':'colour','dp_4':'hello','dp_5':'AAEC','dp_9':7}", 6);
	/* unknown DPs keep their value whatever it is */
	STATE_IS("{'200':{'a':[1,2]},'7':'x'}", "{'dp_200':{'a':[1,2]},'dp_7':'x'}", 2);
	/* wrong JSON types are skipped, not guessed */
	STATE_IS("{'1':1,'2':'60','3':4,'4':false,'5':null}", "{}", 0);
	/* keys that are not DP ids */
	STATE_IS("{'01':true,'0':1,'256':1,'abc':1,'-1':1,'':1}", "{}", 0);
	STATE_IS("{'1':false}", "{'state':'OFF'}", 1);
	STATE_IS("[1,2]", "{}", 0);
	STATE_IS("'dps'", "{}", 0);
	STATE_IS("null", "{}", 0);

	SET_FAILS("{'state':'ON','countdown':30,'dp_3':'scene','dp_4x':1}", NULL,
		  "dp_4x: not a data point of this device");
	SET_IS("{'state':'ON','countdown':30,'dp_3':'scene'}", NULL, "{'1':true,'2':30,'3':'scene'}");
	SET_FAILS("{'dp_4':'x'}", NULL, "dp_4: read-only");
	SET_FAILS("{'dp_5':'AAEC'}", NULL, "dp_5: raw data point, not settable");
}

static void test_set_shape(void)
{
	PARSED(example_schema, NULL);
	SET_FAILS("{'nope':1}", NULL, "nope: not a data point of this device");
	SET_FAILS("{}", NULL, "at least one attribute");
	SET_FAILS("[]", NULL, "expected an object");
	SET_FAILS("'state'", NULL, "expected an object");
}

static void test_plug(void)
{
	PARSED(plug_schema, NULL);
	CHECK_INT(S.n, 6);
	CHECK_STR(prop_of(1), "state"); /* switch_1 alone: not multi-gang */
	CHECK_STR(prop_of(9), "countdown");
	CHECK_STR(prop_of(17), "energy");
	CHECK_STR(prop_of(18), "current");
	CHECK_STR(prop_of(19), "power");
	CHECK_STR(prop_of(20), "voltage");
	CHECK_INT(tuya_schema_dp(&S, 17)->scale, 3);

	STATE_IS("{'1':true,'9':0,'17':123,'18':456,'19':1234,'20':2305}",
		 "{'state':'ON','countdown':0,'energy':0.123,'current':456,'power':123.4,'voltage':230.5}", 6);
	STATE_IS("{'20':2399,'19':1,'17':1}", "{'voltage':239.9,'power':0.1,'energy':0.001}", 3);
	STATE_IS("{'17':50000}", "{'energy':50}", 1);
	/* Exactly the doubles of the decimals, not 0.30000000000000004 (what multiplying by 0.1 gives; cJSON
	 * would print both as 0.3, so the printed form alone cannot tell). */
	STATE_IS("{'20':3,'17':9,'19':7}", "{'voltage':0.3,'energy':0.009,'power':0.7}", 3);
	cJSON *dps = J("{'20':3,'17':9,'19':7,'18':7}"), *patch = cJSON_CreateObject();
	tuya_schema_dps_to_state(&S, dps, patch);
	CHECK(cJSON_GetObjectItem(patch, "voltage")->valuedouble == 0.3);
	CHECK(cJSON_GetObjectItem(patch, "energy")->valuedouble == 0.009);
	CHECK(cJSON_GetObjectItem(patch, "power")->valuedouble == 0.7);
	CHECK(cJSON_GetObjectItem(patch, "current")->valuedouble == 7);
	cJSON_Delete(dps);
	cJSON_Delete(patch);

	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_INT(x.n, 6);
	const struct fc_expose *e = expose(&x, "energy");
	CHECK_INT(e->type, FC_EXPOSE_NUMERIC);
	CHECK_INT(e->access, RO);
	CHECK(e->has_min && e->min == 0 && e->has_max && e->max == 50);
	CHECK(fabs(e->step - 0.1) < 1e-12);
	CHECK_STR(e->unit, "kWh"); /* schema unit "" -> table default */
	CHECK_STR(e->device_class, "energy");
	CHECK_STR(e->state_class, "total_increasing");
	e = expose(&x, "power");
	CHECK(e->max == 5000 && fabs(e->step - 0.1) < 1e-12);
	CHECK_STR(e->unit, "W");
	CHECK_STR(e->device_class, "power");
	CHECK_STR(e->state_class, "measurement");
	e = expose(&x, "voltage");
	CHECK(e->max == 500);
	CHECK_STR(e->unit, "V");
	CHECK_STR(e->device_class, "voltage");
	CHECK_STR(e->state_class, "measurement");
	e = expose(&x, "current");
	CHECK(e->max == 30000 && e->step == 1);
	CHECK_STR(e->unit, "mA");
	CHECK_STR(e->device_class, "current");
	e = expose(&x, "state");
	CHECK_INT(e->access, RW);
	CHECK_STR(e->device_class, "");
	e = expose(&x, "countdown");
	CHECK_INT(e->access, RW);
	fc_exposes_free(&x);

	SET_IS("{'state':'OFF'}", NULL, "{'1':false}");
	SET_IS("{'countdown':3600}", NULL, "{'9':3600}");
	SET_FAILS("{'power':10}", NULL, "power: read-only");
	SET_FAILS("{'countdown':90000}", NULL, "countdown: 90000 is above the maximum 86400");
	SET_FAILS("{'countdown':-1}", NULL, "countdown: -1 is below the minimum 0");
	SET_FAILS("{'countdown':'10'}", NULL, "countdown: expected a number");
	SET_FAILS("{'state':'ON','foo':1}", NULL, "foo: not a data point of this device");
}

static void test_units(void)
{
	/* the schema's unit wins over the table; Chinese / Unicode spellings become HA units */
	PARSED("[{'id':1,'code':'cur_power','property':{'type':'value','min':0,'max':100,'scale':3,'unit':'kW'}},"
	       "{'id':2,'code':'temp_current','property':{'type':'value','min':-200,'max':600,'scale':1,'unit':'\xe2\x84\x83'}},"
	       "{'id':3,'code':'add_ele','property':{'type':'value','min':0,'max':99999,'scale':2,'unit':'度'}},"
	       "{'id':4,'code':'humidity_value','property':{'type':'value','min':0,'max':100}},"
	       "{'id':5,'code':'battery_percentage','mode':'ro','property':{'type':'value','min':0,'max':100}},"
	       "{'id':6,'code':'va_temperature','property':{'type':'value','min':0,'max':100,'unit':'\xe2\x84\x89'}},"
	       "{'id':7,'code':'countdown','property':{'type':'value','min':0,'max':10,'unit':'秒'}},"
	       "{'id':8,'code':'va_humidity','property':{'type':'value','min':0,'max':1000,'scale':1}}]",
	       NULL);
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	const struct fc_expose *e = expose(&x, "power");
	CHECK_STR(e->unit, "kW");
	CHECK_STR(e->device_class, "power");
	CHECK(e->max == 0.1);
	e = expose(&x, "temperature");
	CHECK_STR(e->unit, "°C");
	CHECK_STR(e->device_class, "temperature");
	CHECK_STR(e->state_class, "measurement");
	CHECK(e->min == -20 && e->max == 60);
	e = expose(&x, "energy");
	CHECK_STR(e->unit, "kWh");
	e = expose(&x, "humidity");
	CHECK_STR(e->unit, "%");
	CHECK_STR(e->device_class, "humidity");
	e = expose(&x, "battery");
	CHECK_STR(e->unit, "%");
	CHECK_STR(e->device_class, "battery");
	CHECK_INT(e->access, FC_ACCESS_STATE | FC_ACCESS_GET);
	CHECK_STR(e->category, "diagnostic");
	e = expose(&x, "dp_6"); /* va_temperature after temp_current: the later one falls back */
	CHECK_STR(e->unit, "°F");
	CHECK_STR(e->label, "va_temperature");
	CHECK_STR(e->device_class, "temperature");
	e = expose(&x, "countdown");
	CHECK_STR(e->unit, "s");
	e = expose(&x, "dp_8");
	CHECK_STR(e->label, "va_humidity");
	CHECK(e->max == 100);
	fc_exposes_free(&x);
	STATE_IS("{'2':-125,'1':1}", "{'temperature':-12.5,'power':0.001}", 2);
	SET_IS("{'temperature':-12.5}", NULL, "{'2':-125}");
	SET_IS("{'temperature':21.04}", NULL, "{'2':210}"); /* rounded to the device's resolution */
	SET_IS("{'temperature':-0.04}", NULL, "{'2':0}");  /* not -0 */
	SET_FAILS("{'temperature':60.1}", NULL, "temperature: 60.1 is above the maximum 60");
	SET_IS("{'power':0.1}", NULL, "{'1':100}");
	SET_IS("{'temperature':0.3}", NULL, "{'2':3}");
}

static void test_bulb(void)
{
	PARSED(bulb_schema, NULL);
	CHECK_STR(prop_of(20), "state");
	CHECK_STR(prop_of(21), "mode");
	CHECK_STR(prop_of(22), "brightness");
	CHECK_STR(prop_of(23), "color_temp");
	CHECK_STR(prop_of(24), "color");
	CHECK_STR(prop_of(26), "countdown");
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_INT(x.n, 6);
	const struct fc_expose *e = expose(&x, "mode");
	CHECK_INT(e->type, FC_EXPOSE_ENUM);
	CHECK_INT(e->n_values, 4);
	CHECK_STR(e->values[1], "colour");
	e = expose(&x, "brightness");
	CHECK(e->min == 10 && e->max == 1000 && e->step == 1);
	CHECK_STR(e->unit, "");
	e = expose(&x, "color");
	CHECK_INT(e->type, FC_EXPOSE_TEXT);
	CHECK_INT(e->access, RW);
	fc_exposes_free(&x);

	STATE_IS("{'20':true,'21':'colour','22':1000,'24':'000003e803e8'}",
		 "{'state':'ON','mode':'colour','brightness':1000,'color':'000003e803e8'}", 4);
	SET_IS("{'mode':'colour'}", NULL, "{'21':'colour'}");
	SET_IS("{'mode':'COLOUR'}", NULL, "{'21':'colour'}");
	SET_FAILS("{'mode':'disco'}", NULL, "mode: \"disco\" is not one of white, colour, scene, music");
	SET_FAILS("{'mode':3}", NULL, "mode: expected one of white, colour, scene, music");
	SET_IS("{'brightness':500,'state':'ON'}", NULL, "{'22':500,'20':true}");
	SET_FAILS("{'brightness':5}", NULL, "brightness: 5 is below the minimum 10");
	SET_IS("{'color':'00b403e803e8'}", NULL, "{'24':'00b403e803e8'}");
	char big[400];
	snprintf(big, sizeof big, "{'color':'%0300d'}", 0);
	SET_FAILS(big, NULL, "color: 300 bytes, at most 255");
	SET_FAILS("{'color':12}", NULL, "color: expected a string");
}

static void test_toggle(void)
{
	PARSED(bulb_schema, NULL);
	SET_IS("{'state':'TOGGLE'}", "{'state':'ON','mode':'white'}", "{'20':false}");
	SET_IS("{'state':'TOGGLE'}", "{'state':'OFF'}", "{'20':true}");
	SET_FAILS("{'state':'TOGGLE'}", "{'mode':'white'}", "state: current value unknown, cannot TOGGLE");
	SET_FAILS("{'state':'TOGGLE'}", NULL, "state: current value unknown, cannot TOGGLE");
	SET_FAILS("{'state':'TOGGLE'}", "{'state':true}", "state: current value unknown, cannot TOGGLE");
	SET_FAILS("{'state':'maybe'}", NULL, "state: expected ON, OFF or TOGGLE");
	SET_IS("{'state':true}", NULL, "{'20':true}"); /* a JSON bool (not what coerce makes, still clear) */
}

static void test_multigang(void)
{
	PARSED(gang3_schema, NULL);
	CHECK_STR(prop_of(1), "state_l1");
	CHECK_STR(prop_of(2), "state_l2");
	CHECK_STR(prop_of(3), "state_l3");
	CHECK_STR(prop_of(7), "countdown");
	CHECK_STR(prop_of(14), "power_on_behavior");
	CHECK_STR(prop_of(101), "child_lock");
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_STR(expose(&x, "power_on_behavior")->category, "config");
	CHECK_INT(expose(&x, "child_lock")->type, FC_EXPOSE_BINARY);
	fc_exposes_free(&x);
	STATE_IS("{'1':true,'2':false,'3':true,'14':'2'}",
		 "{'state_l1':'ON','state_l2':'OFF','state_l3':'ON','power_on_behavior':'2'}", 4);
	SET_IS("{'state_l2':'ON','state_l3':'TOGGLE'}", "{'state_l3':'ON'}", "{'2':true,'3':false}");

	/* switch_2..switch_8 and the switch_1 rule only when switch_2 exists */
	PARSED("[{'id':1,'code':'switch_1','property':{'type':'bool'}},"
	       "{'id':3,'code':'switch_3','property':{'type':'bool'}},"
	       "{'id':8,'code':'switch_8','property':{'type':'bool'}}]",
	       NULL);
	CHECK_STR(prop_of(1), "state");
	CHECK_STR(prop_of(3), "state_l3");
	CHECK_STR(prop_of(8), "state_l8");
	PARSED("[{'id':2,'code':'switch_2','property':{'type':'bool'}},"
	       "{'id':1,'code':'switch','property':{'type':'bool'}}]",
	       NULL);
	CHECK_STR(prop_of(1), "state");
	CHECK_STR(prop_of(2), "state_l2");
	PARSED("[{'id':5,'code':'switch_2','property':{'type':'bool'}},"
	       "{'id':4,'code':'switch_1','property':{'type':'bool'}}]",
	       NULL);
	CHECK_STR(prop_of(4), "state_l1"); /* order in the schema does not matter */
	PARSED("[{'id':1,'code':'led_switch','property':{'type':'bool'}},"
	       "{'id':2,'code':'switch_9','property':{'type':'bool'}},"
	       "{'id':3,'code':'bright_value','property':{'type':'value','min':25,'max':255}},"
	       "{'id':4,'code':'temp_value','property':{'type':'value','min':0,'max':255}},"
	       "{'id':5,'code':'colour_data','property':{'type':'string','maxlen':14}},"
	       "{'id':6,'code':'countdown_2','property':{'type':'value','min':0,'max':10}}]",
	       NULL);
	CHECK_STR(prop_of(1), "state");
	CHECK_STR(prop_of(2), "switch_9");
	CHECK_STR(prop_of(3), "brightness");
	CHECK_STR(prop_of(4), "color_temp");
	CHECK_STR(prop_of(5), "color");
	CHECK_STR(prop_of(6), "countdown_2");
}

static void test_naming(void)
{
	/* no codes */
	PARSED("[{'id':1,'property':{'type':'bool'}},{'id':2,'property':{'type':'bool'}},"
	       "{'id':3,'property':{'type':'value'}}]",
	       NULL);
	CHECK_STR(prop_of(1), "state");
	CHECK_STR(prop_of(2), "dp_2");
	CHECK_STR(prop_of(3), "dp_3");
	PARSED("[{'id':1,'property':{'type':'value','min':0,'max':1}}]", NULL);
	CHECK_STR(prop_of(1), "dp_1"); /* DP 1 but not bool */
	PARSED(TUYA_DEFAULT_SCHEMA, NULL);
	CHECK_INT(S.n, 1);
	CHECK_STR(prop_of(1), "state");
	CHECK(S.dp[0].readable && S.dp[0].writable && S.dp[0].type == TUYA_DP_BOOL);

	/* other codes: lowercased, [a-z0-9_] kept, the rest '_' (per byte) */
	PARSED("[{'id':1,'code':'Foo-Bar.1','property':{'type':'bool'}},"
	       "{'id':2,'code':'温度','property':{'type':'bool'}},"
	       "{'id':3,'code':'fault','property':{'type':'bitmap','label':['a','b'],'maxlen':2}},"
	       "{'id':4,'code':'','property':{'type':'bool'}},"
	       "{'id':5,'code':null,'property':{'type':'bool'}}]",
	       NULL);
	CHECK_STR(prop_of(1), "foo_bar_1");
	CHECK_STR(prop_of(2), "______");
	CHECK_STR(prop_of(3), "fault");
	CHECK_STR(prop_of(4), "dp_4");
	CHECK_STR(prop_of(5), "dp_5");

	/* clashes: the later DP falls back to dp_<id>, labelled with its code */
	PARSED("[{'id':1,'property':{'type':'bool'}},{'id':2,'code':'switch','property':{'type':'bool'}},"
	       "{'id':3,'code':'switch_led','property':{'type':'bool'}},{'id':4,'code':'switch','property':{'type':'bool'}}]",
	       NULL);
	CHECK_STR(prop_of(1), "state");
	CHECK_STR(prop_of(2), "dp_2");
	CHECK_STR(prop_of(3), "dp_3");
	CHECK_STR(prop_of(4), "dp_4");
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_STR(expose(&x, "state")->label, "state");
	CHECK_STR(expose(&x, "dp_2")->label, "switch");
	CHECK_STR(expose(&x, "dp_3")->label, "switch_led");
	fc_exposes_free(&x);
	/* a code spelling another DP's fallback name: still unique, still deterministic */
	PARSED("[{'id':3,'code':'dp_5','property':{'type':'bool'}},{'id':5,'property':{'type':'bool'}}]", NULL);
	CHECK_STR(prop_of(3), "dp_5");
	CHECK_STR(prop_of(5), "dp_5_2");
	/* ... and reports for an unknown DP 5 never overwrite the schema DP that owns "dp_5" */
	PARSED("[{'id':3,'code':'dp_5','property':{'type':'bool'}}]", NULL);
	STATE_IS("{'5':1,'3':true}", "{'dp_5':'ON'}", 1);
}

static void test_dp_names(void)
{
	PARSED(plug_schema, "{'1':'relay','9':'timer'}");
	CHECK_STR(prop_of(1), "relay");
	CHECK_STR(prop_of(9), "timer");
	CHECK_STR(prop_of(19), "power");
	SET_IS("{'relay':'ON','timer':5}", NULL, "{'1':true,'9':5}");
	SET_FAILS("{'state':'ON'}", NULL, "state: not a data point of this device");
	/* an override wins over a known code, even one earlier in the schema */
	PARSED(plug_schema, "{'18':'power'}");
	CHECK_STR(prop_of(18), "power");
	CHECK_STR(prop_of(19), "dp_19");
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_STR(expose(&x, "dp_19")->label, "cur_power");
	CHECK_STR(expose(&x, "dp_19")->device_class, "power"); /* classes follow the code, not the name */
	CHECK_STR(expose(&x, "power")->unit, "mA");
	fc_exposes_free(&x);
	/* ids not in the schema are ignored (the schema may have been re-imported) */
	PARSED(plug_schema, "{'99':'spare','1':'main'}");
	CHECK_STR(prop_of(1), "main");
	PARSED(plug_schema, "{}");
	CHECK_STR(prop_of(1), "state");
	PARSED(plug_schema, "null");
	CHECK_STR(prop_of(1), "state");

	REFUSED(plug_schema, "{'1':'x','9':'x'}", "dp_names: \"x\" is given to both dp 1 and dp 9");
	REFUSED(plug_schema, "{'1':'Relay'}", "dp_names: dp 1: not a valid attribute name");
	REFUSED(plug_schema, "{'1':'a b'}", "not a valid attribute name");
	REFUSED(plug_schema, "{'1':''}", "not a valid attribute name");
	REFUSED(plug_schema, "{'1':'a23456789012345678901234567890123456789012345678'}", "1..47 characters");
	PARSED(plug_schema, "{'1':'a2345678901234567890123456789012345678901234567'}"); /* 47 is fine */
	REFUSED(plug_schema, "{'1':5}", "not a valid attribute name");
	REFUSED(plug_schema, "{'abc':'x'}", "dp_names: \"abc\" is not a dp id (1..255)");
	REFUSED(plug_schema, "{'0':'x'}", "is not a dp id");
	REFUSED(plug_schema, "{'256':'x'}", "is not a dp id");
	REFUSED(plug_schema, "{'01':'x'}", "is not a dp id");
	REFUSED(plug_schema, "{'1':'x','1':'y'}", "dp_names: dp 1 is named twice");
	REFUSED(plug_schema, "['state']", "dp_names is not an object");
	REFUSED(plug_schema, "'state'", "dp_names is not an object");
}

static void test_refusals(void)
{
	char err[256];
	CHECK_INT(tuya_schema_parse("", 0, NULL, &S, err, sizeof err), -1);
	REASON(err, "schema empty");
	CHECK_INT(tuya_schema_parse(NULL, 0, NULL, &S, err, sizeof err), -1);
	static const char nul[] = "[{\"id\":1,\"property\":{\"type\":\"bool\"}}]\0 ";
	CHECK_INT(tuya_schema_parse(nul, sizeof nul - 1, NULL, &S, err, sizeof err), -1);
	REASON(err, "NUL byte in schema");
	char *big = malloc(TUYA_MAX_JSON + 2);
	memset(big, ' ', TUYA_MAX_JSON + 1);
	big[0] = '[';
	big[TUYA_MAX_JSON - 1] = ']';
	CHECK_INT(tuya_schema_parse(big, TUYA_MAX_JSON, NULL, &S, err, sizeof err), 0); /* at the bound */
	CHECK_INT(tuya_schema_parse(big, TUYA_MAX_JSON + 1, NULL, &S, err, sizeof err), -1);
	REASON(err, "schema too large (65537 > 65536 bytes)");
	free(big);
	/* the length is honoured: the text beyond it is never read */
	CHECK_INT(tuya_schema_parse("[]garbage", 2, NULL, &S, err, sizeof err), 0);
	CHECK_INT(S.n, 0);

	REFUSED("{}", NULL, "schema is not a JSON array");
	REFUSED("'x'", NULL, "schema is not a JSON array");
	REFUSED("[1", NULL, "schema is not JSON");
	REFUSED("[] x", NULL, "trailing data after the schema at byte 3");
	REFUSED("[][]", NULL, "trailing data");

	char many[8192];
	size_t used = (size_t)snprintf(many, sizeof many, "[");
	for (int i = 1; i <= TUYA_SCHEMA_MAX_DPS + 1; i++)
		used += (size_t)snprintf(many + used, sizeof many - used, "%s{'id':%d,'property':{'type':'bool'}}",
					 i > 1 ? "," : "", i);
	snprintf(many + used, sizeof many - used, "]");
	REFUSED(many, NULL, "schema has 65 data points (64 supported)");
	/* 64 is fine */
	char *cut = strstr(many, ",{'id':65");
	snprintf(cut, 2, "]");
	PARSED(many, NULL);
	CHECK_INT(S.n, TUYA_SCHEMA_MAX_DPS);

	REFUSED("[1]", NULL, "schema entry 1: not an object");
	REFUSED("[{'id':1,'property':{'type':'bool'}},{'property':{'type':'bool'}}]", NULL, "schema entry 2: id missing");
	REFUSED("[{'id':0,'property':{'type':'bool'}}]", NULL, "schema entry 1: id 0 outside 1..255");
	REFUSED("[{'id':256,'property':{'type':'bool'}}]", NULL, "schema entry 1: id 256 outside 1..255");
	REFUSED("[{'id':-3,'property':{'type':'bool'}}]", NULL, "id -3 outside 1..255");
	REFUSED("[{'id':1.5,'property':{'type':'bool'}}]", NULL, "id 1.5 outside 1..255");
	REFUSED("[{'id':'1','property':{'type':'bool'}}]", NULL, "schema entry 1: id is not a number");
	REFUSED("[{'id':1,'property':{'type':'bool'}},{'id':2,'property':{'type':'bool'}},"
		"{'id':1,'property':{'type':'bool'}}]",
		NULL, "schema entry 3 (dp 1): duplicate id (also entry 1)");
	REFUSED("[{'id':4}]", NULL, "schema entry 1 (dp 4): property missing");
	REFUSED("[{'id':4,'type':'obj','property':[1]}]", NULL, "(dp 4): property is not an object");
	REFUSED("[{'id':4,'property':{}}]", NULL, "(dp 4): property type missing");
	REFUSED("[{'id':4,'property':{'type':5}}]", NULL, "(dp 4): property type missing");
	REFUSED("[{'id':4,'property':{'type':'float'}}]", NULL, "(dp 4): property type \"float\" unknown");
	REFUSED("[{'id':4,'type':1,'property':{'type':'bool'}}]", NULL, "(dp 4): type is not a string");
	REFUSED("[{'id':4,'mode':'rx','property':{'type':'bool'}}]", NULL, "(dp 4): mode \"rx\" unknown (rw, ro or wr)");
	REFUSED("[{'id':4,'mode':'r','property':{'type':'bool'}}]", NULL, "mode \"r\" unknown");
	REFUSED("[{'id':4,'mode':1,'property':{'type':'bool'}}]", NULL, "(dp 4): mode is not a string");
	REFUSED("[{'id':4,'code':7,'property':{'type':'bool'}}]", NULL, "(dp 4): code is not a string");
	REFUSED("[{'id':4,'code':'a23456789012345678901234567890123456789012345678','property':{'type':'bool'}}]",
		NULL, "(dp 4): code is 48 bytes long (47 supported)");

	/* enum */
	char e20[1024];
	used = (size_t)snprintf(e20, sizeof e20,
				"[{'id':1,'property':{'type':'bool'}},{'id':2,'property':{'type':'bool'}},"
				"{'id':7,'property':{'type':'enum','range':[");
	for (int i = 0; i < 20; i++)
		used += (size_t)snprintf(e20 + used, sizeof e20 - used, "%s'v%d'", i ? "," : "", i);
	snprintf(e20 + used, sizeof e20 - used, "]}}]");
	char err2[256];
	CHECK_INT(parse(e20, NULL, &S, err2, sizeof err2), -1);
	CHECK_STR(err2, "schema entry 3 (dp 7): enum range has 20 values (16 supported)");
	REFUSED("[{'id':7,'property':{'type':'enum'}}]", NULL, "(dp 7): enum has no range array");
	REFUSED("[{'id':7,'property':{'type':'enum','range':'a,b'}}]", NULL, "enum has no range array");
	REFUSED("[{'id':7,'property':{'type':'enum','range':[]}}]", NULL, "(dp 7): enum range is empty");
	REFUSED("[{'id':7,'property':{'type':'enum','range':['a',2]}}]", NULL, "(dp 7): enum value 2 is not a string");
	REFUSED("[{'id':7,'property':{'type':'enum','range':['a2345678901234567890123456789012']}}]", NULL,
		"(dp 7): enum value 1 is 32 bytes long (31 supported)");
	PARSED("[{'id':7,'property':{'type':'enum','range':['a234567890123456789012345678901',"
	       "'1','2','3','4','5','6','7','8','9','10','11','12','13','14','15']}}]",
	       NULL);
	CHECK_INT(S.dp[0].n_range, 16);

	/* value */
	REFUSED("[{'id':3,'property':{'type':'value','min':10,'max':5}}]", NULL, "(dp 3): min 10 is above max 5");
	REFUSED("[{'id':3,'property':{'type':'value','min':0}}]", NULL, "(dp 3): value has min but no max");
	REFUSED("[{'id':3,'property':{'type':'value','max':0}}]", NULL, "value has max but no min");
	REFUSED("[{'id':3,'property':{'type':'value','min':0.5,'max':5}}]", NULL, "min and max must be 32-bit integers");
	REFUSED("[{'id':3,'property':{'type':'value','min':0,'max':4294967296}}]", NULL, "32-bit integers");
	REFUSED("[{'id':3,'property':{'type':'value','min':'0','max':5}}]", NULL, "32-bit integers");
	REFUSED("[{'id':3,'property':{'type':'value','min':0,'max':5,'scale':10}}]", NULL,
		"(dp 3): scale is not an integer 0..9");
	REFUSED("[{'id':3,'property':{'type':'value','scale':-1}}]", NULL, "scale is not an integer 0..9");
	REFUSED("[{'id':3,'property':{'type':'value','step':-1}}]", NULL, "(dp 3): step is not a non-negative integer");
	REFUSED("[{'id':3,'property':{'type':'value','unit':'abcdefghijklmnop'}}]", NULL,
		"(dp 3): unit is 16 bytes long (15 supported)");
	REFUSED("[{'id':3,'property':{'type':'value','unit':5}}]", NULL, "unit is not a string");
	/* string / raw / bitmap */
	REFUSED("[{'id':3,'property':{'type':'string','maxlen':-1}}]", NULL, "(dp 3): maxlen is not an integer 0..65536");
	REFUSED("[{'id':3,'property':{'type':'raw','maxlen':'9'}}]", NULL, "maxlen is not an integer");
	REFUSED("[{'id':3,'type':'raw','property':{'maxlen':1e9}}]", NULL, "maxlen is not an integer");

	/* a refusal leaves an empty schema, not half of one */
	REFUSED("[{'id':1,'property':{'type':'bool'}},{'id':2,'property':{'type':'nope'}}]", NULL, "(dp 2)");
	CHECK(tuya_schema_dp(&S, 1) == NULL);
}

static void test_accepted_variants(void)
{
	PARSED("[{'id':1,'mode':'wr','property':{'type':'bool'}},"
	       "{'id':2,'type':'obj','mode':'rw','trigger':'direct','passive':true,'extra':{'x':[1]},"
	       "'property':{'type':'value','min':-20,'max':50,'scale':1,'step':0,'unit':'°C','extra':1}},"
	       "{'id':3,'type':'raw','mode':'ro'},"
	       "{'id':4,'property':{'type':'value','scale':2}},"
	       "{'id':5,'code':'fault','mode':'ro','property':{'type':'bitmap','label':['e1','e2','e3'],'maxlen':3}},"
	       "{'id':6,'code':'mask','mode':'rw','property':{'type':'bitmap','maxlen':2}},"
	       "{'id':7,'mode':'wr','type':'raw','property':{'type':'raw'}},"
	       "{'id':8,'mode':null,'type':null,'property':{'type':'string'}},"
	       "{'id':9,'type':'weird','property':{'type':'float'}},"
	       "{'id':255,'property':{'type':'value','min':-2147483648,'max':2147483647,'scale':9}}]",
	       NULL);
	CHECK_INT(S.n, 10);
	const struct tuya_dp *d1 = tuya_schema_dp(&S, 1), *d2 = tuya_schema_dp(&S, 2), *d3 = tuya_schema_dp(&S, 3),
			     *d4 = tuya_schema_dp(&S, 4), *d9 = tuya_schema_dp(&S, 9);
	if (!d1 || !d2 || !d3 || !d4 || !d9)
		return;
	CHECK(!d1->readable && d1->writable); /* "wr" = write-only, despite the 'r' */
	CHECK_STR(d1->prop, "state");
	CHECK(d2->step == 1 && d2->scale == 1 && d2->min == -20);
	CHECK_INT(d3->type, TUYA_DP_RAW);
	CHECK(d3->readable && !d3->writable);
	CHECK(!d4->has_range && d4->step == 1);
	CHECK_INT(d9->type, TUYA_DP_RAW); /* top-level type other than "obj": raw, property type not read */
	CHECK(tuya_schema_dp(&S, 8)->readable && tuya_schema_dp(&S, 8)->writable); /* no mode: rw */

	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	CHECK_INT(x.n, 9); /* the write-only raw DP 7 has nothing to expose */
	CHECK(fc_exposes_find(&x, "dp_7") == NULL);
	CHECK_INT(expose(&x, "state")->access, FC_ACCESS_SET);
	const struct fc_expose *e = expose(&x, "dp_2");
	CHECK(e->min == -2 && e->max == 5 && fabs(e->step - 0.1) < 1e-12);
	CHECK_STR(e->unit, "°C");
	e = expose(&x, "dp_4");
	CHECK(e->min == -21474836.48 && e->max == 21474836.47 && fabs(e->step - 0.01) < 1e-12); /* int32 */
	e = expose(&x, "fault");
	CHECK_INT(e->type, FC_EXPOSE_TEXT);
	CHECK_INT(e->access, RO);
	e = expose(&x, "dp_255");
	CHECK(e->min == -2.147483648 && e->max == 2.147483647);
	fc_exposes_free(&x);

	STATE_IS("{'5':5,'6':3,'4':-1,'255':2147483647}", "{'fault':5,'mask':3,'dp_4':-0.01,'dp_255':2.147483647}", 4);
	STATE_IS("{'5':'5'}", "{}", 0);
	SET_IS("{'state':'ON'}", NULL, "{'1':true}");
	SET_IS("{'dp_255':-2.147483648}", NULL, "{'255':-2147483648}");
	SET_IS("{'dp_4':123456.78}", NULL, "{'4':12345678}");
	SET_FAILS("{'dp_4':1e300}", NULL, "dp_4: 1e+300 is above the maximum 21474836.47");
	SET_IS("{'mask':'3'}", NULL, "{'6':3}");
	SET_IS("{'mask':0}", NULL, "{'6':0}");
	SET_FAILS("{'mask':'4'}", NULL, "mask: expected an integer 0..3 (bitmap)");
	SET_FAILS("{'mask':'0x1'}", NULL, "mask: expected an integer 0..3 (bitmap)");
	SET_FAILS("{'mask':'1e0'}", NULL, "bitmap");
	SET_FAILS("{'mask':''}", NULL, "bitmap");
	SET_FAILS("{'fault':'1'}", NULL, "fault: read-only");
	SET_FAILS("{'dp_7':'AA=='}", NULL, "dp_7: raw data point, not settable");
	SET_IS("{'dp_8':''}", NULL, "{'8':''}");
	SET_IS("{'dp_8':'any length when maxlen is 0'}", NULL, "{'8':'any length when maxlen is 0'}");
}

static void test_patch_merge(void)
{
	PARSED(plug_schema, NULL);
	cJSON *patch = J("{'state':'OFF','other':1}"), *dps = J("{'1':true,'1':false,'19':10}");
	CHECK_INT(tuya_schema_dps_to_state(&S, dps, patch), 3);
	char *got = cJSON_PrintUnformatted(patch);
	CHECK_STR(got, "{\"other\":1,\"state\":\"OFF\",\"power\":1}"); /* one "state", the last one said */
	cJSON_free(got);
	CHECK_INT(tuya_schema_dps_to_state(&S, dps, NULL), 0);
	CHECK_INT(tuya_schema_dps_to_state(NULL, dps, patch), 3); /* no schema: everything as dp_<id> */
	CHECK(cJSON_GetObjectItemCaseSensitive(patch, "dp_19") != NULL);
	cJSON_Delete(dps);
	cJSON_Delete(patch);
	/* a set repeating an attribute sends it once */
	SET_IS("{'state':'ON','state':'OFF'}", NULL, "{'1':false}");
}

/* The plain-topic path: core coerces what a user typed against our exposes, then set_to_dps must take
 * it. Every settable expose of every schema here gets sample inputs of the kinds users send. */
static void plain_topic_path(const char *schema_sq, int line)
{
	parsed(schema_sq, NULL, line);
	struct fc_exposes x = {0};
	tuya_schema_exposes(&S, &x);
	cJSON *state = cJSON_CreateObject();
	for (size_t i = 0; i < x.n; i++)
		if (x.e[i].type == FC_EXPOSE_BINARY)
			cJSON_AddStringToObject(state, x.e[i].property, "ON");
	/* exposes survive their JSON form (what bridge/devices and the device meta carry) */
	cJSON *xj = fc_exposes_to_json(&x);
	struct fc_exposes back = {0};
	CHECK(fc_exposes_from_json(&back, xj) == 0 && fc_exposes_equal(&x, &back));
	cJSON_Delete(xj);
	fc_exposes_free(&back);
	for (size_t i = 0; i < x.n; i++) {
		const struct fc_expose *e = &x.e[i];
		if (!(e->access & FC_ACCESS_SET))
			continue;
		const char *samples[3] = {NULL, NULL, NULL};
		char num[3][32];
		switch (e->type) {
		case FC_EXPOSE_BINARY:
			samples[0] = "'on'", samples[1] = "false", samples[2] = "'toggle'";
			break;
		case FC_EXPOSE_NUMERIC:
			snprintf(num[0], sizeof num[0], "%.17g", e->has_min ? e->min : -1.0);
			snprintf(num[1], sizeof num[1], "%.17g", e->has_max ? e->max : 1e6);
			snprintf(num[2], sizeof num[2], "'%.17g'", e->has_max ? (e->min + e->max) / 2 : 0.5);
			samples[0] = num[0], samples[1] = num[1], samples[2] = num[2];
			break;
		case FC_EXPOSE_ENUM:
			snprintf(num[0], sizeof num[0], "'%s'", e->values[e->n_values - 1]);
			samples[0] = num[0];
			break;
		case FC_EXPOSE_TEXT:
			samples[0] = "'1'";
			break;
		}
		for (int k = 0; k < 3 && samples[k]; k++) {
			cJSON *in = J(samples[k]);
			char err[256] = "";
			cJSON *v = fc_expose_coerce(e, in, err, sizeof err);
			cJSON *set = cJSON_CreateObject(), *dps = NULL;
			if (v) {
				cJSON_AddItemToObject(set, e->property, v);
				dps = tuya_schema_set_to_dps(&S, set, state, err, sizeof err);
			}
			const struct tuya_dp *dp = tuya_schema_prop(&S, e->property);
			char key[8];
			snprintf(key, sizeof key, "%d", dp ? dp->id : 0);
			if (v && dps && cJSON_GetObjectItemCaseSensitive(dps, key)) {
				t_passed++;
			} else {
				t_failed++;
				fprintf(stderr, "FAIL line %d: %s = %s: %s\n", line, e->property, samples[k], err);
			}
			cJSON_Delete(dps);
			cJSON_Delete(set);
			cJSON_Delete(in);
		}
	}
	cJSON_Delete(state);
	fc_exposes_free(&x);
}

static void test_plain_topic_path(void)
{
	plain_topic_path(example_schema, __LINE__);
	plain_topic_path(plug_schema, __LINE__);
	plain_topic_path(bulb_schema, __LINE__);
	plain_topic_path(gang3_schema, __LINE__);
	plain_topic_path("[{'id':6,'code':'mask','mode':'rw','property':{'type':'bitmap','maxlen':2}},"
			 "{'id':2,'mode':'wr','property':{'type':'value','min':-5,'max':5,'scale':2}},"
			 "{'id':3,'mode':'wr','property':{'type':'value','scale':9}},"
			 "{'id':4,'property':{'type':'string','maxlen':1}}]",
			 __LINE__);
}

int main(void)
{
	test_example();
	test_set_shape();
	test_plug();
	test_units();
	test_bulb();
	test_toggle();
	test_multigang();
	test_naming();
	test_dp_names();
	test_refusals();
	test_accepted_variants();
	test_patch_merge();
	test_plain_topic_path();
	return t_done();
}
