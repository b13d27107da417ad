/*
 * fuzz-snapshot - snapshot_read() of any file (magic line, manifest line,
 * signature line, body); what it returns must lie within the file
 */
#include <string.h>

#include "../../formats/snapshot.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot s;
	struct err err;
	char path[64];
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	if (snapshot_read(path, 1 << 20, &s, &err) == 0) {
		fuzz_assert(s.manifest_len + s.body_len < size);
		fuzz_assert(
		    s.body_len == 0 ||
		    memcmp(s.body, data + size - s.body_len, s.body_len) == 0);
		snapshot_clear(&s);
	}
	close(fd);
	return 0;
}
