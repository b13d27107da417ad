/*
 * cmd_push - "mxsync-agent push [--allow-shrink] [--full]": export once
 * and push to every backup, printing each answer
 *
 * Takes state_dir's lock (a running daemon holds it: 75).  Exits 1 when a
 * backup refused, 75 when one was unreachable or a source down, 2 on
 * usage, no backup or an unusable key.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../formats/atomic.h"
#include "../formats/exitcode.h"
#include "../formats/manifest.h"
#include "../keys/key.h"
#include "cmd.h"
#include "push.h"
#include "sync.h"

int cmd_push(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow-shrink", no_argument, NULL, 'a'},
	    {"full", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct state *st = NULL;
	struct ledger *l = NULL;
	struct key_secret *sk = NULL;
	struct pusher *p = NULL;
	struct sync s;
	struct push_result res;
	struct err err;
	int shrink = 0, full = 0, c, rc, refused = 0, unreachable = 0;
	int lockfd = -1;
	size_t i;
	long r;

	memset(&s, 0, sizeof(s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			shrink = 1;
		else if (c == 'f')
			full = 1;
		else {
			cmd_usage();
			return EXITCODE_USAGE;
		}
	}
	if (optind != argc) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	if (cfg->nbackups == 0) {
		fprintf(stderr, "mxsync-agent: %s: no [backup NAME] section\n",
			cfg->path);
		return EXITCODE_USAGE;
	}
	if ((sk = key_load_secret(cfg->key, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EXITCODE_USAGE;
	}
	if ((lockfd = ledger_lock(cfg->state_dir, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		key_secret_free(sk);
		return EXITCODE_TEMP;
	}
	rc = EXITCODE_TEMP;
	if (atomic_cleanup_dir(cfg->state_dir, &err) < 0)
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
	if ((rc = cmd_export_settled(cfg, &st, &err)) < 0) {
		fprintf(stderr,
			"mxsync-agent: export failed, nothing pushed: "
			"%s\n",
			err.msg);
		rc = cmd_source_exit(rc);
		goto out;
	}
	cmd_warn_unlisted(cfg);
	rc = EXITCODE_TEMP;
	if ((l = ledger_load(cfg->state_dir, &err)) == NULL ||
	    (p = push_new(&err)) == NULL ||
	    sync_init(&s, cfg, sk, l, p, &err) < 0) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		goto out;
	}
	if (!shrink && (rc = cmd_export_guard(cfg, l, st)) != 0) {
		fprintf(stderr, "mxsync-agent: nothing pushed\n");
		goto out;
	}
	rc = EXITCODE_TEMP;
	ledger_sweep_bases(l);
	s.allow_shrink = shrink;
	s.force_full = full;
	sync_set_state(&s, st);
	st = NULL;
	for (i = 0; i < s.n; i++)
		if ((c = sync_start(&s, i, full, &err)) < 0) {
			fprintf(stderr, "mxsync-agent: backup %s: %s\n",
				s.b[i].conf->name, err.msg);
			/* a limit this backup can never accept: the others go
			 * on */
			if (c != SYNC_NEVER)
				goto out;
			refused++;
		}
	while (push_running(p) > 0) {
		if (push_wait(p, NULL, 0, 1000, &err) < 0) {
			fprintf(stderr, "mxsync-agent: %s\n", err.msg);
			goto out;
		}
		while ((r = sync_finish(&s, &res)) != -1) {
			if (r < 0)
				continue;
			if (res.kind == PUSH_OK)
				printf("%s: serial %" PRIu64 " acknowledged "
				       "(%s, %" PRIu64 " body bytes)\n",
				       s.b[r].conf->name, s.b[r].lb->serial,
				       s.b[r].sent_kind == MANIFEST_DELTA
					   ? "delta"
					   : "full",
				       res.bytes);
			else {
				fprintf(stderr,
					"mxsync-agent: backup %s %s "
					"serial %" PRIu64 ": %s\n",
					s.b[r].conf->name,
					push_kind_name(res.kind),
					s.b[r].sent_serial, res.msg);
				if (res.kind == PUSH_UNREACHABLE)
					unreachable++;
				else
					refused++;
			}
		}
	}
	rc = refused	   ? EXITCODE_REFUSED
	     : unreachable ? EXITCODE_TEMP
			   : EXITCODE_OK;
	/* The acknowledged state is the next push's delta base. */
	if (sync_save_base(&s, &err) < 0)
		fprintf(stderr,
			"mxsync-agent: cannot store the delta base: "
			"%s\n",
			err.msg);
out:
	sync_clear(&s);
	push_free(p);
	ledger_free(l);
	state_free(st);
	key_secret_free(sk);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
