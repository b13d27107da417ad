/*
 * verify - compare an export with what the primary's own Postfix accepts
 *
 * Owns the order of a run (verify.h): postconf first (verify_postconf.c),
 * the candidates (verify_cand.c), the domain lists' tables asked, the
 * domains classified, the crossed candidates added, every address table
 * asked (verify_postmap.c), then both decisions compared
 * (verify_decide.c); and verify_background(), which starts a run as a
 * fresh process for the daemon.  Failures: postconf failing or a list it
 * names unreadable is VERIFY_CONFIG; a postmap that fails, or out of
 * memory, is VERIFY_DOWN.  Nothing is written anywhere but to the memory
 * files the programs run on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/lookup.h"
#include "verify_impl.h"

extern char **environ;

static void verify_ctx_free(struct verify_ctx *x)
{
	size_t i, j;

	for (i = 0; i < VP_COUNT; i++)
		free(x->val[i]);
	for (i = 0; i < x->nt; i++) {
		free(x->t[i].name);
		free(x->t[i].shown);
		free(x->t[i].found);
		verify_set_free(&x->t[i].keys);
	}
	free(x->t);
	for (i = 0; i < VP_NMAPS; i++)
		free(x->maps[i].t);
	for (i = 0; i < VERIFY_NLISTS; i++) {
		for (j = 0; j < x->lists[i].n; j++)
			free(x->lists[i].it[j].lit);
		free(x->lists[i].it);
	}
	verify_set_free(&x->domains);
	verify_set_free(&x->cands);
	verify_set_free(&x->folded);
	verify_set_free(&x->locals);
	free(x->dclass);
	free(x->c);
}

int verify_run(const struct state *st, const struct verify_opts *o,
	       struct verify_result *r, struct err *err)
{
	struct verify_ctx x;
	struct timespec t0, t1;
	unsigned char rb[3];
	size_t i;
	int rc = VERIFY_DOWN;

	memset(&x, 0, sizeof(x));
	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r->when = time(NULL);
	x.o = o;
	x.st = st;
	if (sodium_init() < 0) {
		err_set(err, "libsodium: initialisation failed");
		goto out;
	}
	randombytes_buf(rb, sizeof(rb));
	x.ext[0] = 'x';
	sodium_bin2hex(x.ext + 1, sizeof(x.ext) - 1, rb, sizeof(rb));
	if (verify_postconf_read(&x, err) < 0) {
		rc = VERIFY_CONFIG;
		goto out;
	}
	snprintf(r->primary_delimiter, sizeof(r->primary_delimiter), "%s",
		 x.val[VP_DELIM]);
	verify_cand_delims(&x);
	if (!lookup_delimiter_same(x.val[VP_DELIM],
				   o->delimiter ? o->delimiter : ""))
		snprintf(r->warning, sizeof(r->warning),
			 "the primary's recipient_delimiter is '%s', "
			 "agent.conf's is '%s'",
			 x.val[VP_DELIM], o->delimiter ? o->delimiter : "");
	if (verify_postconf_parse(&x, err) < 0) {
		rc = VERIFY_CONFIG;
		goto out;
	}
	if (verify_cand_collect(&x, st, err) < 0)
		goto out;
	/* first the domain lists, then the addresses */
	for (i = 0; i < x.domains.n; i++)
		if (verify_decide_list_keys(&x, verify_set_key(&x.domains, i)) <
		    0) {
			err_set(err, "out of memory");
			goto out;
		}
	if (verify_postmap_ask(&x, err) < 0)
		goto out;
	if ((x.dclass = calloc(x.domains.n + 1, 1)) == NULL) {
		err_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < x.domains.n; i++)
		x.dclass[i] = (unsigned char)verify_decide_classify(
		    &x, verify_set_key(&x.domains, i));
	if (verify_cand_cross(&x, err) < 0)
		goto out;
	/* the crossing added no domain: dclass covers every candidate */
	if (verify_decide_assign(&x, err) < 0 ||
	    verify_postmap_ask(&x, err) < 0)
		goto out;
	if (verify_decide_compare(&x, st, r, err) < 0 ||
	    verify_decide_stats(&x, r, err) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	rc = 0;
out:
	verify_ctx_free(&x);
	if (rc < 0)
		verify_result_clear(r);
	return rc;
}

int verify_background(const char *config_path, int *fd_r, pid_t *pid_r,
		      struct err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, dfl;
	char *argv[] = {(char *)"mxsync-agent", (char *)"-c",
			(char *)config_path,	(char *)"verify",
			(char *)"--json",	NULL};
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_sys(err, "pipe2");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	/* the daemon blocks the signals it reads from a signalfd */
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETSIGDEF);
	/* a fresh process of the same program, not a fork of the daemon */
	rc = posix_spawn(pid_r, "/proc/self/exe", &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		errno = rc;
		return err_sys(err, "spawn(mxsync-agent verify)");
	}
	*fd_r = fds[0];
	return 0;
}
