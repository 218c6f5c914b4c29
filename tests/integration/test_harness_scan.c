/* The harness's own secret scan (fc_env_cleanup) is proven to work: in a child process a stored secret is
 * published on purpose — in a payload after a broker restart, and in a topic name — and cleanup must fail
 * that child with exit 1 and messages naming the test, the topic and the kind of secret, without ever
 * printing the secret. A second child publishes nothing secret (but the same restart) and must pass. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/harness.h"
#include "unit/t.h"

#define UUID "hs0a1b2c3d4e5f60"
#define AUTH "Hs7kQ2mX9pL4vN8cR3tW6yB1zF5gJ0dA" /* the secrets (authKeys) */
#define UUID2 "hs0a1b2c3d4e5f61"
#define AUTH2 "Qp3nW8xK2mR7tY5vB9cL4zH6jD1fG0sA"

/* Runs in the child: returns only when cleanup did not fail it. */
static void child(bool leak)
{
	struct fc_env e;
	char out[4096];
	if (fc_env_init(&e, "harness_scan", NULL) != 0)
		_exit(3);
	if (fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " UUID " --auth-key " AUTH) != 0 ||
	    fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " UUID2 " --auth-key " AUTH2) != 0) {
		fprintf(stderr, "device add: %s\n", out);
		_exit(3);
	}
	if (fc_env_start_broker(&e) != 0)
		_exit(3);
	/* The recorder must follow a restart: everything below goes to the second broker. */
	if (fc_env_stop_broker(&e) != 0 || fc_env_start_broker(&e) != 0)
		_exit(3);
	struct fc_mq *admin = fc_mq_connect_admin(&e, "hs-admin");
	if (!admin)
		_exit(3);
	if (leak) {
		if (fc_mq_publish(admin, "test/leak/payload", "before " AUTH " after", 1, false) != 0 ||
		    fc_mq_publish(admin, "test/" AUTH2 "/name", "nothing here", 1, false) != 0)
			_exit(3);
	} else {
		/* Almost the secret: a prefix does not count. */
		if (fc_mq_publish(admin, "test/clean", "Hs7kQ2mX9pL4vN8c", 1, false) != 0)
			_exit(3);
	}
	fc_mq_close(admin);
	fc_env_cleanup(&e); /* exit(1) on a finding */
	_exit(0);
}

/* Fork the child with stderr into a file; its exit status, stderr text into err. */
static int run_child(bool leak, char *err, size_t cap)
{
	char path[] = "/tmp/fc-harness-scan-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 2);
		dup2(fd, 1);
		close(fd);
		child(leak);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	ssize_t n = pread(fd, err, cap - 1, 0);
	err[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	static char err[65536];

	int rc = run_child(true, err, sizeof err);
	CHECK_INT(rc, 1);
	if (rc != 1 || getenv("FC_VERBOSE"))
		fprintf(stderr, "--- leaking child:\n%s---\n", err);
	CHECK(strstr(err, "harness: harness_scan: secret 'authKey' of tuya device") != NULL);
	CHECK(strstr(err, "first in the payload on topic 'test/leak/payload'") != NULL);
	CHECK(strstr(err, "first in the topic name 'test/<secret>/name'") != NULL);
	CHECK(strstr(err, "harness: FAIL: harness_scan:") != NULL);
	CHECK(strstr(err, AUTH) == NULL && strstr(err, AUTH2) == NULL); /* never the secret itself */

	rc = run_child(false, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "--- clean child:\n%s---\n", err);
	CHECK(strstr(err, "harness: FAIL") == NULL);
	return t_done();
}
