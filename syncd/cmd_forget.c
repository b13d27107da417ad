/*
 * cmd_forget - "mxsyncd forget ORIGIN": remove an origin on purpose
 *
 * Removes the origin's stored files (quarantined ones too) and rebuilds
 * the maps without it (syncd/apply), under the state_dir lock, as the
 * owner of state_dir.  Exit codes: 0 forgotten, 1 when nothing of that origin
 * is stored, 2 for a bad config or user, 75 when it cannot lock or write.
 */
#include <stdio.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "apply.h"
#include "cmd.h"

/* cmd_forget - remove an origin on purpose; the maps follow */
int cmd_forget(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	struct err err;
	size_t files;
	const char *origin = argv[0];
	int lock_fd = -1, rc;

	(void)argc;
	rc = cmd_writer(&sd, ctx, "forget", &lock_fd);
	if (rc != EXITCODE_OK)
		return rc;
	rc = EXITCODE_TEMP;
	if (apply_forget(&sd, origin, &files, &err) < 0) {
		log_error("forget %s: %s", origin, err.msg);
		goto out;
	}
	if (files == 0) {
		log_error("forget: no stored state of origin %s", origin);
		rc = EXITCODE_REFUSED;
		goto out;
	}
	printf("forgot origin %s (%zu files); maps rebuilt without it\n",
	       origin, files);
	rc = EXITCODE_OK;
out:
	cmd_writer_end(&sd, lock_fd);
	return rc;
}
