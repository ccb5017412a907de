/* ept_preload: prints the LD_PRELOAD value that loads the library of this
 * build ($EPHPORT_TOP/$B/libephport.so): its path, preceded by the
 * sanitizer runtime it was built with, if any.  The rule is ept_preload()
 * in tests/ephtest.h, shared by the C tests; tests/helpers/lib.sh runs this
 * program so that the test scripts use the same rule. */
#include "ephtest.h"

int main(void)
{
	if (access(ept_libpath(), R_OK) != 0) {
		fprintf(stderr, "ept_preload: %s: %s\n", ept_libpath(), strerror(errno));
		return 1;
	}
	printf("%s\n", ept_preload());
	return 0;
}
