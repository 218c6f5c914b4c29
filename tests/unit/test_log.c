/* core/log and core/secret: sink, level filter, redaction of registered secrets, line bounds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secret.h"
#include "unit/t.h"

/* ---- capturing sink ---- */

#define CAP_LINES 64
static struct {
	char line[CAP_LINES][4096];
	enum fc_log_level level[CAP_LINES];
	int n;      /* lines captured (the array keeps the first CAP_LINES) */
	int total;  /* every call, for the thread test */
} cap;

static void capture(void *ctx, enum fc_log_level level, const char *line)
{
	CHECK(ctx == &cap);
	if (cap.n < CAP_LINES) {
		snprintf(cap.line[cap.n], sizeof cap.line[0], "%s", line);
		cap.level[cap.n] = level;
		cap.n++;
	}
	cap.total++;
}

static void cap_reset(void) { memset(&cap, 0, sizeof cap); }

static const char *last(void) { return cap.n ? cap.line[cap.n - 1] : ""; }

/* A 32-hex-digit key, as vendors use for AES-128 keys. */
static const char KEY[] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

static void test_levels(void)
{
	enum fc_log_level l;
	CHECK_INT(fc_log_level_parse("debug", &l), 0);
	CHECK_INT(l, FC_LOG_DEBUG);
	CHECK_INT(fc_log_level_parse("warning", &l), 0);
	CHECK_INT(l, FC_LOG_WARN);
	CHECK_INT(fc_log_level_parse("warn", &l), 0);
	CHECK_INT(l, FC_LOG_WARN);
	CHECK_INT(fc_log_level_parse("error", &l), 0);
	CHECK_INT(l, FC_LOG_ERROR);
	CHECK_INT(fc_log_level_parse("info", &l), 0);
	CHECK_INT(l, FC_LOG_INFO);
	CHECK_INT(fc_log_level_parse("verbose", &l), -1);
	CHECK_INT(fc_log_level_parse("", &l), -1);
	CHECK_INT(fc_log_level_parse(NULL, &l), -1);
	CHECK_STR(fc_log_level_name(FC_LOG_WARN), "warn");
	CHECK_STR(fc_log_level_name(FC_LOG_DEBUG), "debug");
	CHECK_INT(fc_log_get_level(), FC_LOG_INFO); /* default */

	cap_reset();
	fc_debug("hidden %d", 1);
	CHECK_INT(cap.n, 0);
	fc_info("shown %d", 2);
	CHECK_INT(cap.n, 1);
	CHECK_STR(last(), "shown 2");
	CHECK_INT(cap.level[0], FC_LOG_INFO);

	fc_log_set_level(FC_LOG_WARN);
	CHECK_INT(fc_log_get_level(), FC_LOG_WARN);
	fc_info("dropped");
	fc_warn("warned %s", "x");
	fc_error("failed");
	CHECK_INT(cap.n, 3);
	CHECK_STR(cap.line[1], "warned x");
	CHECK_INT(cap.level[1], FC_LOG_WARN);
	CHECK_INT(cap.level[2], FC_LOG_ERROR);
	fc_log_set_level(FC_LOG_DEBUG);
	fc_debug("dbg");
	CHECK_STR(last(), "dbg");
	CHECK_INT(cap.level[cap.n - 1], FC_LOG_DEBUG);
	fc_log_set_level(FC_LOG_INFO);
}

static void test_redaction(void)
{
	fc_log_clear_secrets();
	fc_log_register_secret(KEY, strlen(KEY));
	cap_reset();

	fc_info("device abc key %s ok", KEY);
	CHECK_STR(last(), "device abc key *** ok");
	fc_info("%s", KEY);
	CHECK_STR(last(), "***");
	fc_info("json {\"key\":\"%s\"}", KEY);
	CHECK_STR(last(), "json {\"key\":\"***\"}");
	/* delimited pieces of a token */
	fc_info("key=%s&x=1", KEY);
	CHECK_STR(last(), "key=***&x=1");
	fc_info("/v1/dev/%s/set", KEY);
	CHECK_STR(last(), "/v1/dev/***/set");
	fc_info("twice %s,%s.", KEY, KEY);
	CHECK_STR(last(), "twice ***,***.");
	/* not a whole token: left alone */
	fc_info("x%s", KEY);
	CHECK(strstr(last(), KEY) != NULL);
	fc_info("%sx", KEY);
	CHECK(strstr(last(), KEY) != NULL);
	/* a prefix of the key is a different token */
	fc_info("part %.31s end", KEY);
	CHECK(strstr(last(), "***") == NULL);
	/* other tokens untouched */
	fc_info("other 0123456789abcdef0123456789abcdef and words here");
	CHECK_STR(last(), "other 0123456789abcdef0123456789abcdef and words here");

	/* values shorter than 8 are not registered */
	fc_log_register_secret("short12", 7);
	fc_info("pw short12");
	CHECK_STR(last(), "pw short12");

	/* non-token characters: matched as a substring */
	fc_log_register_secret("p@ss word!", 10);
	fc_info("login user:p@ss word!:end");
	CHECK_STR(last(), "login user:***:end");

	/* base64 with padding, and the longest registered match wins */
	fc_log_register_secret("QUJDREVGR0hJSg==", 16);
	fc_info("tok=QUJDREVGR0hJSg== done");
	CHECK_STR(last(), "tok=*** done");

	/* unregister, clear */
	fc_log_unregister_secret(KEY, strlen(KEY));
	fc_info("k %s", KEY);
	CHECK(strstr(last(), KEY) != NULL);
	fc_log_register_secret(KEY, strlen(KEY));
	fc_info("k %s", KEY);
	CHECK_STR(last(), "k ***");
	fc_log_clear_secrets();
	fc_info("k %s p@ss word!", KEY);
	CHECK(strstr(last(), KEY) != NULL && strstr(last(), "p@ss word!") != NULL);

	/* fc_log_redact directly */
	fc_log_register_secret(KEY, strlen(KEY));
	char buf[128];
	snprintf(buf, sizeof buf, "a %s b %s", KEY, KEY);
	CHECK_INT(fc_log_redact(buf, sizeof buf), 2);
	CHECK_STR(buf, "a *** b ***");
	snprintf(buf, sizeof buf, "nothing here");
	CHECK_INT(fc_log_redact(buf, sizeof buf), 0);
	CHECK_STR(buf, "nothing here");
	/* not NUL-terminated within cap: the last byte becomes the terminator */
	char raw[8];
	memcpy(raw, "abcdefgh", 8);
	CHECK_INT(fc_log_redact(raw, sizeof raw), 0);
	CHECK_STR(raw, "abcdefg");
	fc_log_clear_secrets();
}

static void test_secret(void)
{
	fc_log_clear_secrets();
	cap_reset();
	struct fc_secret s;
	const char *tok = "Zx9Yw8Vu7Ts6Rq5P";
	CHECK_INT(fc_secret_set_str(&s, tok), 0);
	CHECK_INT(fc_secret_len(&s), 16);
	CHECK_STR(fc_secret_reveal(&s), tok);
	fc_info("token %s", fc_secret_reveal(&s));
	CHECK_STR(last(), "token ***");
	CHECK_INT(fc_secret_equals(&s, tok, 16), 1);
	CHECK_INT(fc_secret_equals(&s, "Zx9Yw8Vu7Ts6Rq5Q", 16), 0);
	CHECK_INT(fc_secret_equals(&s, tok, 15), 0);

	/* wiping keeps the registration */
	fc_secret_wipe(&s);
	CHECK_INT(fc_secret_len(&s), 0);
	CHECK_STR(fc_secret_reveal(&s), "");
	fc_info("still %s", tok);
	CHECK_STR(last(), "still ***");

	/* too long: rejected and left empty */
	char big[FC_SECRET_MAX + 2];
	memset(big, 'a', sizeof big);
	CHECK_INT(fc_secret_set_str(&s, "abc"), 0);
	CHECK_INT(fc_secret_set(&s, big, FC_SECRET_MAX + 1), -1);
	CHECK_INT(fc_secret_len(&s), 0);
	CHECK_INT(fc_secret_set(&s, big, FC_SECRET_MAX), 0);
	CHECK_INT(fc_secret_len(&s), FC_SECRET_MAX);
	CHECK_INT(s.b[FC_SECRET_MAX], 0);
	/* set from its own buffer */
	CHECK_INT(fc_secret_set_str(&s, "abcdefgh"), 0);
	CHECK_INT(fc_secret_set(&s, s.b + 2, 3), 0);
	CHECK_STR(fc_secret_reveal(&s), "cde");
	CHECK_INT(s.b[5], 0);
	/* binary bytes */
	const unsigned char bin[4] = {0, 1, 2, 0xff};
	CHECK_INT(fc_secret_set(&s, bin, 4), 0);
	CHECK_INT(fc_secret_equals(&s, bin, 4), 1);
	fc_log_clear_secrets();
}

/* Lines are capped at 2048 bytes with "..."; a secret straddling the cut is still redacted. */
static void test_bounds(void)
{
	cap_reset();
	char *big = malloc(6000);
	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'a', 5999);
	big[5999] = '\0';
	for (int i = 100; i < 5999; i += 100)
		big[i] = ' ';
	fc_info("%s", big);
	CHECK_INT(strlen(last()), 2047);
	CHECK(strcmp(last() + 2044, "...") == 0);

	/* secret from 2030 to 2062 */
	fc_log_register_secret(KEY, strlen(KEY));
	memset(big, 'b', 5999);
	big[2029] = ' ';
	memcpy(big + 2030, KEY, 32);
	big[2062] = ' ';
	fc_info("%s", big);
	CHECK_INT(strlen(last()), 2047);
	CHECK(strstr(last(), "0f1e2d3c") == NULL);
	CHECK(strstr(last(), " *** ") != NULL);

	/* very long line (beyond the internal format buffer) whose end is a secret that gets cut */
	char *huge = malloc(40000);
	CHECK(huge != NULL);
	if (huge) {
		memset(huge, ' ', 40000);
		huge[39999] = '\0';
		fc_info("%s%s", huge, KEY);
		CHECK(strlen(last()) <= 2047);
		free(huge);
	}
	fc_log_clear_secrets();
	free(big);

	/* control characters cannot forge a new line; one trailing newline is dropped */
	fc_info("user said \"hi\nfakecloud: ERROR: fake\" \x1b[31m");
	CHECK(strchr(last(), '\n') == NULL && strchr(last(), '\x1b') == NULL);
	fc_info("done\n");
	CHECK_STR(last(), "done");
}

/* ---- threads: concurrent logging and (un)registration ---- */

static void *log_thread(void *arg)
{
	int id = *(int *)arg;
	char mine[40];
	snprintf(mine, sizeof mine, "thread%02dsecretvalue%08d", id, id * 7919);
	for (int i = 0; i < 500; i++) {
		fc_log_register_secret(mine, strlen(mine));
		fc_info("t%d i%d %s", id, i, mine);
		if (i % 50 == 0)
			fc_log_unregister_secret(mine, strlen(mine));
	}
	return NULL;
}

static void test_threads(void)
{
	cap_reset();
	pthread_t th[4];
	int ids[4] = {1, 2, 3, 4};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, log_thread, &ids[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(cap.total, 2000);
	/* each thread registers its value before logging it: no captured line shows one */
	int leaked = 0;
	for (int i = 0; i < cap.n; i++)
		if (strstr(cap.line[i], "secretvalue"))
			leaked++;
	CHECK_INT(leaked, 0);
	fc_log_clear_secrets();
}

/* A sink that logs does not deadlock: the nested line goes to the default sink. */
static int nested_calls;
static void nesting_sink(void *ctx, enum fc_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	(void)line;
	if (nested_calls++ == 0)
		fc_warn("from inside the sink");
}

static void test_default_sink(void)
{
	/* capture stderr in a file */
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	CHECK(tmp != NULL && saved >= 0);
	if (!tmp || saved < 0)
		return;
	dup2(fileno(tmp), 2);

	fc_log_set_sink(NULL, NULL);
	fc_log_register_secret(KEY, strlen(KEY));
	fc_warn("hello %d key %s", 42, KEY);
	fc_log_set_sink(nesting_sink, NULL);
	fc_info("outer");
	fc_log_set_sink(NULL, NULL);
	fc_log_clear_secrets();

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char text[512] = "";
	rewind(tmp);
	size_t n = fread(text, 1, sizeof text - 1, tmp);
	text[n] = '\0';
	fclose(tmp);
	CHECK(strstr(text, "fakecloud: WARN: hello 42 key ***\n") != NULL);
	CHECK(strstr(text, "fakecloud: WARN: from inside the sink\n") != NULL);
	CHECK(strstr(text, KEY) == NULL);
	CHECK_INT(nested_calls, 1);
}

int main(void)
{
	fc_log_set_sink(capture, &cap);
	test_levels();
	test_redaction();
	test_secret();
	test_bounds();
	test_threads();
	test_default_sink();
	return t_done();
}
