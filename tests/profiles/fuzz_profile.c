/* libFuzzer entry for the profile parser (built with -DSKYWAVE_FUZZ=ON
 * under clang): any input must load cleanly or fail with a message. */
#include "firmware-profiles/profile.h"
#include "common/xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct prof p;
	char err[700];
	char *text;

	if (size > 65536)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (prof_load_string(text, "fuzz.profile", &p, err, sizeof(err)) == 0)
		prof_free(&p);
	else if (err[0] == '\0')
		abort();
	free(text);
	return 0;
}
