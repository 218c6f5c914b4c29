/* Integration harness: a private directory initialised by the real `fakecloud init`, a real mosquitto
 * with the real plugin, the real fakecloud-httpd, all on free loopback ports; stopped by PID.
 * Plus small synchronous MQTT client helpers (libmosquitto) for tests. */
#ifndef FC_HARNESS_H
#define FC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fc_env {
	char dir[256];        /* temporary directory (removed by fc_env_cleanup unless FC_KEEP=1) */
	char bin_dir[512];    /* where fakecloud, fakecloud-httpd, fakecloud.so are (FC_BIN_DIR) */
	char conf[300];       /* dir/fakecloud.conf */
	char mosq_conf[300];  /* dir/mosquitto.conf */
	int mqtt_port, tls_port, psk_port, http_port, https_port;
	pid_t broker_pid, httpd_pid;
	char admin_user[32];
	char admin_pass[128];
	char ca_cert[300];
	char broker_log[300], httpd_log[300];
	char name[48];        /* the test's name (fc_env_init), used in the harness's failure messages */
	/* The harness's '#' recorder (tests/harness/spy.c): attached by fc_env_start_broker as the admin user,
	 * detached when the broker stops; fc_env_cleanup scans what it recorded for stored secrets. */
	struct fc_spy *spy;
	char spy_error[200];  /* why it could not attach ("" = fine); fails the test at cleanup */
	/* Benchmarks set this after fc_env_init: the recorder is one more subscriber to every message, which
	 * the bare-Mosquitto baseline does not have. Logs are still scanned. */
	bool no_recorder;
};

/* mkdtemp + free ports + `fakecloud init --dir ... --set ...`. `extra_set` is a NULL-terminated list
 * of "section.key=value" overrides (may be NULL). Returns 0 or -1 (reason on stderr). */
int fc_env_init(struct fc_env *e, const char *name, const char *const *extra_set);
int fc_env_start_broker(struct fc_env *e);   /* waits until the plain MQTT port accepts */
int fc_env_start_httpd(struct fc_env *e);    /* waits until GET /healthz answers 200 */
int fc_env_stop_broker(struct fc_env *e);    /* SIGTERM, wait; returns exit status */
int fc_env_stop_httpd(struct fc_env *e);
int fc_env_kill_broker(struct fc_env *e);    /* SIGKILL */
/* Stops whatever runs, removes dir. Then the secret scan every integration test gets: every secret the
 * keystore holds (device and account secrets of every vendor, the internal MQTT password) and the admin
 * password, against both logs and against every topic and payload the harness's '#' recorder saw while
 * the broker ran (what the admin user may read). A finding prints the test, where (log, or topic) and
 * which kind of secret of which device or account, never the secret, and exits 1. */
void fc_env_cleanup(struct fc_env *e);
/* Run the CLI with --config e->conf prepended to args (printf-style command line, split on spaces;
 * no quoting). Captures stdout+stderr into out (NUL-terminated). Returns the exit status. */
int fc_env_cli(struct fc_env *e, char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Count occurrences of `needle` in the broker's (or httpd's) log so far. */
int fc_env_broker_log_count(struct fc_env *e, const char *needle);
int fc_env_httpd_log_count(struct fc_env *e, const char *needle);
/* Wait (up to timeout_ms) until the broker log contains needle at least `count` times. */
bool fc_env_wait_broker_log(struct fc_env *e, const char *needle, int count, int timeout_ms);

/* ---- MQTT test client ---- */
struct fc_mq;
struct fc_mq_msg {
	char topic[512];
	char *payload;   /* NUL-terminated copy */
	size_t len;
	bool retain;
};
/* Connect (plain TCP) and wait for CONNACK. Returns NULL on failure; *rc (optional) = CONNACK code
 * (0 accepted, 5 not authorised...) or -1 on a network error. protocol: 3 (3.1), 4 (3.1.1), 5. */
struct fc_mq *fc_mq_connect(struct fc_env *e, const char *client_id, const char *user, const char *pass,
			    int protocol, int *rc);
/* Same over TLS to e->tls_port, trusting e->ca_cert. */
struct fc_mq *fc_mq_connect_tls(struct fc_env *e, const char *client_id, const char *user, const char *pass,
				int protocol, int *rc);
/* Same over TLS-PSK to e->psk_port with the given identity and hex key. */
struct fc_mq *fc_mq_connect_psk(struct fc_env *e, const char *client_id, const char *user, const char *pass,
				const char *identity, const char *hexkey, int *rc);
struct fc_mq *fc_mq_connect_admin(struct fc_env *e, const char *client_id);
void fc_mq_close(struct fc_mq *m);
/* Subscribe and wait for SUBACK; returns the granted QoS (128 = refused) or -1. */
int fc_mq_subscribe(struct fc_mq *m, const char *filter, int qos);
/* Publish and (for qos>0) wait for the ack. Returns 0 or -1. */
int fc_mq_publish(struct fc_mq *m, const char *topic, const char *payload, int qos, bool retain);
/* Wait for the next received message whose topic matches `filter` (MQTT wildcards); earlier messages
 * that do not match are kept for later calls. Returns true and fills msg (free with fc_mq_msg_free). */
bool fc_mq_wait(struct fc_mq *m, const char *filter, int timeout_ms, struct fc_mq_msg *msg);
/* Like fc_mq_wait but also requires payload to contain `needle`. */
bool fc_mq_wait_payload(struct fc_mq *m, const char *filter, const char *needle, int timeout_ms,
			struct fc_mq_msg *msg);
/* How many queued (not yet consumed) messages contain `needle` in their topic or payload. Used with a
 * '#' subscriber that never consumes, to prove a secret never reached any topic. */
int fc_mq_count_containing(struct fc_mq *m, const char *needle);
/* Everything logged by the broker and httpd, and everything a spy saw: none may contain any of the
 * NULL-terminated secrets. Prints each finding; returns the number of findings. */
int fc_env_scan_secrets(struct fc_env *e, struct fc_mq *spy, const char *const *secrets);
/* Drop everything received so far. */
void fc_mq_drain(struct fc_mq *m);
bool fc_mq_connected(struct fc_mq *m);
void fc_mq_msg_free(struct fc_mq_msg *msg);

/* ---- misc ---- */
int64_t fc_mono_ms(void);  /* CLOCK_MONOTONIC in milliseconds */
void fc_sleep_ms(int ms);
int fc_free_port(void);   /* a free TCP port on 127.0.0.1 */
bool fc_port_open(int port); /* something accepts TCP connections on 127.0.0.1:port */
/* fork + exec argv[0] in its own process group, stdout/stderr appended to `log`; `preload` adds the
 * sanitizer runtime (for an uninstrumented mosquitto loading the sanitizer-built plugin). */
pid_t fc_spawn_logged(char *const argv[], const char *log, bool preload);
/* HTTP GET/POST over plain TCP to 127.0.0.1:port; returns the status code (-1 on error), body in out. */
int fc_http_request(int port, const char *method, const char *path, const char *body, char *out, size_t outlen);
/* Send a request head (+ body) on a connected socket, read the answer until the peer closes; closes fd.
 * Returns the status code (-1 on error), body in out. */
int fc_http_exchange(int fd, const char *head, size_t headlen, const char *body, size_t blen, char *out, size_t outlen);

#endif
