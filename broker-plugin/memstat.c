/* Heap accounting for fakecloud.so: how many bytes the plugin itself holds, for the `health` bridge
 * request and the benchmarks (docs/BENCHMARKS.md). The plugin is linked with -Wl,--wrap for malloc,
 * calloc, realloc, free, strdup and strndup (CMakeLists.txt), so every allocation made by the plugin's own
 * code passes through here; cJSON's allocations are routed here with cJSON_InitHooks (plugin.c). SQLite
 * keeps its own count (sqlite3_memory_used). Mosquitto's allocations, including the retained messages
 * the plugin publishes, are not the plugin's heap and are not counted.
 *
 * The count is the usable size of each live block (malloc_usable_size), so it includes the allocator's
 * rounding but not its per-block header. A block allocated elsewhere and freed by the plugin would make
 * the count too low; the plugin does not do that, and test_memstat checks that loading and removing
 * devices returns the count to where it was. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memstat.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

#define FC_HIDDEN __attribute__((visibility("hidden")))
FC_HIDDEN void *__wrap_malloc(size_t n);
FC_HIDDEN void *__wrap_calloc(size_t n, size_t size);
FC_HIDDEN void *__wrap_realloc(void *p, size_t n);
FC_HIDDEN void __wrap_free(void *p);
FC_HIDDEN char *__wrap_strdup(const char *s);
FC_HIDDEN char *__wrap_strndup(const char *s, size_t n);

static int64_t live_bytes;

static void count(int64_t delta)
{
	__atomic_fetch_add(&live_bytes, delta, __ATOMIC_RELAXED);
}

void *__wrap_malloc(size_t n)
{
	void *p = __real_malloc(n);
	if (p)
		count((int64_t)malloc_usable_size(p));
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p = __real_calloc(n, size);
	if (p)
		count((int64_t)malloc_usable_size(p));
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	int64_t old = p ? (int64_t)malloc_usable_size(p) : 0;
	void *q = __real_realloc(p, n);
	if (q)
		count((int64_t)malloc_usable_size(q) - old);
	else if (p && n == 0)
		count(-old); /* glibc: realloc(p, 0) frees p */
	return q;
}

void __wrap_free(void *p)
{
	if (!p)
		return;
	count(-(int64_t)malloc_usable_size(p));
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = __wrap_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = __wrap_malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = 0;
	}
	return p;
}

void *fc_memstat_malloc(size_t n) { return __wrap_malloc(n); }
void fc_memstat_free(void *p) { __wrap_free(p); }

int64_t fc_memstat_heap_bytes(void)
{
	int64_t v = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
	return v < 0 ? 0 : v;
}
