/*
 * verify_postmap - asking the primary's tables through postmap
 *
 * verify_postmap_ask() runs one "postmap [-c DIR] -q - TABLE" per table
 * that has keys not yet asked, all at the same time, each reading its
 * batch of keys (a line each) from a memory file; a key counts as found
 * only with a non-empty value, as Postfix reads an empty one as not found.
 * "postmap -q" exiting 1 without a fatal error means nothing was found.
 * Any other failure (database down, file unreadable, the program missing)
 * is VERIFY_DOWN with the table's name and Postfix's last error line; the
 * other postmaps are still waited for.  verify_postmap_list() is
 * "postmap -s" of a table that can be listed; there a failure is no error,
 * only fewer candidates.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/fileio.h"
#include "verify_impl.h"

/* verify_postmap_write_keys - the keys, a line each, into a memory file */
static int verify_postmap_write_keys(int fd, const struct verify_set *s,
				     struct err *err)
{
	char *b = malloc(s->len + 1);
	size_t i;
	int rc;

	if (b == NULL)
		return err_set(err, "out of memory");
	memcpy(b, s->buf, s->len);
	for (i = 0; i < s->len; i++)
		if (b[i] == '\0')
			b[i] = '\n';
	rc = fileio_write_all(fd, "memfd", b, s->len, err);
	free(b);
	return rc;
}

/*
 * verify_postmap_next - the next "key<TAB>value" line of postmap's output
 * at *pos, split in place; 0 at the end (lines without a TAB are skipped)
 */
int verify_postmap_next(char **pos, char **key_r, char **value_r)
{
	char *line, *nl, *tab;

	while (**pos != '\0') {
		line = *pos;
		nl = strchr(line, '\n');
		if (nl != NULL) {
			*nl = '\0';
			*pos = nl + 1;
		} else {
			*pos = line + strlen(line);
		}
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		*key_r = line;
		*value_r = tab + 1;
		return 1;
	}
	return 0;
}

/* verify_postmap_ask - one postmap per table with keys, all at once */
int verify_postmap_ask(struct verify_ctx *x, struct err *err)
{
	struct verify_proc *pr = NULL;
	char *argv[8], *out = NULL, *pos, *key, *value;
	int *in = NULL, rc = VERIFY_DOWN, failed = 0;
	size_t i, n, len;
	long k;
	struct err e2;

	if ((pr = calloc(x->nt + 1, sizeof(*pr))) == NULL ||
	    (in = malloc((x->nt + 1) * sizeof(*in))) == NULL) {
		err_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < x->nt; i++) {
		pr[i].pid = -1;
		pr[i].out = pr[i].errfd = in[i] = -1;
	}
	for (i = 0; i < x->nt && !failed; i++) {
		struct verify_table *t = &x->t[i];

		/* a domain table asked before has no new keys */
		if (t->found != NULL && t->asked == t->keys.n)
			continue;
		free(t->found);
		if ((t->found = calloc(t->keys.n + 1, 1)) == NULL) {
			err_set(err, "out of memory");
			failed = 1;
			break;
		}
		t->asked = t->keys.n;
		if (t->keys.n == 0)
			continue;
		if ((in[i] = verify_proc_memfd(err)) < 0) {
			failed = 1;
			break;
		}
		if (verify_postmap_write_keys(in[i], &t->keys, err) < 0) {
			failed = 1;
			break;
		}
		if (lseek(in[i], 0, SEEK_SET) < 0) {
			err_sys(err, "lseek(memfd)");
			failed = 1;
			break;
		}
		n = verify_proc_argv(x, "postmap", argv);
		argv[n++] = (char *)"-q";
		argv[n++] = (char *)"-";
		argv[n++] = t->name;
		argv[n] = NULL;
		pr[i].what = t->shown;
		if (verify_proc_spawn(argv, in[i], &pr[i], err) < 0)
			failed = 1;
	}
	for (i = 0; i < x->nt; i++) {
		struct verify_table *t = &x->t[i];

		if (pr[i].pid < 0 && pr[i].out < 0)
			continue;
		if (verify_proc_finish(&pr[i], &out, &len, 1,
				       failed ? &e2 : err) < 0) {
			failed = 1;
			continue;
		}
		pos = out;
		while (verify_postmap_next(&pos, &key, &value)) {
			k = verify_set_find(&t->keys, key, strlen(key));
			/* an empty value is "not found" to Postfix */
			if (k >= 0 && *value != '\0')
				t->found[k] = 1;
		}
		free(out);
		out = NULL;
	}
	if (!failed)
		rc = 0;
out:
	for (i = 0; in != NULL && i < x->nt; i++)
		if (in[i] >= 0)
			close(in[i]);
	free(in);
	free(pr);
	return rc;
}

/* verify_postmap_found - the table found key (with its NUL) */
int verify_postmap_found(const struct verify_table *t, const char *key,
			 size_t len)
{
	long k = verify_set_find(&t->keys, key, len);

	return k >= 0 && t->found != NULL && t->found[k];
}

/*
 * verify_postmap_list - "postmap -s" of t: its keys and values, a line
 * each (caller frees), or NULL when it could not be listed
 */
char *verify_postmap_list(const struct verify_ctx *x,
			  const struct verify_table *t)
{
	struct verify_proc pr = {-1, -1, -1, NULL};
	char *argv[8], *out = NULL;
	size_t n;
	struct err e;

	n = verify_proc_argv(x, "postmap", argv);
	argv[n++] = (char *)"-s";
	argv[n++] = t->name;
	argv[n] = NULL;
	pr.what = t->shown;
	if (verify_proc_spawn(argv, -1, &pr, &e) < 0 ||
	    verify_proc_finish(&pr, &out, NULL, 0, &e) < 0) {
		verify_proc_finish(&pr, &out, NULL, 0, &e);
		return NULL;
	}
	return out;
}
