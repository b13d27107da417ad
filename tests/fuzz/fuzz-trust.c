/*
 * fuzz-trust - trust_load() of any trusted-keys file; every key it accepts
 * has an origin and at least one domain, and is found by its id
 */
#include "../../keys/trust.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trust *t;
	struct err err;
	char path[64];
	size_t i;
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	t = trust_load(path, &err);
	for (i = 0; t != NULL && i < t->n; i++) {
		fuzz_assert(t->keys[i].origin[0] != '\0');
		fuzz_assert(t->keys[i].ndomains > 0);
		fuzz_assert(trust_find(t, t->keys[i].id) == &t->keys[i]);
	}
	trust_free(t);
	close(fd);
	return 0;
}
