/* Minimal test helpers: CHECK* macros count passes and failures; t_done() prints the closing
 * "N passed, N failed" line and returns the exit code. */
#ifndef FC_T_H
#define FC_T_H

#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (cond) {                                                              \
			t_passed++;                                                      \
		} else {                                                                 \
			t_failed++;                                                      \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
		}                                                                        \
	} while (0)

#define CHECK_INT(a, b)                                                                                   \
	do {                                                                                              \
		long long _a = (long long)(a), _b = (long long)(b);                                      \
		if (_a == _b) {                                                                           \
			t_passed++;                                                                       \
		} else {                                                                                  \
			t_failed++;                                                                       \
			fprintf(stderr, "FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
				_a, _b);                                                                  \
		}                                                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                                                 \
	do {                                                                                            \
		const char *_a = (a), *_b = (b);                                                        \
		if (_a && _b && strcmp(_a, _b) == 0) {                                                  \
			t_passed++;                                                                     \
		} else {                                                                                \
			t_failed++;                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, \
				#b, _a ? _a : "(null)", _b ? _b : "(null)");                           \
		}                                                                                       \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
