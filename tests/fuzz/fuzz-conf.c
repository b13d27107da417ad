/*
 * fuzz-conf - conf_read_buf() of any text, and conf_apply() of every
 * section with a table holding each value type
 */
#include <stddef.h>
#include <string.h>

#include "../../formats/conf.h"
#include "fuzz.h"

struct fuzz_conf {
	char *s;
	uint64_t u, size, dur;
	double pct;
	int b;
};

static const struct conf_key fuzz_conf_keys[] = {
    {"s", CONF_STRING, "", offsetof(struct fuzz_conf, s), 0, 0},
    {"u", CONF_UINT, "1", offsetof(struct fuzz_conf, u), 1, 1000},
    {"size", CONF_SIZE, "1M", offsetof(struct fuzz_conf, size), 0, 0},
    {"dur", CONF_DURATION, "5s", offsetof(struct fuzz_conf, dur), 1, 86400000},
    {"pct", CONF_PERCENT, "10%", offsetof(struct fuzz_conf, pct), 0, 0},
    {"b", CONF_BOOL, "no", offsetof(struct fuzz_conf, b), 0, 0},
    {NULL, CONF_STRING, NULL, 0, 0, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_file *cf;
	struct fuzz_conf t;
	struct err err;
	size_t i;

	cf = conf_read_buf("fuzz.conf", (const char *)data, size, &err);
	if (cf == NULL)
		return 0;
	for (i = 0; i < cf->n; i++) {
		memset(&t, 0, sizeof(t));
		if (conf_apply(cf, &cf->sections[i], fuzz_conf_keys, &t,
			       &err) == 0)
			fuzz_assert(t.s != NULL && t.pct >= 0 && t.pct <= 100);
		conf_free_target(fuzz_conf_keys, &t);
	}
	conf_free(cf);
	return 0;
}
