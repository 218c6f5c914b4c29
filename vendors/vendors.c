/* The vendor list of the production build. Adding a vendor = its folder under vendors/ plus one line
 * here (and in tests/vendor/vendors_test.c so the test build has it too). */
#include "core/vendor.h"

const struct fc_vendor *const fc_vendors[] = {
	NULL,
};
