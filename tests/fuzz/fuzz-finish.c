/*
 * fuzz-finish - records as the agent's sources hand them over (any text:
 * "D domain nexthop" and "R address" lines, the first octet of a line its
 * tag), added and finished with state_finish_unlisted(), tag 1 dropping
 * recipients of absent domains.  A finished state must be canonical text
 * that parses as itself; a refused one must stay usable and finish the
 * same way again.
 */
#include <string.h>

#include "../../formats/state.h"
#include "fuzz.h"

struct fuzz_finish {
	size_t dropped;
};

static void fuzz_finish_dropped(void *arg, unsigned tag, const char *addr,
				size_t alen)
{
	struct fuzz_finish *f = arg;

	fuzz_assert(tag == 1 && alen > 0 && memchr(addr, '@', alen) != NULL);
	f->dropped++;
}

/* fuzz_finish_add - each line as a record; bad records are skipped */
static void fuzz_finish_add(struct state *st, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl, *sp;
	struct err err;
	unsigned tag;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p < 4)
			continue;
		tag = (unsigned char)p[0] % 3;
		if (p[1] == 'D' && p[2] == ' ' &&
		    (sp = memchr(p + 3, ' ', (size_t)(nl - p - 3))) != NULL)
			(void)state_add_domain(st, p + 3, (size_t)(sp - p - 3),
					       sp + 1, (size_t)(nl - sp - 1),
					       tag, &err);
		else if (p[1] == 'R' && p[2] == ' ')
			(void)state_add_address(st, p + 3, (size_t)(nl - p - 3),
						tag, &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char drop[3] = {0, 1, 0};
	struct fuzz_finish f = {0};
	struct state *st = state_new(), *back;
	struct err err, err2;
	unsigned tag = 9;
	char *text;
	size_t len;
	int rc;

	fuzz_assert(st != NULL);
	fuzz_finish_add(st, data, size);
	rc = state_finish_unlisted(st, drop, 3, fuzz_finish_dropped, &f, &tag,
				   &err);
	if (rc < 0) {
		fuzz_assert(f.dropped == 0 && tag < 3);
		fuzz_assert(state_finish_unlisted(st, drop, 3, NULL, NULL, NULL,
						  &err2) < 0 &&
			    strcmp(err.msg, err2.msg) == 0);
		state_free(st);
		return 0;
	}
	text = state_text(st, &len);
	fuzz_assert(text != NULL);
	back = state_parse(text, len, &err);
	fuzz_assert(back != NULL);
	fuzz_assert(state_recipient_count(back) == state_recipient_count(st));
	state_free(back);
	free(text);
	state_free(st);
	return 0;
}
