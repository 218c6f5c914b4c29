/* Meross device simulator (device side of /work/shared/protocols/meross.md §1–§4).
 *
 * Independent of vendors/: message building, signing and parsing are written here from the fact
 * sheet only. One thread per simulator owns the mosquitto handle: it connects/reconnects, runs the
 * network loop, handles incoming messages (callbacks run on it), runs the retry timers and publishes
 * the outbox. Other threads only touch state under `mu` and queue messages, so libmosquitto is never
 * used from two threads and no mosquitto call is made while `mu` is held. */
#include "sim/meross_sim.h"
#include "harness/harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"

#define MAX_INCOMING (32 * 1024)  /* real devices have a few KB of buffer; anything bigger is hostile */
#define MAX_LIST_ENTRIES 32       /* entries of a request list that are looked at */
#define MAX_MID_LEN 64            /* messageId: 32 hex on the wire; be lenient, but bounded */
#define MAX_NS_LEN 63
#define MAX_METHOD_LEN 15
#define MAX_FROM_LEN 255
#define MAX_TIMERULE_TEXT 8192
#define NS_SLOTS 96
#define RECENT_IDS 8

/* Error codes. 5001 "sign error" is documented (§2). The code a real device uses for an unknown
 * namespace / unsupported method / invalid parameters is NOT documented in the fact sheet: 5000 is
 * a plausible choice (it is the cloud's generic error code in §6), nothing more. */
#define ERR_SIGN 5001
#define ERR_UNDOCUMENTED 5000

enum { K_PLUG = 1, K_STRIP = 2, K_BULB = 4, K_HUB = 8, K_SWITCHES = K_PLUG | K_STRIP | K_BULB, K_ALL = 15 };

struct kind_info {
	const char *type, *sub_type, *hw_version, *chip, *fw_version, *compile_time;
	int channels;
	unsigned bit;
};

static const struct kind_info KINDS[] = {
	[MEROSS_SIM_PLUG] = {"mss110", "eu", "2.0.0", "mt7682", "2.1.17", "2020/08/11 10:10:46 GMT +08:00", 1, K_PLUG},
	[MEROSS_SIM_STRIP] = {"mss425e", "eu", "2.0.0", "mt7682", "2.1.17", "2020/08/11 10:12:03 GMT +08:00", 4,
			      K_STRIP},
	[MEROSS_SIM_BULB] = {"msl120", "eu", "2.0.0", "mt7682", "2.1.2", "2019/12/20 14:03:51 GMT +08:00", 1, K_BULB},
	[MEROSS_SIM_HUB] = {"msh300", "un", "4.0.0", "mt7686", "4.1.35", "2021/04/30 11:02:02 GMT +08:00", 0, K_HUB},
};

struct outmsg {
	struct outmsg *next;
	char *topic;
	char *payload;
	uint32_t count_mask; /* counters bumped when actually published */
};

struct ns_count {
	char method[MAX_METHOD_LEN + 1];
	char ns[MAX_NS_LEN + 1];
	long n;
};

struct meross_sim {
	struct meross_sim_opts o;
	const struct kind_info *ki;
	char host[256];
	char ca_file[512];
	char hw_type[32];
	char fw_version[32];
	char client_id[96];
	char username[18];
	char password[160];
	char sub_topic[64], pub_topic[64];
	struct mosquitto *m;
	pthread_t thread;
	int sub_mid;           /* loop thread only */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* everything below is guarded by mu */
	bool stop, drop_req;
	bool unbound; /* Unbind received: "pairing mode", never reconnect */
	bool connected, subacked, bound, subdev_replied;
	bool connack_seen; /* a CONNACK (any code) arrived for the current connection attempt */
	int last_connack;
	char last_error[256];
	char inner_ip[INET_ADDRSTRLEN];
	long counters[MSC__COUNT];
	struct ns_count nsc[NS_SLOTS];
	int64_t next_bind_ms, next_subdev_ms;
	char clock_ids[RECENT_IDS][MAX_MID_LEN + 1];
	int clock_idx;
	char cc_ids[RECENT_IDS][MAX_MID_LEN + 1];
	int cc_idx;
	int64_t boot_ms;
	bool time_synced;
	int64_t sync_ts, sync_mono_ms;
	char timezone[64];
	int64_t time_ts;
	char *time_rule; /* JSON text of the last timeRule array, NULL = [] */
	int onoff[MEROSS_SIM_MAX_CHANNELS];
	int64_t lmtime[MEROSS_SIM_MAX_CHANNELS];
	struct meross_sim_light light;
	struct meross_sim_power power;
	struct meross_sim_valve valve;
	int64_t valve_lmtime;
	int sensor_temp, sensor_hum;
	struct outmsg *ob_head, *ob_tail;
};

/* ------------------------------------------------------------------------------------------------ */
/* small helpers */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }


static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Device clock (mu held): uptime seconds until synchronised by a Clock reply or System.Time, then
 * wall time as told by the cloud. Uptime starts at 1 like a device that just booted. */
static int64_t dev_time_ms(struct meross_sim *s, int *ms)
{
	int64_t el = fc_mono_ms() - (s->time_synced ? s->sync_mono_ms : s->boot_ms);
	if (ms)
		*ms = (int)(el % 1000);
	return (s->time_synced ? s->sync_ts : 1) + el / 1000;
}

static int64_t dev_time(struct meross_sim *s) { return dev_time_ms(s, NULL); }

static void bump(struct meross_sim *s, enum meross_sim_counter c)
{
	s->counters[c]++;
	pthread_cond_broadcast(&s->cv);
}

static void set_error(struct meross_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct meross_sim *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
}

static bool all_alnum(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

static bool all_digits(const char *p)
{
	if (!*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static bool printable_ascii(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}

/* A bounded string member: returns it when it is a string of length <= maxlen, else NULL. */
static const char *jstr(const cJSON *o, const char *k, size_t maxlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) > maxlen)
		return NULL;
	return v->valuestring;
}

/* Integer member: 1 = present and a number that is an integer in [lo, hi] (stored in *out),
 * 0 = absent, -1 = present but not such a number. */
static int jint(const cJSON *o, const char *k, long long lo, long long hi, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return -1;
	double d = v->valuedouble;
	if (!isfinite(d) || d < (double)lo || d > (double)hi || (double)(long long)d != d)
		return -1;
	*out = (long long)d;
	return 1;
}

static void add_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

/* ------------------------------------------------------------------------------------------------ */
/* outbox */

static void enqueue_raw(struct meross_sim *s, const char *topic, char *payload /* owned */, uint32_t mask)
{
	struct outmsg *m = calloc(1, sizeof *m);
	if (!m || !payload || !(m->topic = strdup(topic))) {
		free(m);
		free(payload);
		return;
	}
	m->payload = payload;
	m->count_mask = mask;
	if (s->ob_tail)
		s->ob_tail->next = m;
	else
		s->ob_head = m;
	s->ob_tail = m;
}

static void free_outmsgs(struct outmsg *m)
{
	while (m) {
		struct outmsg *n = m->next;
		free(m->topic);
		free(m->payload);
		free(m);
		m = n;
	}
}

#define CBIT(c) (1u << (c))

/* Build a device message (mu held) with header.from = `from`. `mid` NULL = new random id (written to mid_out if given).
 * `payload` is consumed. Returns the JSON text (malloc) or NULL. */
static char *build_msg(struct meross_sim *s, const char *method, const char *ns, const char *mid, const char *from,
		       const char *trigger, cJSON *payload, char mid_out[MAX_MID_LEN + 1])
{
	char idbuf[33];
	if (!mid) {
		if (fc_random_hex(idbuf, 32) != 0) {
			cJSON_Delete(payload);
			return NULL;
		}
		mid = idbuf;
	}
	if (mid_out)
		snprintf(mid_out, MAX_MID_LEN + 1, "%s", mid);
	int ts_ms;
	int64_t ts = dev_time_ms(s, &ts_ms);
	char signin[MAX_MID_LEN + 64 + 32];
	snprintf(signin, sizeof signin, "%s%s%lld", mid, s->o.key, (long long)ts);
	char sign[33];
	fc_md5_hex(signin, strlen(signin), sign);

	cJSON *root = cJSON_CreateObject();
	cJSON *h = cJSON_AddObjectToObject(root, "header");
	if (!h || !payload) {
		cJSON_Delete(root);
		cJSON_Delete(payload);
		return NULL;
	}
	cJSON_AddStringToObject(h, "messageId", mid);
	cJSON_AddStringToObject(h, "namespace", ns);
	cJSON_AddStringToObject(h, "method", method);
	add_num(h, "payloadVersion", 1);
	cJSON_AddStringToObject(h, "from", from);
	cJSON_AddStringToObject(h, "uuid", s->o.uuid);
	add_num(h, "timestamp", (double)ts);
	add_num(h, "timestampMs", ts_ms);
	cJSON_AddStringToObject(h, "sign", sign);
	if (trigger)
		cJSON_AddStringToObject(h, "triggerSrc", trigger);
	cJSON_AddItemToObject(root, "payload", payload);
	char *txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return txt;
}

static void queue_msg(struct meross_sim *s, const char *topic, const char *method, const char *ns, const char *mid,
		      const char *trigger, cJSON *payload, uint32_t mask, char mid_out[MAX_MID_LEN + 1])
{
	char *txt = build_msg(s, method, ns, mid, s->pub_topic, trigger, payload, mid_out);
	if (txt)
		enqueue_raw(s, topic, txt, mask);
}

static void queue_push(struct meross_sim *s, const char *ns, const char *trigger, cJSON *payload, uint32_t mask,
		       char mid_out[MAX_MID_LEN + 1])
{
	queue_msg(s, s->pub_topic, "PUSH", ns, NULL, trigger, payload, mask | CBIT(MSC_PUSHES_SENT), mid_out);
}

static void queue_error(struct meross_sim *s, const char *topic, const char *ns, const char *mid, int code,
			const char *detail)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(p, "error");
	if (e) {
		add_num(e, "code", code);
		cJSON_AddStringToObject(e, "detail", detail);
	}
	set_error(s, "sent ERROR %d (%s) for %s", code, detail, ns);
	queue_msg(s, topic, "ERROR", ns, mid, NULL, p, CBIT(MSC_ERRORS_SENT), NULL);
}

static void remember_id(char ids[RECENT_IDS][MAX_MID_LEN + 1], int *idx, const char *id)
{
	snprintf(ids[*idx % RECENT_IDS], MAX_MID_LEN + 1, "%s", id);
	*idx = (*idx + 1) % RECENT_IDS;
}

static bool known_id(char ids[RECENT_IDS][MAX_MID_LEN + 1], const char *id)
{
	for (int i = 0; i < RECENT_IDS; i++)
		if (ids[i][0] && strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------------------------------------ */
/* payload builders (mu held) */

static cJSON *time_rule_json(struct meross_sim *s)
{
	cJSON *r = s->time_rule ? cJSON_Parse(s->time_rule) : NULL;
	return r ? r : cJSON_CreateArray();
}

static cJSON *time_obj(struct meross_sim *s)
{
	cJSON *t = cJSON_CreateObject();
	add_num(t, "timestamp", (double)dev_time(s));
	cJSON_AddStringToObject(t, "timezone", s->timezone);
	cJSON_AddItemToObject(t, "timeRule", time_rule_json(s));
	return t;
}

static cJSON *hardware_obj(struct meross_sim *s)
{
	cJSON *h = cJSON_CreateObject();
	cJSON_AddStringToObject(h, "type", s->hw_type);
	cJSON_AddStringToObject(h, "subType", s->ki->sub_type);
	cJSON_AddStringToObject(h, "version", s->ki->hw_version);
	cJSON_AddStringToObject(h, "chipType", s->ki->chip);
	cJSON_AddStringToObject(h, "uuid", s->o.uuid);
	cJSON_AddStringToObject(h, "macAddress", s->o.mac);
	return h;
}

static void add_user_id(cJSON *o, const char *uid)
{
	/* Numeric in real captures ("userId":1234); keep a non-numeric id as a string rather than lose it. */
	if (all_digits(uid) && strlen(uid) <= 15)
		add_num(o, "userId", (double)strtoll(uid, NULL, 10));
	else
		cJSON_AddStringToObject(o, "userId", uid);
}

static cJSON *firmware_obj(struct meross_sim *s)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "version", s->fw_version);
	cJSON_AddStringToObject(f, "compileTime", s->ki->compile_time);
	cJSON_AddStringToObject(f, "wifiMac", "a4:2b:b0:5e:11:27");
	cJSON_AddStringToObject(f, "innerIp", s->inner_ip[0] ? s->inner_ip : "127.0.0.1");
	cJSON_AddStringToObject(f, "server", s->host);
	add_num(f, "port", s->o.port);
	add_user_id(f, s->o.user_id[0] ? s->o.user_id : "0");
	return f;
}

static cJSON *togglex_entry(struct meross_sim *s, int ch)
{
	cJSON *e = cJSON_CreateObject();
	add_num(e, "channel", ch);
	add_num(e, "onoff", s->onoff[ch]);
	add_num(e, "lmTime", (double)s->lmtime[ch]);
	return e;
}

static cJSON *togglex_all(struct meross_sim *s)
{
	cJSON *a = cJSON_CreateArray();
	for (int ch = 0; ch < s->ki->channels; ch++)
		cJSON_AddItemToArray(a, togglex_entry(s, ch));
	return a;
}

static cJSON *toggle_obj(struct meross_sim *s, int ch)
{
	cJSON *t = cJSON_CreateObject();
	add_num(t, "onoff", s->onoff[ch]);
	add_num(t, "lmTime", (double)s->lmtime[ch]);
	return t;
}

static cJSON *light_obj(struct meross_sim *s)
{
	cJSON *l = cJSON_CreateObject();
	add_num(l, "capacity", s->light.capacity);
	add_num(l, "channel", 0);
	add_num(l, "rgb", s->light.rgb);
	add_num(l, "temperature", s->light.temperature);
	add_num(l, "luminance", s->light.luminance);
	add_num(l, "transform", 0);
	return l;
}

static cJSON *online_obj(struct meross_sim *s)
{
	cJSON *o = cJSON_CreateObject();
	add_num(o, "status", 1);
	add_num(o, "lastActiveTime", (double)dev_time(s));
	return o;
}

static cJSON *sensor_all_entry(struct meross_sim *s)
{
	int64_t t = dev_time(s);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", MEROSS_SIM_SENSOR_ID);
	cJSON_AddItemToObject(e, "online", online_obj(s));
	cJSON *tp = cJSON_AddObjectToObject(e, "temperature");
	if (tp) {
		add_num(tp, "latest", s->sensor_temp);
		add_num(tp, "latestSampleTime", (double)t);
		add_num(tp, "max", 600);
		add_num(tp, "min", -200);
	}
	cJSON *hu = cJSON_AddObjectToObject(e, "humidity");
	if (hu) {
		add_num(hu, "latest", s->sensor_hum);
		add_num(hu, "latestSampleTime", (double)t);
		add_num(hu, "max", 1000);
		add_num(hu, "min", 0);
	}
	return e;
}

static void add_valve_temps(struct meross_sim *s, cJSON *t)
{
	add_num(t, "room", s->valve.room);
	add_num(t, "currentSet", s->valve.current_set);
	add_num(t, "custom", s->valve.custom);
	add_num(t, "comfort", s->valve.comfort);
	add_num(t, "economy", s->valve.economy);
	add_num(t, "away", s->valve.away);
}

static cJSON *valve_all_entry(struct meross_sim *s)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", MEROSS_SIM_VALVE_ID);
	add_num(e, "scheduleBMode", 6);
	cJSON_AddItemToObject(e, "online", online_obj(s));
	cJSON *tg = cJSON_AddObjectToObject(e, "togglex");
	if (tg)
		add_num(tg, "onoff", s->valve.onoff);
	cJSON *md = cJSON_AddObjectToObject(e, "mode");
	if (md)
		add_num(md, "state", s->valve.mode);
	cJSON *t = cJSON_AddObjectToObject(e, "temperature");
	if (t) {
		add_valve_temps(s, t);
		add_num(t, "max", 350);
		add_num(t, "min", 50);
		add_num(t, "heating", s->valve.onoff && s->valve.room < s->valve.current_set);
		add_num(t, "openWindow", 0);
	}
	return e;
}

static cJSON *hub_togglex_entry(struct meross_sim *s)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", MEROSS_SIM_VALVE_ID);
	add_num(e, "onoff", s->valve.onoff);
	add_num(e, "channel", 0);
	return e;
}

static cJSON *hub_digest(struct meross_sim *s)
{
	int64_t t = dev_time(s);
	cJSON *hub = cJSON_CreateObject();
	add_num(hub, "hubId", 3910176747.0);
	add_num(hub, "mode", 0);
	cJSON *sub = cJSON_AddArrayToObject(hub, "subdevice");
	if (!sub)
		return hub;
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "id", MEROSS_SIM_SENSOR_ID);
	add_num(a, "status", 1);
	add_num(a, "onoff", 0);
	add_num(a, "lastActiveTime", (double)t);
	cJSON *ms = cJSON_AddObjectToObject(a, "ms100");
	if (ms) {
		add_num(ms, "latestTime", (double)t);
		add_num(ms, "latestTemperature", s->sensor_temp);
		add_num(ms, "latestHumidity", s->sensor_hum);
		add_num(ms, "voltage", 2900);
	}
	cJSON_AddItemToArray(sub, a);
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "id", MEROSS_SIM_VALVE_ID);
	add_num(b, "status", 1);
	add_num(b, "scheduleBMode", 6);
	add_num(b, "onoff", s->valve.onoff);
	add_num(b, "lastActiveTime", (double)t);
	cJSON *mt = cJSON_AddObjectToObject(b, "mts100v3");
	if (mt)
		add_num(mt, "mode", s->valve.mode);
	cJSON_AddItemToArray(sub, b);
	return hub;
}

static cJSON *subdevice_list(struct meross_sim *s, bool need_reply)
{
	int64_t t = dev_time(s);
	cJSON *p = cJSON_CreateObject();
	cJSON *sl = cJSON_AddObjectToObject(p, "subdeviceList");
	cJSON *arr = sl ? cJSON_AddArrayToObject(sl, "subdevice") : NULL;
	if (!arr)
		return p;
	const char *ids[2] = {MEROSS_SIM_SENSOR_ID, MEROSS_SIM_VALVE_ID};
	const char *fw[2] = {"2.1.3", "6.1.7"};
	for (int i = 0; i < 2; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", ids[i]);
		add_num(e, "status", 1);
		add_num(e, "time", (double)t);
		cJSON_AddStringToObject(e, "hardware", "1.1.5");
		cJSON_AddStringToObject(e, "firmware", fw[i]);
		cJSON_AddItemToArray(arr, e);
	}
	if (need_reply)
		add_num(sl, "needReply", 1);
	return p;
}

static cJSON *consumption_config(void)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *c = cJSON_AddObjectToObject(p, "config");
	if (c) {
		add_num(c, "voltageRatio", 188);
		add_num(c, "electricityRatio", 102);
		add_num(c, "maxElectricityCurrent", 11000);
	}
	return p;
}

/* ------------------------------------------------------------------------------------------------ */
/* request handlers: called with mu held; return the ACK payload, or NULL with *err set */

struct req {
	bool is_set;
	const char *ns;
	const cJSON *payload;
};

struct result {
	int code;            /* 0 = ok */
	const char *detail;
	const char *push_ns; /* follow-up PUSH after the ACK */
	cJSON *push;
};

static cJSON *fail(struct result *r, const char *detail)
{
	r->code = ERR_UNDOCUMENTED;
	r->detail = detail;
	return NULL;
}

static const struct ns_def *find_ns(const char *ns);
static bool ns_supported(struct meross_sim *s, const struct ns_def *d);

static cJSON *h_system_all(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)q;
	(void)r;
	cJSON *p = cJSON_CreateObject();
	cJSON *all = cJSON_AddObjectToObject(p, "all");
	cJSON *sys = all ? cJSON_AddObjectToObject(all, "system") : NULL;
	if (!sys)
		return p;
	cJSON_AddItemToObject(sys, "hardware", hardware_obj(s));
	cJSON_AddItemToObject(sys, "firmware", firmware_obj(s));
	cJSON_AddItemToObject(sys, "time", time_obj(s));
	cJSON *on = cJSON_AddObjectToObject(sys, "online");
	if (on)
		add_num(on, "status", 1);
	if (s->o.kind == MEROSS_SIM_HUB) {
		cJSON *d = cJSON_AddObjectToObject(all, "digest");
		if (d)
			cJSON_AddItemToObject(d, "hub", hub_digest(s));
	} else if (s->o.legacy_toggle) {
		/* legacy firmware layout (§4): control.toggle instead of digest */
		cJSON *c = cJSON_AddObjectToObject(all, "control");
		if (c) {
			cJSON_AddItemToObject(c, "toggle", toggle_obj(s, 0));
			cJSON_AddArrayToObject(c, "timer");
			cJSON_AddArrayToObject(c, "trigger");
		}
	} else {
		cJSON *d = cJSON_AddObjectToObject(all, "digest");
		if (d) {
			cJSON_AddItemToObject(d, "togglex", togglex_all(s));
			cJSON_AddArrayToObject(d, "triggerx");
			cJSON_AddArrayToObject(d, "timerx");
			if (s->o.kind == MEROSS_SIM_BULB)
				cJSON_AddItemToObject(d, "light", light_obj(s));
		}
	}
	return p;
}

static cJSON *h_system_hardware(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)q;
	(void)r;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "hardware", hardware_obj(s));
	return p;
}

static cJSON *h_system_firmware(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)q;
	(void)r;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "firmware", firmware_obj(s));
	return p;
}

static cJSON *h_system_online(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)s;
	(void)q;
	(void)r;
	cJSON *p = cJSON_CreateObject();
	cJSON *o = cJSON_AddObjectToObject(p, "online");
	if (o)
		add_num(o, "status", 1);
	return p;
}

/* Store System.Time (SET, or PUSH from the cloud). Returns NULL on success, else the reason. */
static const char *store_time(struct meross_sim *s, const cJSON *payload)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(payload, "time");
	if (!cJSON_IsObject(t))
		return "missing time";
	long long ts = 0;
	int hts = jint(t, "timestamp", 0, 4102444800LL, &ts);
	if (hts < 0)
		return "invalid timestamp";
	const cJSON *tz = cJSON_GetObjectItemCaseSensitive(t, "timezone");
	if (tz && (!cJSON_IsString(tz) || strlen(tz->valuestring) >= sizeof s->timezone ||
		   !printable_ascii(tz->valuestring, strlen(tz->valuestring))))
		return "invalid timezone";
	const cJSON *rule = cJSON_GetObjectItemCaseSensitive(t, "timeRule");
	char *rule_txt = NULL;
	if (rule) {
		if (!cJSON_IsArray(rule))
			return "invalid timeRule";
		rule_txt = cJSON_PrintUnformatted(rule);
		if (!rule_txt || strlen(rule_txt) > MAX_TIMERULE_TEXT) {
			cJSON_free(rule_txt);
			return "timeRule too long";
		}
	}
	if (tz)
		snprintf(s->timezone, sizeof s->timezone, "%s", tz->valuestring);
	if (rule) {
		free(s->time_rule);
		s->time_rule = strdup(rule_txt);
		cJSON_free(rule_txt);
	}
	if (hts > 0 && ts > 0) {
		s->time_ts = ts;
		s->time_synced = true;
		s->sync_ts = ts;
		s->sync_mono_ms = fc_mono_ms();
	}
	bump(s, MSC_TIME_SETS);
	return NULL;
}

static cJSON *h_system_time(struct meross_sim *s, const struct req *q, struct result *r)
{
	if (q->is_set) {
		const char *why = store_time(s, q->payload);
		return why ? fail(r, why) : cJSON_CreateObject();
	}
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "time", time_obj(s));
	return p;
}

static bool parse_onoff(const cJSON *o, int *onoff)
{
	long long v;
	if (jint(o, "onoff", 0, 1, &v) != 1)
		return false;
	*onoff = (int)v;
	return true;
}

static void set_channel(struct meross_sim *s, int ch, int onoff)
{
	s->onoff[ch] = onoff;
	s->lmtime[ch] = dev_time(s);
	if (s->o.kind == MEROSS_SIM_BULB && ch == 0)
		s->light.onoff = onoff;
}

static cJSON *h_togglex(struct meross_sim *s, const struct req *q, struct result *r)
{
	if (!q->is_set) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddItemToObject(p, "togglex", togglex_all(s));
		return p;
	}
	/* {"togglex":{...}} or {"togglex":[{...},...]}; all-or-nothing: any bad entry rejects the request */
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(q->payload, "togglex");
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = 0;
	if (cJSON_IsObject(t)) {
		list[n++] = t;
	} else if (cJSON_IsArray(t)) {
		const cJSON *e;
		cJSON_ArrayForEach(e, t)
		{
			if (n == MAX_LIST_ENTRIES)
				return fail(r, "too many entries");
			list[n++] = e;
		}
	}
	if (n == 0)
		return fail(r, "missing togglex");
	int chans[MAX_LIST_ENTRIES], vals[MAX_LIST_ENTRIES];
	for (int i = 0; i < n; i++) {
		long long ch = 0;
		if (!cJSON_IsObject(list[i]) || jint(list[i], "channel", 0, s->ki->channels - 1, &ch) < 0)
			return fail(r, "invalid channel");
		if (!parse_onoff(list[i], &vals[i]))
			return fail(r, "invalid onoff");
		chans[i] = (int)ch;
	}
	cJSON *push = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(push, "togglex");
	bool seen[MEROSS_SIM_MAX_CHANNELS] = {false};
	for (int i = 0; i < n; i++)
		set_channel(s, chans[i], vals[i]);
	for (int i = 0; i < n; i++) {
		if (seen[chans[i]] || !arr)
			continue;
		seen[chans[i]] = true;
		cJSON_AddItemToArray(arr, togglex_entry(s, chans[i]));
	}
	r->push_ns = "Appliance.Control.ToggleX";
	r->push = push;
	return cJSON_CreateObject();
}

static cJSON *h_toggle(struct meross_sim *s, const struct req *q, struct result *r)
{
	long long ch = 0;
	if (jint(q->payload, "channel", 0, s->ki->channels - 1, &ch) < 0)
		return fail(r, "invalid channel");
	if (!q->is_set) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddItemToObject(p, "toggle", toggle_obj(s, (int)ch));
		return p;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(q->payload, "toggle");
	int onoff;
	if (!cJSON_IsObject(t) || !parse_onoff(t, &onoff))
		return fail(r, "invalid toggle");
	set_channel(s, (int)ch, onoff);
	cJSON *push = cJSON_CreateObject(); /* PUSH {"toggle":{"onoff","lmTime"}} (§4) */
	cJSON_AddItemToObject(push, "toggle", toggle_obj(s, (int)ch));
	r->push_ns = "Appliance.Control.Toggle";
	r->push = push;
	return cJSON_CreateObject();
}

static cJSON *h_electricity(struct meross_sim *s, const struct req *q, struct result *r)
{
	/* {"electricity":{"channel":0}}, bare {"channel":0} or {"electricity":{}} (§4) */
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(q->payload, "electricity");
	const cJSON *src = cJSON_IsObject(e) ? e : q->payload;
	long long ch = 0;
	if (jint(src, "channel", 0, 0, &ch) < 0)
		return fail(r, "invalid channel");
	cJSON *p = cJSON_CreateObject();
	cJSON *o = cJSON_AddObjectToObject(p, "electricity");
	if (!o)
		return p;
	add_num(o, "channel", 0);
	add_num(o, "current", s->power.current_ma);
	add_num(o, "voltage", s->power.voltage_dv);
	add_num(o, "power", s->power.power_mw);
	cJSON *c = cJSON_AddObjectToObject(o, "config");
	if (c) {
		add_num(c, "voltageRatio", 188);
		add_num(c, "electricityRatio", 100);
	}
	return p;
}

static cJSON *h_consumptionx(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)s;
	(void)q;
	(void)r;
	/* Three days of daily Wh values, dated by the host clock (the sim's own data). */
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "consumptionx");
	time_t now = time(NULL);
	for (int i = 2; a && i >= 0; i--) {
		time_t t = now - (time_t)i * 86400;
		struct tm tm;
		gmtime_r(&t, &tm);
		char date[16];
		if (strftime(date, sizeof date, "%Y-%m-%d", &tm) == 0)
			date[0] = 0;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "date", date);
		add_num(e, "time", (double)t);
		add_num(e, "value", 100 * (3 - i));
		cJSON_AddItemToArray(a, e);
	}
	return p;
}

static cJSON *h_consumption_config(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)s;
	(void)q;
	(void)r;
	return consumption_config();
}

static cJSON *h_light(struct meross_sim *s, const struct req *q, struct result *r)
{
	if (!q->is_set) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddItemToObject(p, "light", light_obj(s));
		return p;
	}
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(q->payload, "light");
	if (!cJSON_IsObject(l))
		return fail(r, "missing light");
	long long ch = 0, cap = 0, rgb = 0, temp = 0, lum = 0, onoff = 0;
	if (jint(l, "channel", 0, 0, &ch) < 0)
		return fail(r, "invalid channel");
	int hcap = jint(l, "capacity", 0, 15, &cap);
	int hrgb = jint(l, "rgb", 0, 0xFFFFFF, &rgb);
	int htemp = jint(l, "temperature", 1, 100, &temp);
	int hlum = jint(l, "luminance", 0, 100, &lum);
	int honoff = jint(l, "onoff", 0, 1, &onoff);
	if (hcap < 0 || hrgb < 0 || htemp < 0 || hlum < 0 || honoff < 0)
		return fail(r, "invalid light");
	/* capacity bits select which fields apply (rgb=1 temperature=2 luminance=4); without capacity every
	 * field present applies. */
	bool use_rgb = hrgb > 0 && (hcap == 0 || (cap & 1));
	bool use_temp = htemp > 0 && (hcap == 0 || (cap & 2));
	bool use_lum = hlum > 0 && (hcap == 0 || (cap & 4));
	if (use_rgb)
		s->light.rgb = (int)rgb;
	if (use_temp)
		s->light.temperature = (int)temp;
	if (use_lum)
		s->light.luminance = (int)lum;
	if (hcap > 0 && (cap & 7))
		s->light.capacity = (int)(cap & 7);
	else if (use_rgb || use_temp)
		s->light.capacity = (use_rgb ? 1 : 2) | (s->light.capacity & 4);
	if (honoff > 0)
		set_channel(s, 0, (int)onoff);
	cJSON *push = cJSON_CreateObject();
	cJSON_AddItemToObject(push, "light", light_obj(s));
	r->push_ns = "Appliance.Control.Light";
	r->push = push;
	return cJSON_CreateObject();
}

/* Hub lists: {"<key>":[{"id":..},...]} or a single object. Collects up to MAX_LIST_ENTRIES objects;
 * returns -1 when the key is present but neither. */
static int hub_list(const cJSON *payload, const char *key, const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, key);
	int n = 0;
	if (!v)
		return 0;
	if (cJSON_IsObject(v)) {
		out[n++] = v;
		return n;
	}
	if (!cJSON_IsArray(v))
		return -1;
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		if (n == MAX_LIST_ENTRIES)
			break;
		if (!cJSON_IsObject(e))
			return -1;
		out[n++] = e;
	}
	return n;
}

/* Does a GET filter list ask for `id`? An empty list (or none) means all. */
static bool hub_wants(const cJSON **list, int n, const char *id)
{
	if (n <= 0)
		return true;
	for (int i = 0; i < n; i++) {
		const char *x = jstr(list[i], "id", 32);
		if (x && strcmp(x, id) == 0)
			return true;
	}
	return false;
}

static cJSON *h_hub_sensor_all(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "all", list);
	if (n < 0)
		return fail(r, "invalid all");
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "all");
	if (a && hub_wants(list, n, MEROSS_SIM_SENSOR_ID))
		cJSON_AddItemToArray(a, sensor_all_entry(s));
	return p;
}

static cJSON *h_hub_mts100_all(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "all", list);
	if (n < 0)
		return fail(r, "invalid all");
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "all");
	if (a && hub_wants(list, n, MEROSS_SIM_VALVE_ID))
		cJSON_AddItemToArray(a, valve_all_entry(s));
	return p;
}

/* Validate that every entry of a hub SET targets the valve. */
static bool hub_valve_ids(const cJSON **list, int n)
{
	for (int i = 0; i < n; i++) {
		const char *id = jstr(list[i], "id", 32);
		if (!id || strcmp(id, MEROSS_SIM_VALVE_ID) != 0)
			return false;
	}
	return true;
}

static cJSON *h_hub_togglex(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "togglex", list);
	if (n < 0)
		return fail(r, "invalid togglex");
	if (!q->is_set) {
		cJSON *p = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(p, "togglex");
		if (a && hub_wants(list, n, MEROSS_SIM_VALVE_ID))
			cJSON_AddItemToArray(a, hub_togglex_entry(s));
		return p;
	}
	if (n == 0)
		return fail(r, "missing togglex");
	if (!hub_valve_ids(list, n))
		return fail(r, "unknown subdevice");
	int vals[MAX_LIST_ENTRIES];
	for (int i = 0; i < n; i++)
		if (!parse_onoff(list[i], &vals[i]))
			return fail(r, "invalid onoff");
	s->valve.onoff = vals[n - 1];
	s->valve_lmtime = dev_time(s);
	cJSON *push = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(push, "togglex");
	if (a)
		cJSON_AddItemToArray(a, hub_togglex_entry(s));
	r->push_ns = "Appliance.Hub.ToggleX";
	r->push = push;
	return cJSON_CreateObject();
}

/* Valve setpoint in effect for a mode (simulator model: 0 custom/manual, 1 comfort, 2 economy, 4 away;
 * 3 = schedule keeps the current value). */
static void valve_apply_mode(struct meross_sim *s)
{
	switch (s->valve.mode) {
	case 0: s->valve.current_set = s->valve.custom; break;
	case 1: s->valve.current_set = s->valve.comfort; break;
	case 2: s->valve.current_set = s->valve.economy; break;
	case 4: s->valve.current_set = s->valve.away; break;
	default: break;
	}
}

static cJSON *valve_temp_push(struct meross_sim *s)
{
	cJSON *push = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(push, "temperature");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", MEROSS_SIM_VALVE_ID);
	add_valve_temps(s, e);
	if (a)
		cJSON_AddItemToArray(a, e);
	else
		cJSON_Delete(e);
	return push;
}

static cJSON *h_hub_mts100_temperature(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "temperature", list);
	if (n < 0)
		return fail(r, "invalid temperature");
	if (!q->is_set) {
		cJSON *p = valve_temp_push(s);
		if (!hub_wants(list, n, MEROSS_SIM_VALVE_ID))
			cJSON_ReplaceItemInObjectCaseSensitive(p, "temperature", cJSON_CreateArray());
		return p;
	}
	if (n == 0)
		return fail(r, "missing temperature");
	if (!hub_valve_ids(list, n))
		return fail(r, "unknown subdevice");
	static const char *const keys[] = {"custom", "comfort", "economy", "away"};
	/* validate everything first, then apply */
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			long long v;
			if (jint(list[i], keys[k], 50, 350, &v) < 0)
				return fail(r, "invalid temperature");
		}
	for (int i = 0; i < n; i++) {
		int *dst[] = {&s->valve.custom, &s->valve.comfort, &s->valve.economy, &s->valve.away};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			long long v;
			if (jint(list[i], keys[k], 50, 350, &v) == 1)
				*dst[k] = (int)v;
		}
	}
	valve_apply_mode(s);
	r->push_ns = "Appliance.Hub.Mts100.Temperature";
	r->push = valve_temp_push(s);
	return cJSON_CreateObject();
}

static cJSON *valve_mode_payload(struct meross_sim *s)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "mode");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", MEROSS_SIM_VALVE_ID);
	add_num(e, "state", s->valve.mode);
	if (a)
		cJSON_AddItemToArray(a, e);
	else
		cJSON_Delete(e);
	return p;
}

static cJSON *h_hub_mts100_mode(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "mode", list);
	if (n < 0)
		return fail(r, "invalid mode");
	if (!q->is_set)
		return valve_mode_payload(s);
	if (n == 0)
		return fail(r, "missing mode");
	if (!hub_valve_ids(list, n))
		return fail(r, "unknown subdevice");
	long long st = 0;
	for (int i = 0; i < n; i++)
		if (jint(list[i], "state", 0, 4, &st) != 1)
			return fail(r, "invalid state");
	s->valve.mode = (int)st;
	valve_apply_mode(s);
	r->push_ns = "Appliance.Hub.Mts100.Mode";
	r->push = valve_mode_payload(s);
	return cJSON_CreateObject();
}

static cJSON *h_hub_battery(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)s;
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "battery", list);
	if (n < 0)
		return fail(r, "invalid battery");
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "battery");
	const char *ids[2] = {MEROSS_SIM_SENSOR_ID, MEROSS_SIM_VALVE_ID};
	const int vals[2] = {100, 90};
	for (int i = 0; a && i < 2; i++) {
		if (!hub_wants(list, n, ids[i]))
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", ids[i]);
		add_num(e, "value", vals[i]);
		cJSON_AddItemToArray(a, e);
	}
	return p;
}

static cJSON *h_hub_online(struct meross_sim *s, const struct req *q, struct result *r)
{
	const cJSON *list[MAX_LIST_ENTRIES];
	int n = hub_list(q->payload, "online", list);
	if (n < 0)
		return fail(r, "invalid online");
	cJSON *p = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(p, "online");
	const char *ids[2] = {MEROSS_SIM_SENSOR_ID, MEROSS_SIM_VALVE_ID};
	for (int i = 0; a && i < 2; i++) {
		if (!hub_wants(list, n, ids[i]))
			continue;
		cJSON *e = online_obj(s);
		cJSON_AddStringToObject(e, "id", ids[i]);
		cJSON_AddItemToArray(a, e);
	}
	return p;
}

static cJSON *h_hub_subdevice_list(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)q;
	(void)r;
	return subdevice_list(s, false);
}

static cJSON *h_ability(struct meross_sim *s, const struct req *q, struct result *r);

/* Namespace table. Methods: G = GET, S = SET accepted from the cloud. Namespaces with neither are
 * listed in the ability (the device uses them: Bind, Clock, Unbind) and handled in dispatch(). */
enum { M_GET = 1, M_SET = 2 };
enum { F_NOT_LEGACY = 1, F_LEGACY_ONLY = 2 };

struct ns_def {
	const char *ns;
	unsigned kinds;
	unsigned methods;
	unsigned flags;
	cJSON *(*fn)(struct meross_sim *, const struct req *, struct result *);
	const char *ability; /* JSON text of the ability value */
};

static const struct ns_def NS[] = {
	{"Appliance.System.All", K_ALL, M_GET, 0, h_system_all, "{}"},
	{"Appliance.System.Ability", K_ALL, M_GET, 0, h_ability, "{}"},
	{"Appliance.System.Hardware", K_ALL, M_GET, 0, h_system_hardware, "{}"},
	{"Appliance.System.Firmware", K_ALL, M_GET, 0, h_system_firmware, "{}"},
	{"Appliance.System.Online", K_ALL, M_GET, 0, h_system_online, "{}"},
	{"Appliance.System.Time", K_ALL, M_GET | M_SET, 0, h_system_time, "{}"},
	{"Appliance.System.Clock", K_ALL, 0, 0, NULL, "{}"},
	{"Appliance.Control.Bind", K_ALL, 0, 0, NULL, "{}"},
	{"Appliance.Control.Unbind", K_ALL, 0, 0, NULL, "{}"},
	{"Appliance.Control.ToggleX", K_SWITCHES, M_GET | M_SET, F_NOT_LEGACY, h_togglex, "{}"},
	{"Appliance.Control.Toggle", K_SWITCHES, M_GET | M_SET, F_LEGACY_ONLY, h_toggle, "{}"},
	{"Appliance.Control.Electricity", K_STRIP, M_GET, 0, h_electricity, "{}"},
	{"Appliance.Control.ConsumptionX", K_STRIP, M_GET, 0, h_consumptionx, "{}"},
	{"Appliance.Control.ConsumptionConfig", K_STRIP, M_GET, 0, h_consumption_config, "{}"},
	{"Appliance.Control.Light", K_BULB, M_GET | M_SET, 0, h_light, "{\"capacity\":7}"},
	{"Appliance.Hub.SubdeviceList", K_HUB, M_GET, 0, h_hub_subdevice_list, "{}"},
	{"Appliance.Hub.Online", K_HUB, M_GET, 0, h_hub_online, "{}"},
	{"Appliance.Hub.Battery", K_HUB, M_GET, 0, h_hub_battery, "{}"},
	{"Appliance.Hub.ToggleX", K_HUB, M_GET | M_SET, 0, h_hub_togglex, "{}"},
	{"Appliance.Hub.Sensor.All", K_HUB, M_GET, 0, h_hub_sensor_all, "{}"},
	{"Appliance.Hub.Mts100.All", K_HUB, M_GET, 0, h_hub_mts100_all, "{}"},
	{"Appliance.Hub.Mts100.Temperature", K_HUB, M_GET | M_SET, 0, h_hub_mts100_temperature, "{}"},
	{"Appliance.Hub.Mts100.Mode", K_HUB, M_GET | M_SET, 0, h_hub_mts100_mode, "{}"},
};

static const struct ns_def *find_ns(const char *ns)
{
	for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
		if (strcmp(NS[i].ns, ns) == 0)
			return &NS[i];
	return NULL;
}

static bool ns_supported(struct meross_sim *s, const struct ns_def *d)
{
	if (!d || !(d->kinds & s->ki->bit))
		return false;
	if ((d->flags & F_NOT_LEGACY) && s->o.legacy_toggle)
		return false;
	if ((d->flags & F_LEGACY_ONLY) && !s->o.legacy_toggle)
		return false;
	return true;
}

static cJSON *h_ability(struct meross_sim *s, const struct req *q, struct result *r)
{
	(void)q;
	(void)r;
	cJSON *p = cJSON_CreateObject();
	add_num(p, "payloadVersion", 1);
	cJSON *a = cJSON_AddObjectToObject(p, "ability");
	for (size_t i = 0; a && i < sizeof NS / sizeof NS[0]; i++) {
		if (!ns_supported(s, &NS[i]))
			continue;
		cJSON *v = cJSON_Parse(NS[i].ability);
		if (v)
			cJSON_AddItemToObject(a, NS[i].ns, v);
	}
	return p;
}

/* ------------------------------------------------------------------------------------------------ */
/* incoming messages */

static void count_ns(struct meross_sim *s, const char *method, const char *ns)
{
	for (int i = 0; i < NS_SLOTS; i++) {
		struct ns_count *c = &s->nsc[i];
		if (!c->ns[0]) {
			snprintf(c->method, sizeof c->method, "%s", method);
			snprintf(c->ns, sizeof c->ns, "%s", ns);
		}
		if (strcmp(c->method, method) == 0 && strcmp(c->ns, ns) == 0) {
			c->n++;
			pthread_cond_broadcast(&s->cv);
			return;
		}
	}
}

/* Decimal text of header.timestamp as the signer stringified it: an integral number, or a string of
 * digits. */
static bool timestamp_text(const cJSON *ts, char out[32])
{
	if (cJSON_IsNumber(ts)) {
		double d = ts->valuedouble;
		if (!isfinite(d) || d < -9007199254740992.0 || d > 9007199254740992.0 || (double)(long long)d != d)
			return false;
		snprintf(out, 32, "%lld", (long long)d);
		return true;
	}
	if (cJSON_IsString(ts) && ts->valuestring && all_digits(ts->valuestring) && strlen(ts->valuestring) <= 20) {
		snprintf(out, 32, "%s", ts->valuestring);
		return true;
	}
	return false;
}

static bool sign_ok(struct meross_sim *s, const char *mid, const cJSON *h)
{
	const char *sign = jstr(h, "sign", 64);
	char tstxt[32];
	if (!sign || strlen(sign) != 32 || !timestamp_text(cJSON_GetObjectItemCaseSensitive(h, "timestamp"), tstxt))
		return false;
	char in[MAX_MID_LEN + 64 + 32];
	snprintf(in, sizeof in, "%s%s%s", mid, s->o.key, tstxt);
	char want[33];
	fc_md5_hex(in, strlen(in), want);
	return strcmp(want, sign) == 0; /* lowercase hex only, like the sheet's formula */
}

static bool valid_reply_topic(const char *t)
{
	size_t n = strlen(t);
	return n > 0 && n <= MAX_FROM_LEN && mosquitto_pub_topic_check2(t, n) == MOSQ_ERR_SUCCESS &&
	       mosquitto_validate_utf8(t, (int)n) == MOSQ_ERR_SUCCESS;
}

static void handle_push(struct meross_sim *s, const char *ns, const char *mid, const cJSON *payload)
{
	if (strcmp(ns, "Appliance.System.Clock") == 0) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(payload, "clock");
		long long ts = 0;
		bool has_ts = cJSON_IsObject(c) && jint(c, "timestamp", 1, 4102444800LL, &ts) == 1;
		if (known_id(s->clock_ids, mid))
			bump(s, MSC_CLOCK_REPLIES);
		if (has_ts) {
			s->time_synced = true;
			s->sync_ts = ts;
			s->sync_mono_ms = fc_mono_ms();
		} else if (!known_id(s->clock_ids, mid)) {
			/* "push query" (§2): PUSH {} makes the device PUSH its clock */
			cJSON *p = cJSON_CreateObject();
			cJSON *cl = cJSON_AddObjectToObject(p, "clock");
			if (cl)
				add_num(cl, "timestamp", (double)dev_time(s));
			char id[MAX_MID_LEN + 1] = "";
			queue_push(s, "Appliance.System.Clock", NULL, p, CBIT(MSC_CLOCK_PUSHES), id);
			if (id[0])
				remember_id(s->clock_ids, &s->clock_idx, id);
		}
	} else if (strcmp(ns, "Appliance.Control.ConsumptionConfig") == 0) {
		if (s->o.kind == MEROSS_SIM_STRIP && known_id(s->cc_ids, mid))
			bump(s, MSC_CONSUMPTION_CONFIG_REPLIES);
	} else if (strcmp(ns, "Appliance.System.Time") == 0) {
		store_time(s, payload);
	} else if (strcmp(ns, "Appliance.Control.Unbind") == 0) {
		/* A real device factory-resets and returns to pairing mode (§3.6): the simulator drops the
		 * connection and stays offline until meross_sim_stop(). */
		s->bound = false;
		s->unbound = true;
		s->drop_req = true;
		bump(s, MSC_UNBINDS);
	}
	/* other PUSHes from the cloud are ignored (no reply, as they carry no request) */
}

static void dispatch(struct meross_sim *s, const char *method, const char *ns, const char *mid, const char *reply_to,
		     const cJSON *payload)
{
	if (strcmp(ns, "Appliance.Hub.SubdeviceList") == 0 && s->o.kind == MEROSS_SIM_HUB &&
	    strcmp(method, "GET") != 0 && strcmp(method, "SET") != 0) {
		/* The reply format to needReply is not documented (§3.5): any correctly signed non-request
		 * message on this namespace counts as the answer. */
		s->subdev_replied = true;
		bump(s, MSC_SUBDEVLIST_REPLIES);
		return;
	}
	if (strcmp(method, "SETACK") == 0) {
		if (strcmp(ns, "Appliance.Control.Bind") == 0) {
			/* messageId/from are not checked by devices (§3.1), only the sign (checked already) */
			if (s->connected) {
				s->bound = true;
				if (s->o.kind == MEROSS_SIM_HUB) {
					s->subdev_replied = false;
					s->next_subdev_ms = 0;
				}
			}
			bump(s, MSC_SETACK_OK);
		}
		return;
	}
	if (strcmp(method, "PUSH") == 0) {
		handle_push(s, ns, mid, payload);
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "SET") != 0)
		return; /* GETACK / ERROR / anything else: never answer an answer */

	const struct ns_def *d = find_ns(ns);
	if (!ns_supported(s, d)) {
		bump(s, MSC_UNKNOWN_NS);
		queue_error(s, reply_to, ns, mid, ERR_UNDOCUMENTED, "unexpected"); /* code not in the sheet */
		return;
	}
	bool is_set = strcmp(method, "SET") == 0;
	if (!d->fn || !(d->methods & (is_set ? M_SET : M_GET))) {
		queue_error(s, reply_to, ns, mid, ERR_UNDOCUMENTED, "method not supported"); /* code not in the sheet */
		return;
	}
	struct req q = {is_set, ns, payload};
	struct result r = {0};
	cJSON *ack = d->fn(s, &q, &r);
	if (!ack) {
		cJSON_Delete(r.push);
		queue_error(s, reply_to, ns, mid, r.code ? r.code : ERR_UNDOCUMENTED,
			    r.detail ? r.detail : "internal"); /* code not in the sheet */
		return;
	}
	queue_msg(s, reply_to, is_set ? "SETACK" : "GETACK", ns, mid, NULL, ack, CBIT(MSC_ACKS_SENT), NULL);
	if (r.push)
		queue_push(s, r.push_ns, NULL, r.push, 0, NULL);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct meross_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	bump(s, MSC_RECEIVED);
	pthread_mutex_unlock(&s->mu);

	cJSON *root = NULL;
	if (msg->payloadlen > 0 && msg->payloadlen <= MAX_INCOMING) {
		/* Own NUL-terminated copy: require the document to end exactly at payloadlen (no trailing
		 * garbage, no embedded NUL). */
		size_t len = (size_t)msg->payloadlen;
		char *buf = malloc(len + 1);
		if (buf) {
			memcpy(buf, msg->payload, len);
			buf[len] = 0;
			const char *end = NULL;
			root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
			if (root && end != buf + len) {
				cJSON_Delete(root);
				root = NULL;
			}
			free(buf);
		}
	}
	const cJSON *h = root ? cJSON_GetObjectItemCaseSensitive(root, "header") : NULL;
	const cJSON *payload = root ? cJSON_GetObjectItemCaseSensitive(root, "payload") : NULL;
	const char *ns = cJSON_IsObject(h) ? jstr(h, "namespace", MAX_NS_LEN) : NULL;
	const char *method = cJSON_IsObject(h) ? jstr(h, "method", MAX_METHOD_LEN) : NULL;
	const char *mid = cJSON_IsObject(h) ? jstr(h, "messageId", MAX_MID_LEN) : NULL;
	pthread_mutex_lock(&s->mu);
	if (!cJSON_IsObject(root) || !cJSON_IsObject(payload) || !ns || !*ns || !method || !*method || !mid ||
	    !printable_ascii(ns, strlen(ns)) || !printable_ascii(method, strlen(method)) ||
	    !printable_ascii(mid, strlen(mid))) {
		bump(s, MSC_MALFORMED);
		pthread_mutex_unlock(&s->mu);
		cJSON_Delete(root);
		return;
	}
	const char *from = jstr(h, "from", MAX_FROM_LEN);
	const char *reply_to = from && valid_reply_topic(from) ? from : s->pub_topic;
	if (!sign_ok(s, mid, h)) {
		bump(s, MSC_BAD_SIGN);
		/* Not acted upon. Answer with ERROR 5001 (§2), also for a wrongly signed Bind SETACK
		 * (bytespider #53) — but never answer an ERROR, so two peers cannot ping-pong. */
		if (strcmp(method, "ERROR") != 0)
			queue_error(s, reply_to, ns, mid, ERR_SIGN, "sign error");
	} else {
		count_ns(s, method, ns);
		dispatch(s, method, ns, mid, reply_to, payload);
	}
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(root);
}

/* ------------------------------------------------------------------------------------------------ */
/* session */

static void send_bind(struct meross_sim *s)
{
	int64_t t = dev_time(s);
	cJSON *p = cJSON_CreateObject();
	cJSON *b = cJSON_AddObjectToObject(p, "bind");
	if (b) {
		add_num(b, "bindTime", (double)t);
		cJSON_AddItemToObject(b, "time", time_obj(s));
		cJSON_AddItemToObject(b, "hardware", hardware_obj(s));
		cJSON_AddItemToObject(b, "firmware", firmware_obj(s));
	}
	/* Bind SET carries from = the device's own command topic (§3) */
	char *txt = build_msg(s, "SET", "Appliance.Control.Bind", NULL, s->sub_topic, "DevBoot", p, NULL);
	if (txt)
		enqueue_raw(s, s->pub_topic, txt, CBIT(MSC_BIND_ATTEMPTS));
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct meross_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	s->last_connack = rc;
	s->connack_seen = true;
	if (rc != 0) {
		set_error(s, "CONNACK refused: %s (%d)", mosquitto_connack_string(rc), rc);
		bump(s, MSC_CONNECT_FAILS);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->connected = true;
	s->subacked = false;
	s->bound = false;
	s->subdev_replied = false;
	bump(s, MSC_CONNECTS);
	pthread_mutex_unlock(&s->mu);
	if (mosquitto_subscribe(m, &s->sub_mid, s->sub_topic, 1) != MOSQ_ERR_SUCCESS) {
		pthread_mutex_lock(&s->mu);
		set_error(s, "SUBSCRIBE failed");
		pthread_mutex_unlock(&s->mu);
	}
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	struct meross_sim *s = ud;
	if (mid != s->sub_mid)
		return;
	pthread_mutex_lock(&s->mu);
	if (n < 1 || granted[0] > 2)
		set_error(s, "SUBSCRIBE to %s refused (%d)", s->sub_topic, n > 0 ? granted[0] : -1);
	/* a real device does not check the grant: carry on */
	s->subacked = true;
	cJSON *p = cJSON_CreateObject();
	cJSON *c = cJSON_AddObjectToObject(p, "clock");
	if (c)
		add_num(c, "timestamp", (double)dev_time(s));
	char id[MAX_MID_LEN + 1];
	id[0] = 0;
	queue_push(s, "Appliance.System.Clock", NULL, p, CBIT(MSC_CLOCK_PUSHES), id);
	if (id[0])
		remember_id(s->clock_ids, &s->clock_idx, id);
	if (s->o.kind == MEROSS_SIM_STRIP) {
		id[0] = 0;
		queue_push(s, "Appliance.Control.ConsumptionConfig", NULL, consumption_config(), 0, id);
		if (id[0])
			remember_id(s->cc_ids, &s->cc_idx, id);
	}
	s->next_bind_ms = 0; /* the first Bind SET goes out right after these */
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void mark_down(struct meross_sim *s)
{
	if (s->connected)
		bump(s, MSC_DISCONNECTS);
	s->connected = false;
	s->subacked = false;
	s->bound = false;
	pthread_cond_broadcast(&s->cv);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct meross_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	if (rc != 0 && s->connected)
		set_error(s, "connection lost (%d)", rc);
	mark_down(s);
	pthread_mutex_unlock(&s->mu);
}

/* Timers (loop thread). */
static void tick(struct meross_sim *s)
{
	int64_t now = fc_mono_ms();
	pthread_mutex_lock(&s->mu);
	if (s->connected && s->subacked && !s->bound && now >= s->next_bind_ms) {
		send_bind(s);
		s->next_bind_ms = now + s->o.bind_retry_ms;
	}
	if (s->o.kind == MEROSS_SIM_HUB && s->connected && s->bound && !s->subdev_replied &&
	    now >= s->next_subdev_ms) {
		queue_push(s, "Appliance.Hub.SubdeviceList", NULL, subdevice_list(s, true), CBIT(MSC_SUBDEVLIST_PUSHES),
			   NULL);
		s->next_subdev_ms = now + s->o.bind_retry_ms;
	}
	pthread_mutex_unlock(&s->mu);
}

static void flush_outbox(struct meross_sim *s, bool sock_up)
{
	pthread_mutex_lock(&s->mu);
	struct outmsg *list = s->ob_head;
	s->ob_head = s->ob_tail = NULL;
	bool up = sock_up && s->connected;
	pthread_mutex_unlock(&s->mu);
	for (struct outmsg *m = list; m; m = m->next) {
		int rc = up ? mosquitto_publish(s->m, NULL, m->topic, (int)strlen(m->payload), m->payload,
						s->o.pub_qos, false)
			    : MOSQ_ERR_NO_CONN;
		pthread_mutex_lock(&s->mu);
		if (rc == MOSQ_ERR_SUCCESS) {
			for (int c = 0; c < MSC__COUNT; c++)
				if (m->count_mask & CBIT(c))
					s->counters[c]++;
		} else {
			s->counters[MSC_DROPPED]++;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	free_outmsgs(list);
}

static void record_inner_ip(struct meross_sim *s)
{
	int fd = mosquitto_socket(s->m);
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	char ip[INET_ADDRSTRLEN] = "";
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET)
		inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
	pthread_mutex_lock(&s->mu);
	if (ip[0])
		snprintf(s->inner_ip, sizeof s->inner_ip, "%s", ip);
	pthread_mutex_unlock(&s->mu);
}

static void *sim_thread(void *arg)
{
	struct meross_sim *s = arg;
	bool sock_up = false, first = true;
	int64_t next_try = 0;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		bool stop = s->stop, drop = s->drop_req, unbound = s->unbound;
		s->drop_req = false;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		if (!sock_up) {
			if (!unbound && fc_mono_ms() >= next_try) {
				pthread_mutex_lock(&s->mu);
				s->connack_seen = false;
				pthread_mutex_unlock(&s->mu);
				errno = 0;
				int rc = first ? mosquitto_connect(s->m, s->host, s->o.port, 30) : mosquitto_reconnect(s->m);
				int err = errno;
				first = false;
				if (rc == MOSQ_ERR_SUCCESS) {
					sock_up = true;
					record_inner_ip(s);
				} else {
					pthread_mutex_lock(&s->mu);
					set_error(s, "connect to %s:%d failed: %s", s->host, s->o.port,
						  rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc));
					bump(s, MSC_CONNECT_FAILS);
					pthread_mutex_unlock(&s->mu);
					next_try = fc_mono_ms() + s->o.reconnect_ms;
				}
			}
			if (!sock_up) {
				flush_outbox(s, false);
				fc_sleep_ms(20);
				continue;
			}
		}
		if (drop)
			mosquitto_disconnect(s->m);
		int rc = mosquitto_loop(s->m, 20, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			sock_up = false;
			pthread_mutex_lock(&s->mu);
			if (!drop && rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_REFUSED)
				set_error(s, "network loop: %s", mosquitto_strerror(rc));
			if (!s->connack_seen)
				bump(s, MSC_CONNECT_FAILS); /* TLS handshake or socket failure before CONNACK */
			mark_down(s);
			pthread_mutex_unlock(&s->mu);
			next_try = fc_mono_ms() + s->o.reconnect_ms;
			flush_outbox(s, false);
			continue;
		}
		tick(s);
		flush_outbox(s, true);
	}
	if (sock_up) {
		mosquitto_disconnect(s->m);
		for (int i = 0; i < 10 && mosquitto_loop(s->m, 10, 1) == MOSQ_ERR_SUCCESS; i++)
			;
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* public API */

void meross_sim_opts_init(struct meross_sim_opts *o, enum meross_sim_kind kind)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->host = "127.0.0.1";
	o->protocol = 3;
	o->bind_retry_ms = 10000;
	o->reconnect_ms = 1000;
}

static bool bounded(const char *p, size_t cap) { return memchr(p, 0, cap) != NULL; }

struct meross_sim *meross_sim_start(const struct meross_sim_opts *o)
{
	pthread_once(&lib_once, lib_init);
	if ((int)o->kind < 0 || (size_t)o->kind >= sizeof KINDS / sizeof KINDS[0]) {
		fprintf(stderr, "meross_sim: bad kind\n");
		return NULL;
	}
	if (!bounded(o->uuid, sizeof o->uuid) || strlen(o->uuid) != 32 || !all_alnum(o->uuid, 32)) {
		fprintf(stderr, "meross_sim: uuid must be 32 [0-9A-Za-z]\n");
		return NULL;
	}
	if (!bounded(o->mac, sizeof o->mac) || !o->mac[0] || !bounded(o->user_id, sizeof o->user_id) ||
	    !bounded(o->key, sizeof o->key) || !bounded(o->password_override, sizeof o->password_override)) {
		fprintf(stderr, "meross_sim: mac/user_id/key/password_override not set or unterminated\n");
		return NULL;
	}
	if (o->port <= 0 || o->port > 65535 || (o->protocol != 0 && o->protocol != 3 && o->protocol != 4) ||
	    o->pub_qos < 0 || o->pub_qos > 2) {
		fprintf(stderr, "meross_sim: bad port/protocol/pub_qos\n");
		return NULL;
	}
	struct meross_sim *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = *o;
	s->ki = &KINDS[o->kind];
	if (s->o.protocol == 0)
		s->o.protocol = 3;
	if (s->o.bind_retry_ms <= 0)
		s->o.bind_retry_ms = 10000;
	if (s->o.reconnect_ms <= 0)
		s->o.reconnect_ms = 1000;
	snprintf(s->host, sizeof s->host, "%s", o->host ? o->host : "127.0.0.1");
	if (o->ca_file)
		snprintf(s->ca_file, sizeof s->ca_file, "%s", o->ca_file);
	s->o.host = s->host;
	s->o.ca_file = s->ca_file[0] ? s->ca_file : NULL;
	snprintf(s->hw_type, sizeof s->hw_type, "%s", o->hw_type ? o->hw_type : s->ki->type);
	snprintf(s->fw_version, sizeof s->fw_version, "%s", o->fw_version ? o->fw_version : s->ki->fw_version);
	s->o.hw_type = NULL;
	s->o.fw_version = NULL;
	snprintf(s->sub_topic, sizeof s->sub_topic, "/appliance/%s/subscribe", o->uuid);
	snprintf(s->pub_topic, sizeof s->pub_topic, "/appliance/%s/publish", o->uuid);
	snprintf(s->username, sizeof s->username, "%s", o->mac);

	char suffix[17];
	if (fc_random_alnum(suffix, 16) != 0) {
		free(s);
		return NULL;
	}
	snprintf(s->client_id, sizeof s->client_id, "fmware:%s_%s", o->uuid, suffix);
	if (o->password_override[0]) {
		snprintf(s->password, sizeof s->password, "%s", o->password_override);
	} else {
		char in[sizeof o->mac + sizeof o->key];
		snprintf(in, sizeof in, "%s%s", o->mac, o->key);
		char md5[33];
		fc_md5_hex(in, strlen(in), md5);
		snprintf(s->password, sizeof s->password, "%s_%s", o->user_id[0] ? o->user_id : "0", md5);
	}

	s->last_connack = -1;
	s->boot_ms = fc_mono_ms();
	s->light = (struct meross_sim_light){.capacity = 5, .rgb = 0xFF8000, .temperature = 50, .luminance = 80};
	s->power = (struct meross_sim_power){.current_ma = 500, .voltage_dv = 2300, .power_mw = 115000};
	s->valve = (struct meross_sim_valve){.onoff = 1, .mode = 0, .room = 195, .current_set = 210, .custom = 210,
					     .comfort = 225, .economy = 175, .away = 120};
	s->sensor_temp = 215;
	s->sensor_hum = 450;

	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);

	s->m = mosquitto_new(s->client_id, true, s);
	if (!s->m)
		goto fail;
	mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION,
			     s->o.protocol == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V31);
	mosquitto_username_pw_set(s->m, s->username, s->password);
	mosquitto_connect_callback_set(s->m, on_connect);
	mosquitto_disconnect_callback_set(s->m, on_disconnect);
	mosquitto_subscribe_callback_set(s->m, on_subscribe);
	mosquitto_message_callback_set(s->m, on_message);
	int rc;
	if (s->o.ca_file) {
		rc = mosquitto_tls_set(s->m, s->o.ca_file, NULL, NULL, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(s->m, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
	} else {
		/* Like real devices: TLS without any certificate check. libmosquitto only enables TLS with a
		 * CA source, and (2.0.11) MOSQ_OPT_TLS_USE_OS_CERTS alone makes every mosquitto_reconnect()
		 * fail with MOSQ_ERR_INVAL once the SSL_CTX exists; so give it a CA directory (never
		 * consulted: verification is switched off right after). */
		rc = mosquitto_tls_set(s->m, NULL, access("/etc/ssl/certs", R_OK | X_OK) == 0 ? "/etc/ssl/certs" : "/",
				       NULL, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(s->m, 0 /* SSL_VERIFY_NONE */, "tlsv1.2", NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_insecure_set(s->m, true);
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "meross_sim: TLS setup failed: %s\n", mosquitto_strerror(rc));
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, sim_thread, s) != 0)
		goto fail;
	return s;
fail:
	if (s->m)
		mosquitto_destroy(s->m);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	return NULL;
}

void meross_sim_stop(struct meross_sim *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	mosquitto_destroy(s->m);
	free_outmsgs(s->ob_head);
	free(s->time_rule);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* Wait until pred(s, arg) (evaluated under mu) or timeout. */
static bool wait_until(struct meross_sim *s, bool (*pred)(struct meross_sim *, const void *), const void *arg,
		       int timeout_ms)
{
	struct timespec ts;
	deadline(&ts, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&s->mu);
	bool ok;
	while (!(ok = pred(s, arg)))
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) {
			ok = pred(s, arg);
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static bool pred_bound(struct meross_sim *s, const void *arg)
{
	(void)arg;
	return s->bound;
}

bool meross_sim_wait_bound(struct meross_sim *s, int timeout_ms) { return wait_until(s, pred_bound, NULL, timeout_ms); }

bool meross_sim_is_bound(struct meross_sim *s)
{
	pthread_mutex_lock(&s->mu);
	bool b = s->bound;
	pthread_mutex_unlock(&s->mu);
	return b;
}

bool meross_sim_is_connected(struct meross_sim *s)
{
	pthread_mutex_lock(&s->mu);
	bool b = s->connected;
	pthread_mutex_unlock(&s->mu);
	return b;
}

long meross_sim_counter(struct meross_sim *s, enum meross_sim_counter c)
{
	if ((int)c < 0 || c >= MSC__COUNT)
		return -1;
	pthread_mutex_lock(&s->mu);
	long v = s->counters[c];
	pthread_mutex_unlock(&s->mu);
	return v;
}

struct counter_arg {
	enum meross_sim_counter c;
	long min;
};

static bool pred_counter(struct meross_sim *s, const void *arg)
{
	const struct counter_arg *a = arg;
	return s->counters[a->c] >= a->min;
}

bool meross_sim_wait_counter(struct meross_sim *s, enum meross_sim_counter c, long min, int timeout_ms)
{
	if ((int)c < 0 || c >= MSC__COUNT)
		return false;
	struct counter_arg a = {c, min};
	return wait_until(s, pred_counter, &a, timeout_ms);
}

static long ns_count_locked(struct meross_sim *s, const char *method, const char *ns)
{
	for (int i = 0; i < NS_SLOTS && s->nsc[i].ns[0]; i++)
		if (strcmp(s->nsc[i].method, method) == 0 && strcmp(s->nsc[i].ns, ns) == 0)
			return s->nsc[i].n;
	return 0;
}

long meross_sim_count(struct meross_sim *s, const char *method, const char *ns)
{
	pthread_mutex_lock(&s->mu);
	long v = ns_count_locked(s, method, ns);
	pthread_mutex_unlock(&s->mu);
	return v;
}

struct ns_arg {
	const char *method, *ns;
	long min;
};

static bool pred_ns(struct meross_sim *s, const void *arg)
{
	const struct ns_arg *a = arg;
	return ns_count_locked(s, a->method, a->ns) >= a->min;
}

bool meross_sim_wait_count(struct meross_sim *s, const char *method, const char *ns, long min, int timeout_ms)
{
	struct ns_arg a = {method, ns, min};
	return wait_until(s, pred_ns, &a, timeout_ms);
}

int meross_sim_last_connack(struct meross_sim *s)
{
	pthread_mutex_lock(&s->mu);
	int v = s->last_connack;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void meross_sim_last_error(struct meross_sim *s, char *out, size_t outlen)
{
	pthread_mutex_lock(&s->mu);
	snprintf(out, outlen, "%s", s->last_error);
	pthread_mutex_unlock(&s->mu);
}

void meross_sim_client_id(struct meross_sim *s, char *out, size_t outlen) { snprintf(out, outlen, "%s", s->client_id); }
void meross_sim_password(struct meross_sim *s, char *out, size_t outlen) { snprintf(out, outlen, "%s", s->password); }

int meross_sim_onoff(struct meross_sim *s, int channel)
{
	pthread_mutex_lock(&s->mu);
	int v = -1;
	if (s->o.kind == MEROSS_SIM_HUB)
		v = channel == 0 ? s->valve.onoff : -1;
	else if (channel >= 0 && channel < s->ki->channels)
		v = s->onoff[channel];
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* Local state change + PUSH (mu held). */
static int local_onoff(struct meross_sim *s, int channel, int onoff)
{
	if (s->o.kind == MEROSS_SIM_HUB) {
		if (channel != 0)
			return -1;
		s->valve.onoff = onoff;
		s->valve_lmtime = dev_time(s);
		cJSON *p = cJSON_CreateObject();
		cJSON *a = cJSON_AddArrayToObject(p, "togglex");
		if (a)
			cJSON_AddItemToArray(a, hub_togglex_entry(s));
		queue_push(s, "Appliance.Hub.ToggleX", "Device", p, 0, NULL);
		return onoff;
	}
	if (channel < 0 || channel >= s->ki->channels)
		return -1;
	set_channel(s, channel, onoff);
	cJSON *p = cJSON_CreateObject();
	if (s->o.legacy_toggle) {
		cJSON_AddItemToObject(p, "toggle", toggle_obj(s, channel));
		queue_push(s, "Appliance.Control.Toggle", "Device", p, 0, NULL);
	} else {
		cJSON *a = cJSON_AddArrayToObject(p, "togglex");
		if (a)
			cJSON_AddItemToArray(a, togglex_entry(s, channel));
		queue_push(s, "Appliance.Control.ToggleX", "Device", p, 0, NULL);
	}
	return onoff;
}

int meross_sim_press(struct meross_sim *s, int channel)
{
	pthread_mutex_lock(&s->mu);
	int cur = s->o.kind == MEROSS_SIM_HUB ? s->valve.onoff
		  : (channel >= 0 && channel < s->ki->channels) ? s->onoff[channel]
								: 0;
	int v = local_onoff(s, channel, !cur);
	pthread_mutex_unlock(&s->mu);
	return v;
}

int meross_sim_set_onoff(struct meross_sim *s, int channel, int onoff)
{
	pthread_mutex_lock(&s->mu);
	int v = local_onoff(s, channel, onoff ? 1 : 0);
	pthread_mutex_unlock(&s->mu);
	return v < 0 ? -1 : 0;
}

int meross_sim_get_light(struct meross_sim *s, struct meross_sim_light *out)
{
	if (s->o.kind != MEROSS_SIM_BULB)
		return -1;
	pthread_mutex_lock(&s->mu);
	*out = s->light;
	out->onoff = s->onoff[0];
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_set_light(struct meross_sim *s, const struct meross_sim_light *l)
{
	if (s->o.kind != MEROSS_SIM_BULB)
		return -1;
	pthread_mutex_lock(&s->mu);
	s->light.capacity = l->capacity & 7;
	s->light.rgb = l->rgb & 0xFFFFFF;
	s->light.temperature = l->temperature < 1 ? 1 : l->temperature > 100 ? 100 : l->temperature;
	s->light.luminance = l->luminance < 0 ? 0 : l->luminance > 100 ? 100 : l->luminance;
	if ((l->onoff ? 1 : 0) != s->onoff[0])
		set_channel(s, 0, l->onoff ? 1 : 0);
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "light", light_obj(s));
	queue_push(s, "Appliance.Control.Light", "Device", p, 0, NULL);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_get_power(struct meross_sim *s, struct meross_sim_power *out)
{
	if (s->o.kind != MEROSS_SIM_STRIP)
		return -1;
	pthread_mutex_lock(&s->mu);
	*out = s->power;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_set_power(struct meross_sim *s, int current_ma, int voltage_dv, int power_mw)
{
	if (s->o.kind != MEROSS_SIM_STRIP)
		return -1;
	pthread_mutex_lock(&s->mu);
	s->power = (struct meross_sim_power){current_ma, voltage_dv, power_mw};
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_get_valve(struct meross_sim *s, struct meross_sim_valve *out)
{
	if (s->o.kind != MEROSS_SIM_HUB)
		return -1;
	pthread_mutex_lock(&s->mu);
	*out = s->valve;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_set_sensor(struct meross_sim *s, int temperature_x10, int humidity_x10)
{
	if (s->o.kind != MEROSS_SIM_HUB)
		return -1;
	pthread_mutex_lock(&s->mu);
	s->sensor_temp = temperature_x10;
	s->sensor_hum = humidity_x10;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void meross_sim_get_time(struct meross_sim *s, char *tz, size_t tzlen, int64_t *timestamp)
{
	pthread_mutex_lock(&s->mu);
	if (tz && tzlen)
		snprintf(tz, tzlen, "%s", s->timezone);
	if (timestamp)
		*timestamp = s->time_ts;
	pthread_mutex_unlock(&s->mu);
}

int meross_sim_push(struct meross_sim *s, const char *ns, const char *payload_json)
{
	if (!ns || !*ns || strlen(ns) > MAX_NS_LEN || !payload_json)
		return -1;
	cJSON *p = cJSON_Parse(payload_json);
	if (!cJSON_IsObject(p)) {
		cJSON_Delete(p);
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	queue_push(s, ns, NULL, p, 0, NULL);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int meross_sim_publish_raw(struct meross_sim *s, const char *topic, const char *payload)
{
	if (!topic || !payload)
		return -1;
	char *copy = strdup(payload);
	if (!copy)
		return -1;
	pthread_mutex_lock(&s->mu);
	enqueue_raw(s, topic, copy, 0);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void meross_sim_drop(struct meross_sim *s)
{
	pthread_mutex_lock(&s->mu);
	s->drop_req = true;
	pthread_mutex_unlock(&s->mu);
}
