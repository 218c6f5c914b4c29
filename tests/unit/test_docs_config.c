/* docs/CONFIG.md documents every configuration key this build knows (core and vendor keys), so the
 * page cannot fall behind the code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/vendor.h"
#include "unit/t.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

static void check_table(const char *doc, const struct fc_config_key *k)
{
	for (; k->key; k++) {
		char want[128];
		snprintf(want, sizeof want, "`%s.%s`", k->section, k->key);
		bool found = strstr(doc, want) != NULL;
		CHECK(found);
		if (!found)
			fprintf(stderr, "docs/CONFIG.md does not document %s\n", want);
	}
}

int main(void)
{
	const char *src = getenv("FC_SOURCE_DIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/CONFIG.md", src ? src : ".");
	char *doc = slurp(path);
	CHECK(doc != NULL);
	if (!doc)
		return t_done();
	check_table(doc, fc_core_config_keys);
	for (size_t i = 0; fc_vendors[i]; i++)
		if (fc_vendors[i]->config_keys && strcmp(fc_vendors[i]->name, "fctest") != 0)
			check_table(doc, fc_vendors[i]->config_keys);
	free(doc);
	return t_done();
}
