/*
 * verify_proc - running postconf and postmap for verify (verify_impl.h)
 *
 * A program runs with its standard input on a memory file (or /dev/null)
 * and its standard output and error on memory files (memfd), so a batch
 * of any size needs no pipe loop and several programs can run at once;
 * the caller starts them all, then collects each with
 * verify_proc_finish().  Failures: memfd_create or posix_spawnp failing,
 * a program that exits non-zero (its last line on standard error is the
 * message), 127 (it could not be run) or a signal.  Nothing is written
 * anywhere but to those memory files.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../formats/fileio.h"
#include "verify_impl.h"

extern char **environ;

/* verify_proc_memfd - an anonymous memory file */
int verify_proc_memfd(struct err *err)
{
	int fd = memfd_create("mxsync-verify", MFD_CLOEXEC);

	if (fd < 0)
		err_sys(err, "memfd_create");
	return fd;
}

/*
 * verify_proc_argv - argv[0] = prog, then "-c DIR" when the run names a
 * Postfix configuration directory; the count of arguments set
 */
size_t verify_proc_argv(const struct verify_ctx *x, const char *prog,
			char *argv[])
{
	size_t n = 0;

	argv[n++] = (char *)prog;
	if (x->o->postfix_dir != NULL && x->o->postfix_dir[0] != '\0') {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)x->o->postfix_dir;
	}
	return n;
}

/*
 * verify_proc_spawn - start argv[0] (found in PATH) with standard input from
 * in (a memory file at offset 0, or -1 for /dev/null) and its output on
 * memory files
 */
int verify_proc_spawn(char *const argv[], int in, struct verify_proc *p,
		      struct err *err)
{
	posix_spawn_file_actions_t fa;
	int rc;

	p->pid = -1;
	p->out = p->errfd = -1;
	if ((p->out = verify_proc_memfd(err)) < 0 ||
	    (p->errfd = verify_proc_memfd(err)) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						 0);
	posix_spawn_file_actions_adddup2(&fa, p->out, 1);
	posix_spawn_file_actions_adddup2(&fa, p->errfd, 2);
	rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		p->pid = -1;
		errno = rc;
		return err_sys(err, "%s", argv[0]);
	}
	return 0;
}

/* verify_proc_read - the whole memory file, NUL-terminated (caller frees) */
static char *verify_proc_read(int fd, const char *what, size_t *len_r,
			      struct err *err)
{
	char *b = NULL;
	size_t len = 0;

	if (fileio_read_fd(fd, what, SIZE_MAX - 1, &b, &len, err) < 0)
		return NULL;
	if (len_r != NULL)
		*len_r = len;
	return b;
}

/* verify_proc_last_line - the last non-empty line of text, in place */
const char *verify_proc_last_line(char *text)
{
	char *p = text + strlen(text), *start;

	while (p > text && (p[-1] == '\n' || p[-1] == '\r'))
		*--p = '\0';
	start = strrchr(text, '\n');
	return start != NULL ? start + 1 : text;
}

/*
 * verify_proc_finish - wait for p; 0 with its output (caller frees) when it
 * exited 0 (or 1 without a fatal error, when notfound_ok: "postmap -q"
 * exits 1 when it found nothing), else -1 with its last error line
 */
int verify_proc_finish(struct verify_proc *p, char **out_r, size_t *len_r,
		       int notfound_ok, struct err *err)
{
	int status = 0, rc = -1;
	char *e = NULL;
	struct err e2; /* standard error unreadable: the exit status tells */

	*out_r = NULL;
	if (p->pid <= 0) {
		/* never started: the spawn said why */
		if (p->out >= 0)
			close(p->out);
		if (p->errfd >= 0)
			close(p->errfd);
		p->out = p->errfd = -1;
		return -1;
	}
	while (waitpid(p->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			err_sys(err, "waitpid(%s)", p->what);
			goto out;
		}
	}
	p->pid = -1;
	if (notfound_ok && WIFEXITED(status) && WEXITSTATUS(status) == 1) {
		e = verify_proc_read(p->errfd, p->what, NULL, &e2);
		if (e != NULL && strstr(e, "fatal:") == NULL)
			status = 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if ((*out_r = verify_proc_read(p->out, p->what, len_r, err)) !=
		    NULL)
			rc = 0;
		goto out;
	}
	if (e == NULL)
		e = verify_proc_read(p->errfd, p->what, NULL, &e2);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		err_set(err, "%s: cannot run the program", p->what);
	else if (e != NULL && *verify_proc_last_line(e) != '\0')
		err_set(err, "%s: %s", p->what, verify_proc_last_line(e));
	else if (WIFEXITED(status))
		err_set(err, "%s: exit %d", p->what, WEXITSTATUS(status));
	else
		err_set(err, "%s: killed by signal %d", p->what,
			WTERMSIG(status));
out:
	free(e);
	if (p->out >= 0)
		close(p->out);
	if (p->errfd >= 0)
		close(p->errfd);
	p->out = p->errfd = -1;
	return rc;
}
