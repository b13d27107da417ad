/*
 * fuzz-textmap - a source file as a Postfix text map and as a plain list;
 * every key handed on lies within the input and holds no NUL
 */
#include <string.h>

#include "../../formats/textmap.h"
#include "fuzz.h"

struct fuzz_textmap {
	const uint8_t *data;
	size_t size;
};

static int fuzz_textmap_rec(void *ctx, const char *key, size_t klen,
			    const char *val, size_t vlen, const char *file,
			    unsigned line, struct err *err)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)err;
	fuzz_assert(klen > 0 && memchr(key, '\0', klen) == NULL);
	fuzz_assert(val == NULL || memchr(val, '\0', vlen) == NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_textmap ctx = {data, size};
	struct err err;

	(void)textmap_parse_buf("fuzz", (const char *)data, size,
				TEXTMAP_POSTMAP, fuzz_textmap_rec, &ctx, &err);
	(void)textmap_parse_buf("fuzz", (const char *)data, size, TEXTMAP_LIST,
				fuzz_textmap_rec, &ctx, &err);
	return 0;
}
