/* The vendor list of the production build. Adding a vendor = its folder under vendors/ plus one line
 * here (and in tests/vendor/vendors_test.c so the test build has it too). */
#include "core/vendor.h"

extern const struct fc_vendor meross_vendor;
extern const struct fc_vendor tuya_vendor;

const struct fc_vendor *const fc_vendors[] = {
	&meross_vendor,
	&tuya_vendor,
	NULL,
};
