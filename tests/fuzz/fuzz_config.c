/* Fuzz target: the configuration parser on arbitrary bytes (core keys). Beyond "no crash" it checks the
 * parser's promises: a failure gives one line naming the input, and a success writes back (with
 * fc_config_write_default) into a text that parses to the same values. */
#include "core/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct fc_config cfg, again;
static char text[512 * 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	fc_config_init(&cfg, NULL);
	if (fc_config_parse(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof err) != 0) {
		if (strncmp(err, "fuzz.conf:", 10) != 0 || strchr(err, '\n') || strchr(err, '\r'))
			abort();
		return 0;
	}
	if (fc_config_write_default(&cfg, text, sizeof text) != 0)
		abort();
	fc_config_init(&again, NULL);
	if (fc_config_parse(&again, "written", text, strlen(text), err, sizeof err) != 0)
		abort();
	for (size_t i = 0; i < cfg.n; i++)
		if (strcmp(cfg.e[i].value, again.e[i].value) != 0)
			abort();
	return 0;
}
