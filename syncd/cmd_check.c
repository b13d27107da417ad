/*
 * cmd_check - "mxsyncd check ADDRESS": what the maps answer for it
 *
 * Folds ADDRESS as the maps are keyed, finds the origin that serves its
 * domain and looks it up as Postfix would (formats/lookup: the address,
 * then without its extension, then the catch-all), with the delimiter
 * "postconf" prints.  Exit codes: 0 accept, 1 reject (domain not served
 * or recipient unknown), 2 for a bad config or address, 75 when the store
 * cannot be read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "apply.h"
#include "cmd.h"

/* cmd_check - "check ADDRESS": what the maps answer Postfix for it */
int cmd_check(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	const struct store_origin *o, *best;
	char addr[NORM_BUF_SIZE], match[NORM_BUF_SIZE];
	const char *at, *delim;
	size_t alen, count;
	struct err err;
	const char *address = argv[0];
	int rc = EXITCODE_TEMP, ok;

	(void)argc;
	if (cmd_setup(&sd, ctx->conf, 0) < 0)
		return EXITCODE_USAGE;
	if (norm_address(address, strlen(address), addr, sizeof(addr), &alen,
			 &err) < 0) {
		log_error("bad address %s: %s", address, err.msg);
		rc = EXITCODE_USAGE;
		goto out;
	}
	if (cmd_load_store(&sd) < 0)
		goto out;
	at = memrchr(addr, '@', alen);
	o = store_owner(sd.store, at + 1, alen - (size_t)(at + 1 - addr), NULL);
	if (o == NULL) {
		printf("reject %s: relay access denied (domain not served)\n",
		       address);
		rc = EXITCODE_REFUSED;
		goto out;
	}
	delim = cmd_postconf_delimiter(&sd, &best, &count);
	ok = lookup_accepts(o->st, addr, delim != NULL ? delim : "", NULL,
			    match, sizeof(match), &err);
	if (ok < 0) {
		log_error("bad address %s: %s", address, err.msg);
		rc = EXITCODE_USAGE;
	} else if (ok == 1) {
		printf("accept %s (matched %s; origin %s, serial %" PRIu64
		       ", key %s)\n",
		       address, match, o->m.origin, o->m.serial, o->m.key_id);
		rc = EXITCODE_OK;
	} else {
		printf("reject %s: user unknown in relay recipient table "
		       "(domain %s from origin %s, serial %" PRIu64 ")\n",
		       address, at + 1, o->m.origin, o->m.serial);
		rc = EXITCODE_REFUSED;
	}
out:
	apply_fini(&sd);
	return rc;
}
