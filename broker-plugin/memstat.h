/* Live heap bytes of fakecloud.so's own allocations (see memstat.c). */
#ifndef FC_MEMSTAT_H
#define FC_MEMSTAT_H

#include <stddef.h>
#include <stdint.h>

/* Counting allocator for libraries the plugin drives (cJSON_InitHooks). */
void *fc_memstat_malloc(size_t n);
void fc_memstat_free(void *p);
int64_t fc_memstat_heap_bytes(void);

#endif
