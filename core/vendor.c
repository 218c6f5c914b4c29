/* Vendor list helpers. */
#include "core/vendor.h"

#include <pthread.h>
#include <string.h>

const struct fc_vendor *fc_vendor_find(const struct fc_vendor *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i]->name, name) == 0)
			return list[i];
	return NULL;
}

#define MAX_VENDORS 32
static const struct fc_config_key *tables[MAX_VENDORS + 1];
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;

const struct fc_config_key *const *fc_vendor_config_tables(const struct fc_vendor *const *list)
{
	pthread_mutex_lock(&tables_mu);
	size_t n = 0;
	for (size_t i = 0; list && list[i] && n < MAX_VENDORS; i++)
		if (list[i]->config_keys)
			tables[n++] = list[i]->config_keys;
	tables[n] = NULL;
	pthread_mutex_unlock(&tables_mu);
	return tables;
}
