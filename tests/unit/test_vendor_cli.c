/* fc_cli_parse: the option parser vendor CLI hooks share. */
#include <stdio.h>
#include <string.h>

#include "core/vendor.h"
#include "unit/t.h"

static int parse(char **argv, int argc, const char **a, const char **b, char *err, size_t errlen)
{
	FILE *e = fmemopen(err, errlen, "w");
	struct fc_cli cli = {.out = stdout, .err = e};
	const struct fc_cli_opt opts[] = {{"alpha", a}, {"beta", b}};
	int rc = fc_cli_parse(&cli, "thing", argc, argv, opts, 2);
	fclose(e);
	return rc;
}

int main(void)
{
	char err[256];
	const char *a = NULL, *b = NULL;
	char *ok[] = {"thing", "--alpha", "1", "--beta=two", NULL};
	CHECK_INT(parse(ok, 4, &a, &b, err, sizeof err), 0);
	CHECK_STR(a, "1");
	CHECK_STR(b, "two");
	a = b = NULL;
	char *unknown[] = {"thing", "--gamma", "x", NULL};
	memset(err, 0, sizeof err);
	CHECK_INT(parse(unknown, 3, &a, &b, err, sizeof err), 2);
	CHECK(strstr(err, "thing: unknown option '--gamma'") != NULL);
	char *novalue[] = {"thing", "--alpha", NULL};
	memset(err, 0, sizeof err);
	CHECK_INT(parse(novalue, 2, &a, &b, err, sizeof err), 2);
	CHECK(strstr(err, "option '--alpha' needs a value") != NULL);
	char *stray[] = {"thing", "--alpha", "1", "extra", NULL};
	memset(err, 0, sizeof err);
	CHECK_INT(parse(stray, 4, &a, &b, err, sizeof err), 2);
	CHECK(strstr(err, "thing: unexpected argument 'extra'") != NULL);
	return t_done();
}
