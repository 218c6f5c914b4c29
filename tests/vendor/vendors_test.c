/* The vendor list of test builds: every production vendor plus the test vendor. */
#include "core/vendor.h"

extern const struct fc_vendor meross_vendor;
extern const struct fc_vendor tuya_vendor;

extern const struct fc_vendor fctest_vendor;

const struct fc_vendor *const fc_vendors[] = {
	&meross_vendor,
	&tuya_vendor,
	&fctest_vendor,
	NULL,
};
