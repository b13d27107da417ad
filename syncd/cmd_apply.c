/*
 * cmd_apply - "mxsyncd apply SNAPSHOT-FILE": install a snapshot file
 *
 * The file goes through every check of a push and the same install
 * (syncd/apply), under the state_dir lock, as the owner of state_dir.
 * Exit codes: 0 installed, 1 refused (the refusal is logged as a push's
 * would be), 2 for a bad config or user, 75 busy, locked or not stored.
 * When the install was refused, the maps are checked against the store.
 */
#include <inttypes.h>
#include <stdio.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "apply.h"
#include "cmd.h"
#include "verify.h"

/* cmd_apply - "apply SNAPSHOT-FILE": verify and install as a push */
int cmd_apply(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	struct push p;
	struct apply_result res;
	struct verdict v;
	char hex[2 * STATE_HASH_LEN + 1];
	const char *path = argv[0];
	int lock_fd = -1, rc;

	(void)argc;
	rc = cmd_writer(&sd, ctx, "apply", &lock_fd);
	if (rc != EXITCODE_OK)
		return rc;
	/*
	 * An install replaces all three maps, so the O(all recipients) check
	 * of the maps against the store is needed only when none happened.
	 */
	if (apply_file(&sd, path, &p, &res, &v) < 0) {
		log_error("%s: refused (%d %s): %s", path, v.status, v.reason,
			  v.msg);
		rc = v.status == 503 ? EXITCODE_TEMP : EXITCODE_REFUSED;
		verify_push_clear(&p);
		if (cmd_check_maps(&sd) < 0)
			rc = EXITCODE_TEMP;
		goto out;
	}
	manifest_hex(res.state_hash, STATE_HASH_LEN, hex);
	printf("installed origin %s serial %" PRIu64 ": %zu domains, %zu "
	       "recipients, state %s (%" PRIu64 " ms)\n",
	       p.m.origin, res.serial, res.domains, res.recipients, hex,
	       res.install_ms);
	log_debug("install: checks %" PRIu64 " ms, maps %" PRIu64 " ms, state "
		  "%" PRIu64 " ms",
		  res.verify_ms, res.maps_ms, res.store_ms);
	verify_push_clear(&p);
	rc = EXITCODE_OK;
out:
	cmd_writer_end(&sd, lock_fd);
	return rc;
}
