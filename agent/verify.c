/*
 * verify - compare an export with what the primary's own Postfix accepts
 *
 * Owns the model of smtpd's recipient check described in verify.h, the
 * candidate addresses, and the conversation with postconf and postmap:
 * each program runs with its standard input and output on memory files
 * (memfd), so a batch of any size needs no pipe loop; every table's
 * postmap runs at the same time.  Failures: postconf failing is
 * VERIFY_CONFIG, a postmap that exits non-zero is VERIFY_DOWN, with the
 * last line Postfix wrote to standard error; out of memory is
 * VERIFY_DOWN.  Nothing is written anywhere but to those memory files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "../formats/buf.h"
#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "verify.h"

extern char **environ;

/* the address classes of trivial-rewrite's resolve.c */
enum {
	VERIFY_DEFAULT,
	VERIFY_LOCAL,
	VERIFY_ALIAS,
	VERIFY_VIRTUAL,
	VERIFY_RELAY
};

/* postconf parameters, in the order they are asked */
enum {
	VP_RCANON,
	VP_CANON,
	VP_VALIAS,
	VP_LOCAL,
	VP_VMBOX,
	VP_RELAY,
	VP_NMAPS,
	VP_MYDEST = VP_NMAPS,
	VP_VADOMS,
	VP_VMDOMS,
	VP_RELAYDOMS,
	VP_DELIM,
	VP_MYORIGIN,
	VP_PARENT,
	VP_COUNT
};
static const char *const verify_params[VP_COUNT] = {
    "recipient_canonical_maps",
    "canonical_maps",
    "virtual_alias_maps",
    "local_recipient_maps",
    "virtual_mailbox_maps",
    "relay_recipient_maps",
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
    "relay_domains",
    "recipient_delimiter",
    "myorigin",
    "parent_domain_matches_subdomains",
};
#define VERIFY_NLISTS 4

#define VERIFY_CROSS_MAX 20000
#define VERIFY_CROSS_LOCALS 20
#define VERIFY_UNKNOWN_PER_DOMAIN 2
/*
 * +extension variants of this many recipients at most: each is one more
 * key for every table, nearly always "not found"; beyond this they cost
 * more time than they find (the delimiters are compared anyway)
 */
#define VERIFY_EXT_MAX 20000

/* verify_set - strings, each once, with their index */
struct verify_set {
	char *buf;
	size_t len, cap;
	size_t *off;
	size_t n, ncap;
	uint32_t *slot; /* index + 1; 0 is empty */
	size_t nslot;
};

struct verify_table {
	char *name;	/* as postmap is given it: proxy: stripped */
	char *shown;	/* as main.cf names it */
	int pattern;	/* regexp, pcre, cidr: full addresses only */
	int enumerable; /* postmap -s can list it */
	struct verify_set keys;
	unsigned char *found; /* per key: found with a non-empty value */
	size_t asked;	      /* keys found answers */
};

struct verify_maps {
	size_t *t; /* table indexes */
	size_t n;
};

struct verify_item {
	int neg;
	long table; /* -1: a literal */
	char *lit;
};

struct verify_list {
	struct verify_item *it;
	size_t n;
	int parent;   /* parent_domain_matches_subdomains */
	int hostname; /* matched as a host name (relay_domains) */
};

struct verify_cand {
	size_t text;   /* in cands */
	size_t folded; /* in folded */
	size_t dom;    /* in domains */
};

struct verify_ctx {
	const struct verify_opts *o;
	const struct state *st; /* the export */
	char *val[VP_COUNT];
	struct verify_table *t;
	size_t nt;
	struct verify_maps maps[VP_NMAPS];
	struct verify_list lists[VERIFY_NLISTS];
	struct verify_set domains, cands, folded, locals;
	unsigned char *dclass; /* per domain */
	struct verify_cand *c;
	size_t nc;
	char ext[16];	/* the random extension of this run */
	char delims[8]; /* the delimiters of the +ext variants */
	size_t ndelims;
};

/* verify_hash - FNV-1a */
static uint64_t verify_hash(const char *k, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static const char *verify_set_key(const struct verify_set *s, size_t i)
{
	return s->buf + s->off[i];
}

static long verify_set_find(const struct verify_set *s, const char *k,
			    size_t len)
{
	size_t i, m;
	uint32_t v;

	if (s->nslot == 0)
		return -1;
	m = s->nslot - 1;
	for (i = verify_hash(k, len) & m; (v = s->slot[i]) != 0;
	     i = (i + 1) & m) {
		const char *e = verify_set_key(s, v - 1);

		if (strlen(e) == len && memcmp(e, k, len) == 0)
			return (long)(v - 1);
	}
	return -1;
}

/* verify_set_grow - double the slot table */
static int verify_set_grow(struct verify_set *s)
{
	size_t nslot = s->nslot ? 2 * s->nslot : 1024, i, j, m = nslot - 1;
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (i = 0; i < s->n; i++) {
		const char *k = verify_set_key(s, i);

		for (j = verify_hash(k, strlen(k)) & m; slot[j] != 0;
		     j = (j + 1) & m)
			;
		slot[j] = (uint32_t)(i + 1);
	}
	free(s->slot);
	s->slot = slot;
	s->nslot = nslot;
	return 0;
}

/* verify_set_add - index of k, added when new; -1 out of memory */
static long verify_set_add(struct verify_set *s, const char *k, size_t len)
{
	long f = verify_set_find(s, k, len);
	size_t i, m;
	void *p;

	if (f >= 0)
		return f;
	if (s->n >= UINT32_MAX - 1)
		return -1;
	if (2 * (s->n + 1) > s->nslot && verify_set_grow(s) < 0)
		return -1;
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 65536;

		while (cap < s->len + len + 1)
			cap *= 2;
		if ((p = realloc(s->buf, cap)) == NULL)
			return -1;
		s->buf = p;
		s->cap = cap;
	}
	if (s->n == s->ncap) {
		size_t ncap = s->ncap ? 2 * s->ncap : 1024;

		if ((p = realloc(s->off, ncap * sizeof(*s->off))) == NULL)
			return -1;
		s->off = p;
		s->ncap = ncap;
	}
	memcpy(s->buf + s->len, k, len);
	s->buf[s->len + len] = '\0';
	s->off[s->n] = s->len;
	s->len += len + 1;
	m = s->nslot - 1;
	for (i = verify_hash(k, len) & m; s->slot[i] != 0; i = (i + 1) & m)
		;
	s->slot[i] = (uint32_t)(s->n + 1);
	return (long)s->n++;
}

static void verify_set_free(struct verify_set *s)
{
	free(s->buf);
	free(s->off);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* verify_memfd - an anonymous memory file */
static int verify_memfd(struct err *err)
{
	int fd = memfd_create("mxsync-verify", MFD_CLOEXEC);

	if (fd < 0)
		err_sys(err, "memfd_create");
	return fd;
}

struct verify_proc {
	pid_t pid;
	int out, errfd;
	const char *what; /* for messages: the table or "postconf" */
};

/*
 * verify_spawn - start argv[0] (found in PATH) with standard input from
 * in (a memory file at offset 0, or -1 for /dev/null) and its output on
 * memory files
 */
static int verify_spawn(char *const argv[], int in, struct verify_proc *p,
			struct err *err)
{
	posix_spawn_file_actions_t fa;
	int rc;

	p->pid = -1;
	p->out = p->errfd = -1;
	if ((p->out = verify_memfd(err)) < 0 ||
	    (p->errfd = verify_memfd(err)) < 0)
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

/* verify_slurp - the whole memory file, NUL-terminated (caller frees) */
static char *verify_slurp(int fd, size_t *len_r)
{
	off_t end = lseek(fd, 0, SEEK_END);
	size_t done = 0;
	ssize_t n;
	char *b;

	if (end < 0 || (b = malloc((size_t)end + 1)) == NULL)
		return NULL;
	while (done < (size_t)end) {
		n = pread(fd, b + done, (size_t)end - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	b[done] = '\0';
	if (len_r != NULL)
		*len_r = done;
	return b;
}

/* verify_last_line - the last non-empty line of text, in place */
static const char *verify_last_line(char *text)
{
	char *p = text + strlen(text), *start;

	while (p > text && (p[-1] == '\n' || p[-1] == '\r'))
		*--p = '\0';
	start = strrchr(text, '\n');
	return start != NULL ? start + 1 : text;
}

/*
 * verify_finish - wait for p; 0 with its output (caller frees) when it
 * exited 0 (or 1 without a fatal error, when notfound_ok: "postmap -q"
 * exits 1 when it found nothing), else -1 with its last error line
 */
static int verify_finish(struct verify_proc *p, char **out_r, size_t *len_r,
			 int notfound_ok, struct err *err)
{
	int status = 0, rc = -1;
	char *e = NULL;

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
		e = verify_slurp(p->errfd, NULL);
		if (e != NULL && strstr(e, "fatal:") == NULL)
			status = 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if ((*out_r = verify_slurp(p->out, len_r)) == NULL)
			err_set(err, "%s: out of memory", p->what);
		else
			rc = 0;
		goto out;
	}
	if (e == NULL)
		e = verify_slurp(p->errfd, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		err_set(err, "%s: cannot run the program", p->what);
	else if (e != NULL && *verify_last_line(e) != '\0')
		err_set(err, "%s: %s", p->what, verify_last_line(e));
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

/* verify_postconf - the values of every parameter into x->val */
static int verify_postconf(struct verify_ctx *x, struct err *err)
{
	char *argv[VP_COUNT + 5], *out = NULL, *p, *nl;
	struct verify_proc pr = {-1, -1, -1, "postconf"};
	size_t n = 0, i;

	argv[n++] = (char *)"postconf";
	if (x->o->postfix_dir != NULL && x->o->postfix_dir[0] != '\0') {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)x->o->postfix_dir;
	}
	argv[n++] = (char *)"-xh";
	for (i = 0; i < VP_COUNT; i++)
		argv[n++] = (char *)verify_params[i];
	argv[n] = NULL;
	if (verify_spawn(argv, -1, &pr, err) < 0 ||
	    verify_finish(&pr, &out, NULL, 0, err) < 0) {
		verify_finish(&pr, &out, NULL, 0, err);
		return -1;
	}
	p = out;
	for (i = 0; i < VP_COUNT; i++) {
		if (*p == '\0') {
			err_set(err, "postconf: no value for %s",
				verify_params[i]);
			free(out);
			return -1;
		}
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if ((x->val[i] = strdup(p)) == NULL) {
			free(out);
			return err_set(err, "out of memory");
		}
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
	free(out);
	return 0;
}

/*
 * verify_tokens - split a Postfix list value at blanks and commas outside
 * braces (inline:{a=b, c=d} is one token); calls fn for each token
 */
static int verify_tokens(const char *s, int (*fn)(void *, const char *, size_t),
			 void *arg)
{
	const char *start;
	int depth;

	for (;;) {
		while (*s != '\0' && strchr(", \t\r\n", *s) != NULL)
			s++;
		if (*s == '\0')
			return 0;
		start = s;
		depth = 0;
		while (*s != '\0' &&
		       (depth > 0 || strchr(", \t\r\n", *s) == NULL)) {
			if (*s == '{')
				depth++;
			else if (*s == '}' && depth > 0)
				depth--;
			s++;
		}
		if (fn(arg, start, (size_t)(s - start)) < 0)
			return -1;
	}
}

/* verify_table_type - the table type after "proxy:", e.g. "mysql" */
static size_t verify_table_type(const char *name, const char **type_r)
{
	const char *c = strchr(name, ':');

	*type_r = name;
	return c != NULL ? (size_t)(c - name) : 0;
}

/* verify_table_add - the index of a table, added when new; -1 on OOM */
static long verify_table_add(struct verify_ctx *x, const char *tok, size_t len)
{
	static const char *const pattern[] = {"regexp", "pcre", "cidr", NULL};
	static const char *const enumerable[] = {"hash", "btree",    "lmdb",
						 "cdb",	 "texthash", "dbm",
						 "sdbm", "inline",   NULL};
	struct verify_table *t;
	const char *name, *type;
	size_t i, tlen;
	void *p;

	for (i = 0; i < x->nt; i++)
		if (strlen(x->t[i].shown) == len &&
		    memcmp(x->t[i].shown, tok, len) == 0)
			return (long)i;
	if ((p = realloc(x->t, (x->nt + 1) * sizeof(*x->t))) == NULL)
		return -1;
	x->t = p;
	t = &x->t[x->nt];
	memset(t, 0, sizeof(*t));
	if ((t->shown = strndup(tok, len)) == NULL)
		return -1;
	name = t->shown;
	/* proxymap asks the same table; postmap asks it directly */
	while (strncmp(name, "proxy:", 6) == 0)
		name += 6;
	if ((t->name = strdup(name)) == NULL) {
		free(t->shown);
		return -1;
	}
	tlen = verify_table_type(t->name, &type);
	for (i = 0; pattern[i] != NULL; i++)
		if (tlen == strlen(pattern[i]) &&
		    memcmp(type, pattern[i], tlen) == 0)
			t->pattern = 1;
	for (i = 0; enumerable[i] != NULL; i++)
		if (tlen == strlen(enumerable[i]) &&
		    memcmp(type, enumerable[i], tlen) == 0)
			t->enumerable = 1;
	return (long)x->nt++;
}

struct verify_maps_arg {
	struct verify_ctx *x;
	struct verify_maps *m;
};

static int verify_maps_token(void *arg, const char *tok, size_t len)
{
	struct verify_maps_arg *a = arg;
	long t = verify_table_add(a->x, tok, len);
	void *p;

	if (t < 0 ||
	    (p = realloc(a->m->t, (a->m->n + 1) * sizeof(*a->m->t))) == NULL)
		return -1;
	a->m->t = p;
	a->m->t[a->m->n++] = (size_t)t;
	return 0;
}

struct verify_list_arg {
	struct verify_ctx *x;
	struct verify_list *l;
	int neg;
	int depth;
	struct err *err;
};

static int verify_list_file(struct verify_list_arg *a, const char *path);

static int verify_list_token(void *arg, const char *tok, size_t len)
{
	struct verify_list_arg *a = arg;
	struct verify_item *it;
	char folded[NORM_BUF_SIZE], *path;
	size_t flen;
	int neg = a->neg, rc;
	void *p;
	struct err ferr;

	while (len > 0 && *tok == '!') {
		neg = !neg;
		tok++;
		len--;
	}
	if (len == 0)
		return 0;
	if (*tok == '/') {
		if ((path = strndup(tok, len)) == NULL)
			return err_set(a->err, "out of memory");
		rc = a->neg;
		a->neg = neg;
		if (verify_list_file(a, path) < 0) {
			free(path);
			return -1;
		}
		a->neg = rc;
		free(path);
		return 0;
	}
	if ((p = realloc(a->l->it, (a->l->n + 1) * sizeof(*a->l->it))) == NULL)
		return err_set(a->err, "out of memory");
	a->l->it = p;
	it = &a->l->it[a->l->n];
	memset(it, 0, sizeof(*it));
	it->neg = neg;
	it->table = -1;
	if (*tok != '[' && memchr(tok, ':', len) != NULL) {
		if ((it->table = verify_table_add(a->x, tok, len)) < 0)
			return err_set(a->err, "out of memory");
	} else {
		/* Postfix folds the patterns of a list */
		if (norm_fold(tok, len, folded, sizeof(folded), &flen, &ferr) <
		    0)
			return 0;
		if ((it->lit = strndup(folded, flen)) == NULL)
			return err_set(a->err, "out of memory");
	}
	a->l->n++;
	return 0;
}

/* verify_list_file - a /file/name in a list: its words, in place */
static int verify_list_file(struct verify_list_arg *a, const char *path)
{
	FILE *f;
	char line[4096], *hash;

	if (a->depth > 8)
		return err_set(a->err, "%s: lists nested too deep", path);
	if ((f = fopen(path, "r")) == NULL)
		return err_sys(a->err, "open(%s)", path);
	a->depth++;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if (verify_tokens(line, verify_list_token, a) < 0) {
			fclose(f);
			return -1;
		}
	}
	a->depth--;
	fclose(f);
	return 0;
}

/* verify_word_in - name is one of the words of a list value */
static int verify_word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || strchr(", \t", p[-1]) != NULL) &&
		    (p[n] == '\0' || strchr(", \t", p[n]) != NULL))
			return 1;
		p += n;
	}
	return 0;
}

/* verify_parse - tables of every map parameter and every domain list */
static int verify_parse(struct verify_ctx *x, struct err *err)
{
	size_t i;

	for (i = 0; i < VP_NMAPS; i++) {
		struct verify_maps_arg a = {x, &x->maps[i]};

		if (verify_tokens(x->val[i], verify_maps_token, &a) < 0)
			return err_set(err, "out of memory");
	}
	for (i = 0; i < VERIFY_NLISTS; i++) {
		struct verify_list_arg a = {x, &x->lists[i], 0, 0, err};

		x->lists[i].hostname = i == VP_RELAYDOMS - VP_MYDEST;
		x->lists[i].parent = verify_word_in(
		    x->val[VP_PARENT], verify_params[VP_MYDEST + i]);
		if (verify_tokens(x->val[VP_MYDEST + i], verify_list_token,
				  &a) < 0)
			return err_prefix(err, "%s",
					  verify_params[VP_MYDEST + i]);
	}
	return 0;
}

/* verify_write_keys - the keys, a line each, into a memory file */
static int verify_write_keys(int fd, const struct verify_set *s,
			     struct err *err)
{
	char *b = malloc(s->len + 1);
	size_t i, done = 0;
	ssize_t n;

	if (b == NULL)
		return err_set(err, "out of memory");
	memcpy(b, s->buf, s->len);
	for (i = 0; i < s->len; i++)
		if (b[i] == '\0')
			b[i] = '\n';
	while (done < s->len) {
		n = write(fd, b + done, s->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return err_sys(err, "write(memfd)");
		}
		done += (size_t)n;
	}
	free(b);
	return 0;
}

/* verify_ask - one postmap per table with keys, all at once */
static int verify_ask(struct verify_ctx *x, struct err *err)
{
	struct verify_proc *pr = NULL;
	char *argv[8], *out = NULL, *line, *nl, *tab;
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
		if ((in[i] = verify_memfd(err)) < 0) {
			failed = 1;
			break;
		}
		if (verify_write_keys(in[i], &t->keys, err) < 0) {
			failed = 1;
			break;
		}
		if (failed || lseek(in[i], 0, SEEK_SET) < 0)
			break;
		n = 0;
		argv[n++] = (char *)"postmap";
		if (x->o->postfix_dir != NULL && x->o->postfix_dir[0] != '\0') {
			argv[n++] = (char *)"-c";
			argv[n++] = (char *)x->o->postfix_dir;
		}
		argv[n++] = (char *)"-q";
		argv[n++] = (char *)"-";
		argv[n++] = t->name;
		argv[n] = NULL;
		pr[i].what = t->shown;
		if (verify_spawn(argv, in[i], &pr[i], err) < 0)
			failed = 1;
	}
	for (i = 0; i < x->nt; i++) {
		struct verify_table *t = &x->t[i];

		if (pr[i].pid < 0 && pr[i].out < 0)
			continue;
		if (verify_finish(&pr[i], &out, &len, 1, failed ? &e2 : err) <
		    0) {
			failed = 1;
			continue;
		}
		for (line = out; *line != '\0'; line = nl) {
			nl = strchr(line, '\n');
			if (nl != NULL)
				*nl++ = '\0';
			else
				nl = line + strlen(line);
			if ((tab = strchr(line, '\t')) == NULL)
				continue;
			k = verify_set_find(&t->keys, line,
					    (size_t)(tab - line));
			/* an empty value is "not found" to Postfix */
			if (k >= 0 && tab[1] != '\0')
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

/* verify_found - the table found key (with its NUL) */
static int verify_found(const struct verify_table *t, const char *key,
			size_t len)
{
	long k = verify_set_find(&t->keys, key, len);

	return k >= 0 && t->found != NULL && t->found[k];
}

/* verify_domain_forms - d, then its parents as a list table sees them */
static size_t verify_domain_forms(const char *d, int parent, int fixed,
				  const char *forms[], size_t max,
				  char buf[][NORM_BUF_SIZE])
{
	const char *p = d;
	size_t n = 0;

	forms[n++] = d;
	while (fixed && n < max && (p = strchr(p + 1, '.')) != NULL) {
		snprintf(buf[n], NORM_BUF_SIZE, "%s", parent ? p + 1 : p);
		forms[n] = buf[n];
		n++;
	}
	return n;
}

#define VERIFY_FORMS 16

/* verify_list_keys - the domain keys each list table must be asked */
static int verify_list_keys(struct verify_ctx *x, const char *d)
{
	char buf[VERIFY_FORMS][NORM_BUF_SIZE];
	const char *forms[VERIFY_FORMS];
	size_t i, j, k, n;

	for (i = 0; i < VERIFY_NLISTS; i++) {
		const struct verify_list *l = &x->lists[i];

		for (j = 0; j < l->n; j++) {
			struct verify_table *t;

			if (l->it[j].table < 0)
				continue;
			t = &x->t[l->it[j].table];
			n = verify_domain_forms(d, l->parent,
						l->hostname && !t->pattern,
						forms, VERIFY_FORMS, buf);
			for (k = 0; k < n; k++)
				if (verify_set_add(&t->keys, forms[k],
						   strlen(forms[k])) < 0)
					return -1;
		}
	}
	return 0;
}

/* verify_list_match - match_list_match() of one domain */
static int verify_list_match(const struct verify_ctx *x,
			     const struct verify_list *l, const char *d)
{
	char buf[VERIFY_FORMS][NORM_BUF_SIZE];
	const char *forms[VERIFY_FORMS];
	size_t j, k, n, dl = strlen(d), pl;
	int m;

	for (j = 0; j < l->n; j++) {
		const struct verify_item *it = &l->it[j];

		m = 0;
		if (it->table >= 0) {
			const struct verify_table *t = &x->t[it->table];

			n = verify_domain_forms(d, l->parent,
						l->hostname && !t->pattern,
						forms, VERIFY_FORMS, buf);
			for (k = 0; k < n && !m; k++)
				m = verify_found(t, forms[k], strlen(forms[k]));
		} else {
			pl = strlen(it->lit);
			m = strcmp(d, it->lit) == 0;
			if (!m && l->hostname && pl < dl &&
			    strcmp(d + dl - pl, it->lit) == 0)
				m = l->parent ? d[dl - pl - 1] == '.'
					      : it->lit[0] == '.';
		}
		if (m)
			return !it->neg;
	}
	return 0;
}

static int verify_classify(const struct verify_ctx *x, const char *d)
{
	if (verify_list_match(x, &x->lists[0], d))
		return VERIFY_LOCAL;
	if (verify_list_match(x, &x->lists[1], d))
		return VERIFY_ALIAS;
	if (verify_list_match(x, &x->lists[2], d))
		return VERIFY_VIRTUAL;
	if (verify_list_match(x, &x->lists[3], d))
		return VERIFY_RELAY;
	return VERIFY_DEFAULT;
}

/* verify_random_local - "nx" and 12 random hex digits */
static void verify_random_local(char out[16])
{
	unsigned char r[6];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out + 2, 13, r, sizeof(r));
	out[0] = 'n';
	out[1] = 'x';
}

/* verify_cand_add - a candidate address as it would be written */
static int verify_cand_add(struct verify_ctx *x, const char *a, size_t len)
{
	char f[NORM_BUF_SIZE];
	const char *at;
	size_t flen, n = x->cands.n;
	long i, fi, di;
	struct err e;
	void *p;

	if (norm_address(a, len, f, sizeof(f), &flen, &e) < 0)
		return 0; /* e.g. an extension past 64 octets */
	at = memrchr(f, '@', flen);
	if (at == f)
		return 0;
	if ((i = verify_set_add(&x->cands, a, len)) < 0)
		return -1;
	if ((size_t)i < n)
		return 0;
	if ((fi = verify_set_add(&x->folded, f, flen)) < 0 ||
	    (di = verify_set_add(&x->domains, at + 1,
				 flen - (size_t)(at + 1 - f))) < 0)
		return -1;
	if ((p = realloc(x->c, (x->nc + 1) * sizeof(*x->c))) == NULL)
		return -1;
	x->c = p;
	x->c[x->nc].text = (size_t)i;
	x->c[x->nc].folded = (size_t)fi;
	x->c[x->nc].dom = (size_t)di;
	x->nc++;
	return 0;
}

static int verify_cand_parts(struct verify_ctx *x, const char *local,
			     size_t llen, const char *dom, size_t dlen)
{
	char a[2 * NORM_BUF_SIZE];

	if (llen + dlen + 2 > sizeof(a))
		return 0;
	memcpy(a, local, llen);
	a[llen] = '@';
	memcpy(a + llen + 1, dom, dlen);
	return verify_cand_add(x, a, llen + 1 + dlen);
}

/* verify_delims - the delimiters the +ext variants are written with */
static void verify_delims(struct verify_ctx *x)
{
	const char *p = x->val[VP_DELIM], *a = x->o->delimiter;
	const char *sets[2];
	size_t i;

	if (a == NULL)
		a = "";
	x->delims[0] = *p != '\0' ? *p : '+';
	x->ndelims = 1;
	sets[0] = p;
	sets[1] = a;
	for (i = 0; i < 2; i++) {
		const char *q;

		for (q = sets[i]; *q != '\0'; q++)
			if (strchr(sets[1 - i], *q) == NULL &&
			    memchr(x->delims, *q, x->ndelims) == NULL &&
			    x->ndelims < sizeof(x->delims))
				x->delims[x->ndelims++] = *q;
	}
}

/*
 * verify_unaccent - a UTF-8 address without its combining marks (NFD,
 * every nonspacing mark dropped, NFC: "jos\xc3\xa9" is "jose"), the
 * spelling an accent-insensitive collation (MariaDB's utf8mb4_general_ci)
 * finds; 0 when there is none or it is the address itself
 */
static size_t verify_unaccent(const char *a, size_t len, char *out, size_t size)
{
	UChar u[2 * NORM_BUF_SIZE], d[4 * NORM_BUF_SIZE];
	UErrorCode ec = U_ZERO_ERROR;
	const UNormalizer2 *nfd;
	int32_t ul, dl, i, k = 0, ol = 0;
	size_t j;

	for (j = 0; j < len && (unsigned char)a[j] < 0x80; j++)
		;
	if (j == len)
		return 0;
	u_strFromUTF8(u, 2 * NORM_BUF_SIZE, &ul, a, (int32_t)len, &ec);
	nfd = unorm2_getNFDInstance(&ec);
	if (U_FAILURE(ec))
		return 0;
	dl = unorm2_normalize(nfd, u, ul, d, 4 * NORM_BUF_SIZE, &ec);
	if (U_FAILURE(ec))
		return 0;
	for (i = 0; i < dl; i++)
		if (u_charType(d[i]) != U_NON_SPACING_MARK)
			d[k++] = d[i];
	if (k == dl)
		return 0;
	/* composed again (NFC), as the rest of the address was written */
	ul = unorm2_normalize(unorm2_getNFCInstance(&ec), d, k, u,
			      2 * NORM_BUF_SIZE, &ec);
	if (U_FAILURE(ec))
		return 0;
	u_strToUTF8(out, (int32_t)size, &ol, u, ul, &ec);
	if (U_FAILURE(ec) || ol <= 0 || (size_t)ol >= size)
		return 0;
	return (size_t)ol;
}

/* verify_recipient - an exported recipient and its variants */
static int verify_recipient(struct verify_ctx *x, const char *r, size_t len,
			    int with_ext)
{
	char a[2 * NORM_BUF_SIZE], rnd[16];
	const char *at = memrchr(r, '@', len);
	size_t llen = (size_t)(at - r), i, j;

	if (llen == 0) {
		/*
		 * a catch-all: some local part nobody has, and one that
		 * starts with the delimiter, which Postfix does not split
		 * (a primary whose catch-all query refuses extensions, as
		 * iRedMail's does, refuses it; @domain on a backup accepts)
		 */
		verify_random_local(rnd);
		if (verify_cand_parts(x, rnd, strlen(rnd), at + 1, len - 1) < 0)
			return -1;
		a[0] = x->delims[0];
		memcpy(a + 1, rnd, strlen(rnd));
		return verify_cand_parts(x, a, 1 + strlen(rnd), at + 1,
					 len - 1);
	}
	if (verify_cand_add(x, r, len) < 0 || len + 24 > sizeof(a))
		return -1;
	/* case: as a sender might write it; Postfix folds it */
	memcpy(a, r, len);
	for (i = 0; i < len; i++)
		if (a[i] >= 'a' && a[i] <= 'z' && (i == 0 || i > llen))
			a[i] = (char)(a[i] - 'a' + 'A');
	if (memcmp(a, r, len) != 0 && verify_cand_add(x, a, len) < 0)
		return -1;
	/* without accents: what an accent-insensitive collation finds */
	if ((i = verify_unaccent(r, len, a, sizeof(a))) > 0 &&
	    verify_cand_add(x, a, i) < 0)
		return -1;
	/*
	 * +extension with the primary's first delimiter, and with every
	 * character only one of the primary and agent.conf has
	 */
	for (j = 0; with_ext && j < x->ndelims; j++) {
		size_t el;

		/* r is not NUL-terminated */
		el = (size_t)snprintf(a, sizeof(a), "%.*s%c%s%.*s", (int)llen,
				      r, x->delims[j], x->ext,
				      (int)(len - llen), at);
		if (el < sizeof(a) && verify_cand_add(x, a, el) < 0)
			return -1;
	}
	return 0;
}

/* verify_exported - d is one of the export's domains */
static int verify_exported(const struct verify_ctx *x, const char *d)
{
	return state_find_domain(x->st, d, strlen(d)) >= 0;
}

/* verify_enumerate - keys of tables postmap can list (errors ignored) */
static int verify_enumerate(struct verify_ctx *x, int is_list,
			    const struct verify_table *t)
{
	struct verify_proc pr = {-1, -1, -1, NULL};
	char *argv[8], *out = NULL, *line, *nl, *tab, rnd[16];
	const char *at;
	size_t n = 0, i;
	struct err e;
	int rc = 0;

	argv[n++] = (char *)"postmap";
	if (x->o->postfix_dir != NULL && x->o->postfix_dir[0] != '\0') {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)x->o->postfix_dir;
	}
	argv[n++] = (char *)"-s";
	argv[n++] = t->name;
	argv[n] = NULL;
	pr.what = t->shown;
	if (verify_spawn(argv, -1, &pr, &e) < 0 ||
	    verify_finish(&pr, &out, NULL, 0, &e) < 0) {
		verify_finish(&pr, &out, NULL, 0, &e);
		return 0;
	}
	for (line = out; *line != '\0' && rc == 0; line = nl) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		else
			nl = line + strlen(line);
		if ((tab = strchr(line, '\t')) == NULL || tab == line)
			continue;
		*tab = '\0';
		at = strrchr(line, '@');
		if (is_list) {
			if (at == NULL && line[0] != '.')
				rc = verify_set_add(&x->domains, line,
						    strlen(line)) < 0;
		} else if (at == line) {
			verify_random_local(rnd);
			rc = verify_cand_parts(x, rnd, strlen(rnd), at + 1,
					       strlen(at + 1));
		} else if (at != NULL) {
			rc = verify_cand_add(x, line, strlen(line));
		} else if (strncmp(line, "YP_", 3) != 0) {
			/*
			 * a bare local part (not postalias's NIS keys): at
			 * every local domain that is exported
			 */
			for (i = 0; i < x->lists[0].n && rc == 0; i++)
				if (x->lists[0].it[i].lit != NULL &&
				    !x->lists[0].it[i].neg &&
				    verify_exported(x, x->lists[0].it[i].lit))
					rc = verify_cand_parts(
					    x, line, strlen(line),
					    x->lists[0].it[i].lit,
					    strlen(x->lists[0].it[i].lit));
		}
	}
	free(out);
	return rc ? -1 : 0;
}

/* verify_subdomain - "nx...@nx....domain", one random label deeper */
static int verify_subdomain(struct verify_ctx *x, const char *d, size_t len)
{
	char rnd[16], sub[NORM_BUF_SIZE];
	int n;

	verify_random_local(rnd);
	n = snprintf(sub, sizeof(sub), "%s.%.*s", rnd, (int)len, d);
	if (n < 0 || (size_t)n >= sizeof(sub))
		return 0;
	return verify_cand_parts(x, rnd, strlen(rnd), sub, (size_t)n);
}

/* verify_candidates - every candidate address (see verify.h) */
static int verify_candidates(struct verify_ctx *x, const struct state *st,
			     struct err *err)
{
	size_t nr = state_recipient_count(st), nd = state_domain_count(st),
	       want, i, j, k, len, step, ext_every;
	const char *a, *at;
	char rnd[16];
	unsigned char r[4];
	struct verify_set *loc = &x->locals;

	want = x->o->sample ? x->o->sample : VERIFY_SAMPLE_MAX;
	if (want > nr)
		want = nr;
	randombytes_buf(r, sizeof(r));
	step = want ? nr / want : 1;
	if (step == 0)
		step = 1;
	ext_every = want / VERIFY_EXT_MAX + 1;
	/* the exported recipients (an even spread when sampled) */
	for (i = 0, k = want && step > 1 ? r[0] % step : 0; i < want && k < nr;
	     i++, k += step) {
		state_recipient(st, k, &a, &len);
		if (verify_recipient(x, a, len, i % ext_every == 0) < 0)
			goto oom;
	}
	/* a few unknown local parts in every exported domain */
	for (i = 0; i < nd; i++) {
		state_domain(st, i, &a, &len, NULL, NULL);
		for (j = 0; j < VERIFY_UNKNOWN_PER_DOMAIN; j++) {
			verify_random_local(rnd);
			if (verify_cand_parts(x, rnd, strlen(rnd), a, len) < 0)
				goto oom;
		}
		/*
		 * and in a subdomain, which a primary's mydestination or
		 * relay_domains matches when parent_domain_matches_subdomains
		 * names it, or through a ".domain" entry; the export lists
		 * exact domains only
		 */
		if (verify_subdomain(x, a, len) < 0)
			goto oom;
		if (verify_set_add(&x->domains, a, len) < 0)
			goto oom;
	}
	/* domains and addresses the primary's tables list */
	for (i = 0; i < VERIFY_NLISTS; i++)
		for (j = 0; j < x->lists[i].n; j++) {
			const struct verify_item *it = &x->lists[i].it[j];

			if (it->lit != NULL && !it->neg && it->lit[0] != '.' &&
			    verify_set_add(&x->domains, it->lit,
					   strlen(it->lit)) < 0)
				goto oom;
			if (it->table >= 0 && x->t[it->table].enumerable &&
			    verify_enumerate(x, 1, &x->t[it->table]) < 0)
				goto oom;
		}
	for (i = 0; i < VP_NMAPS; i++)
		for (j = 0; j < x->maps[i].n; j++)
			if (x->t[x->maps[i].t[j]].enumerable &&
			    verify_enumerate(x, 0, &x->t[x->maps[i].t[j]]) < 0)
				goto oom;
	/* local parts to cross with every domain */
	if (verify_set_add(loc, "postmaster", 10) < 0 ||
	    verify_set_add(loc, "abuse", 5) < 0)
		goto oom;
	for (i = 0; i < nr && loc->n < VERIFY_CROSS_LOCALS;
	     i += nr / VERIFY_CROSS_LOCALS + 1) {
		state_recipient(st, i, &a, &len);
		at = memrchr(a, '@', len);
		if (at > a && verify_set_add(loc, a, (size_t)(at - a)) < 0)
			goto oom;
	}
	err->msg[0] = '\0';
	return 0;
oom:
	return err_set(err, "out of memory");
}

/* verify_crossed - domain i is crossed with the local parts */
static int verify_crossed(const struct verify_ctx *x, size_t i)
{
	/* the primary's own names (mydestination) only when exported */
	return x->dclass[i] != VERIFY_DEFAULT &&
	       (x->dclass[i] != VERIFY_LOCAL ||
		verify_exported(x, verify_set_key(&x->domains, i)));
}

/* verify_cross - the local parts with every domain the primary accepts */
static int verify_cross(struct verify_ctx *x, struct err *err)
{
	size_t i, j, nacc = 0, nloc;
	const char *d, *l;

	for (i = 0; i < x->domains.n; i++)
		nacc += verify_crossed(x, i);
	if (nacc == 0)
		return 0;
	nloc = VERIFY_CROSS_MAX / nacc;
	if (nloc > x->locals.n)
		nloc = x->locals.n;
	if (nloc < 1)
		nloc = 1;
	for (i = 0, nacc = 0; i < x->domains.n; i++) {
		if (!verify_crossed(x, i))
			continue;
		if (nacc++ * nloc >= VERIFY_CROSS_MAX)
			break;
		d = verify_set_key(&x->domains, i);
		for (j = 0; j < nloc; j++) {
			l = verify_set_key(&x->locals, j);
			if (verify_cand_parts(x, l, strlen(l), d, strlen(d)) <
			    0)
				return err_set(err, "out of memory");
		}
	}
	return 0;
}

/* verify_chain - the map parameters that decide a class, in order */
static size_t verify_chain(int cls, int chain[4])
{
	size_t n = 0;

	if (cls == VERIFY_DEFAULT)
		return 0;
	chain[n++] = VP_RCANON;
	chain[n++] = VP_CANON;
	chain[n++] = VP_VALIAS;
	if (cls == VERIFY_LOCAL)
		chain[n++] = VP_LOCAL;
	else if (cls == VERIFY_VIRTUAL)
		chain[n++] = VP_VMBOX;
	else if (cls == VERIFY_RELAY)
		chain[n++] = VP_RELAY;
	return n;
}

/* verify_keys_of - the keys of candidate i */
static int verify_keys_of(const struct verify_ctx *x, size_t i,
			  struct lookup_keys *k, struct err *err)
{
	const char *f = verify_set_key(&x->folded, x->c[i].folded);
	const char *d = verify_set_key(&x->domains, x->c[i].dom);
	int local = x->dclass[x->c[i].dom] == VERIFY_LOCAL ||
		    strcasecmp(d, x->val[VP_MYORIGIN]) == 0;

	return lookup_keys(f, strlen(f), x->val[VP_DELIM],
			   local ? LOOKUP_LOCAL : 0, k, err);
}

/* verify_assign - every table gets the keys it will be asked */
static int verify_assign(struct verify_ctx *x, struct err *err)
{
	struct lookup_keys k;
	int chain[4];
	size_t i, j, m, q, n;

	for (i = 0; i < x->nc; i++) {
		n = verify_chain(x->dclass[x->c[i].dom], chain);
		if (n == 0 || verify_keys_of(x, i, &k, err) < 0)
			continue;
		for (j = 0; j < n; j++) {
			const struct verify_maps *mp = &x->maps[chain[j]];

			for (m = 0; m < mp->n; m++) {
				struct verify_table *t = &x->t[mp->t[m]];

				for (q = 0; q < k.n; q++)
					if ((k.full[q] || !t->pattern) &&
					    verify_set_add(&t->keys, k.key[q],
							   k.len[q]) < 0)
						return err_set(err,
							       "out of memory");
			}
		}
	}
	return 0;
}

/*
 * verify_decide - the primary's decision on candidate i: 1 accept, with
 * what decided in why
 */
static int verify_decide(const struct verify_ctx *x, size_t i, char *why,
			 size_t wsize)
{
	static const char *const cname[] = {
	    "relay access denied: the domain is in no address class",
	    "mydestination", "virtual_alias_domains", "virtual_mailbox_domains",
	    "relay_domains"};
	struct lookup_keys k;
	struct err e;
	int cls = x->dclass[x->c[i].dom], chain[4];
	size_t n, j, q, m;
	const char *f, *at;

	n = verify_chain(cls, chain);
	if (n == 0) {
		snprintf(why, wsize, "%s", cname[0]);
		return 0;
	}
	if (verify_keys_of(x, i, &k, &e) < 0) {
		snprintf(why, wsize, "%s", e.msg);
		return 0;
	}
	for (j = 0; j < n; j++) {
		const struct verify_maps *mp = &x->maps[chain[j]];

		/* mail_addr_find(): each key in every table, then the next */
		for (q = 0; q < k.n; q++)
			for (m = 0; m < mp->n; m++) {
				const struct verify_table *t = &x->t[mp->t[m]];

				if ((k.full[q] || !t->pattern) &&
				    verify_found(t, k.key[q], k.len[q])) {
					snprintf(why, wsize, "%s %s (key %s)",
						 verify_params[chain[j]],
						 t->shown, k.key[q]);
					return 1;
				}
			}
	}
	f = verify_set_key(&x->folded, x->c[i].folded);
	at = strrchr(f, '@');
	if (cls == VERIFY_LOCAL &&
	    (((size_t)(at - f) == 10 && memcmp(f, "postmaster", 10) == 0) ||
	     ((size_t)(at - f) == 13 && memcmp(f, "mailer-daemon", 13) == 0) ||
	     ((size_t)(at - f) == 13 && memcmp(f, "double-bounce", 13) == 0))) {
		snprintf(why, wsize, "mydestination: always accepted");
		return 1;
	}
	if (cls != VERIFY_ALIAS && x->maps[chain[n - 1]].n == 0) {
		snprintf(why, wsize, "%s: %s is empty", cname[cls],
			 verify_params[chain[n - 1]]);
		return 1;
	}
	if (cls == VERIFY_ALIAS)
		snprintf(why, wsize,
			 "virtual_alias_domains: not in "
			 "virtual_alias_maps");
	else
		snprintf(why, wsize, "%s: not in %s", cname[cls],
			 verify_params[chain[n - 1]]);
	return 0;
}

static int verify_example_set(struct verify_example *e, const char *addr,
			      const char *primary, const char *backup)
{
	e->address = strdup(addr);
	e->primary_by = strdup(primary);
	e->backup_by = strdup(backup);
	return e->address && e->primary_by && e->backup_by ? 0 : -1;
}

/* verify_compare - both decisions on every candidate */
static int verify_compare(struct verify_ctx *x, const struct state *st,
			  struct verify_result *r, struct err *err)
{
	char why[2 * NORM_BUF_SIZE], match[NORM_BUF_SIZE],
	    bwhy[NORM_BUF_SIZE + 64];
	const char *a;
	size_t i;
	int p, b, known;
	struct err e;

	for (i = 0; i < x->nc; i++) {
		a = verify_set_key(&x->cands, x->c[i].text);
		p = verify_decide(x, i, why, sizeof(why));
		b = lookup_accepts(st, a,
				   x->o->delimiter ? x->o->delimiter : "",
				   &known, match, sizeof(match), &e);
		if (b < 0)
			continue;
		if (b)
			snprintf(bwhy, sizeof(bwhy), "matched %s", match);
		else
			snprintf(bwhy, sizeof(bwhy), "%s",
				 known ? "no key of it exported"
				       : "domain not exported");
		r->candidates++;
		if (x->o->list != NULL)
			fprintf(x->o->list, "%s primary=%s backup=%s %s; %s\n",
				a, p ? "accept" : "reject",
				b ? "accept" : "reject", why, bwhy);
		if (p == b) {
			r->agree++;
		} else if (p) {
			if (r->lost++ < VERIFY_EXAMPLES &&
			    verify_example_set(&r->lost_ex[r->nlost_ex++], a,
					       why, bwhy) < 0)
				return err_set(err, "out of memory");
		} else {
			if (r->backscatter++ < VERIFY_EXAMPLES &&
			    verify_example_set(&r->bs_ex[r->nbs_ex++], a, why,
					       bwhy) < 0)
				return err_set(err, "out of memory");
		}
	}
	return 0;
}

/* verify_stats - every table that was asked, with its counts */
static int verify_stats(const struct verify_ctx *x, struct verify_result *r,
			struct err *err)
{
	size_t i, k;

	if ((r->tables = calloc(x->nt + 1, sizeof(*r->tables))) == NULL)
		return err_set(err, "out of memory");
	for (i = 0; i < x->nt; i++) {
		struct verify_table_stat *ts = &r->tables[r->ntables];

		if (x->t[i].keys.n == 0)
			continue;
		if ((ts->table = strdup(x->t[i].shown)) == NULL)
			return err_set(err, "out of memory");
		ts->keys = x->t[i].keys.n;
		for (k = 0; k < ts->keys; k++)
			ts->found += x->t[i].found[k];
		r->ntables++;
	}
	return 0;
}

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
	if (verify_postconf(&x, err) < 0) {
		rc = VERIFY_CONFIG;
		goto out;
	}
	snprintf(r->primary_delimiter, sizeof(r->primary_delimiter), "%s",
		 x.val[VP_DELIM]);
	verify_delims(&x);
	if (!lookup_delimiter_same(x.val[VP_DELIM],
				   o->delimiter ? o->delimiter : ""))
		snprintf(r->warning, sizeof(r->warning),
			 "the primary's recipient_delimiter is '%s', "
			 "agent.conf's is '%s'",
			 x.val[VP_DELIM], o->delimiter ? o->delimiter : "");
	if (verify_parse(&x, err) < 0) {
		rc = VERIFY_CONFIG;
		goto out;
	}
	if (verify_candidates(&x, st, err) < 0)
		goto out;
	/* first the domain lists, then the addresses */
	for (i = 0; i < x.domains.n; i++)
		if (verify_list_keys(&x, verify_set_key(&x.domains, i)) < 0) {
			err_set(err, "out of memory");
			goto out;
		}
	if (verify_ask(&x, err) < 0)
		goto out;
	if ((x.dclass = calloc(x.domains.n + 1, 1)) == NULL) {
		err_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < x.domains.n; i++)
		x.dclass[i] = (unsigned char)verify_classify(
		    &x, verify_set_key(&x.domains, i));
	if (verify_cross(&x, err) < 0)
		goto out;
	/* the crossing added no domain: dclass covers every candidate */
	if (verify_assign(&x, err) < 0 || verify_ask(&x, err) < 0)
		goto out;
	if (verify_compare(&x, st, r, err) < 0 || verify_stats(&x, r, err) < 0)
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

void verify_result_clear(struct verify_result *r)
{
	size_t i;

	for (i = 0; i < r->nlost_ex; i++) {
		free(r->lost_ex[i].address);
		free(r->lost_ex[i].primary_by);
		free(r->lost_ex[i].backup_by);
	}
	for (i = 0; i < r->nbs_ex; i++) {
		free(r->bs_ex[i].address);
		free(r->bs_ex[i].primary_by);
		free(r->bs_ex[i].backup_by);
	}
	for (i = 0; i < r->ntables; i++)
		free(r->tables[i].table);
	free(r->tables);
	memset(r, 0, sizeof(*r));
}

static json_t *verify_examples_json(const struct verify_example *e, size_t n,
				    int primary)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "address", json_string(e[i].address));
		json_object_set_new(o, "primary",
				    json_string(primary ? "accept" : "reject"));
		json_object_set_new(o, "primary_decided_by",
				    json_string(e[i].primary_by));
		json_object_set_new(o, "backup",
				    json_string(primary ? "reject" : "accept"));
		json_object_set_new(o, "backup_decided_by",
				    json_string(e[i].backup_by));
		json_array_append_new(a, o);
	}
	return a;
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

json_t *verify_report(const char *text, size_t len, int status)
{
	json_t *j = NULL, *e;
	json_error_t je;
	char *copy;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	const char *brace = memchr(text, '{', len);

	if ((code == 0 || code == 1) && brace != NULL)
		j = json_loadb(brace, len - (size_t)(brace - text), 0, &je);
	if (j != NULL && json_is_object(j))
		return j;
	json_decref(j);
	j = json_object();
	copy = strndup(text, len);
	json_object_set_new(j, "time", json_integer((json_int_t)time(NULL)));
	e = json_string(copy != NULL && *verify_last_line(copy) != '\0'
			    ? verify_last_line(copy)
			    : "the verify process gave no report");
	json_object_set_new(j, "error", e != NULL ? e : json_string("?"));
	json_object_set_new(j, "down", json_boolean(code == 75));
	free(copy);
	return j;
}

static json_t *verify_tables_json(const struct verify_result *r)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < r->ntables; i++) {
		o = json_object();
		json_object_set_new(o, "table",
				    json_string(r->tables[i].table));
		json_object_set_new(
		    o, "keys", json_integer((json_int_t)r->tables[i].keys));
		json_object_set_new(
		    o, "found", json_integer((json_int_t)r->tables[i].found));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *verify_json(const struct verify_result *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "time", json_integer((json_int_t)r->when));
	json_object_set_new(o, "candidates",
			    json_integer((json_int_t)r->candidates));
	json_object_set_new(o, "agree", json_integer((json_int_t)r->agree));
	json_object_set_new(o, "lost", json_integer((json_int_t)r->lost));
	json_object_set_new(o, "backscatter",
			    json_integer((json_int_t)r->backscatter));
	json_object_set_new(o, "lost_examples",
			    verify_examples_json(r->lost_ex, r->nlost_ex, 1));
	json_object_set_new(o, "backscatter_examples",
			    verify_examples_json(r->bs_ex, r->nbs_ex, 0));
	json_object_set_new(o, "primary_recipient_delimiter",
			    json_string(r->primary_delimiter));
	json_object_set_new(o, "warning",
			    r->warning[0] ? json_string(r->warning)
					  : json_null());
	json_object_set_new(o, "seconds", json_real(r->seconds));
	json_object_set_new(o, "tables", verify_tables_json(r));
	return o;
}

void verify_print(const struct verify_result *r, FILE *f)
{
	size_t i;

	if (r->warning[0])
		fprintf(f, "warning: %s\n", r->warning);
	fprintf(f, "agree %zu\n", r->agree);
	fprintf(f, "LOST %zu\n", r->lost);
	for (i = 0; i < r->nlost_ex; i++)
		fprintf(f,
			"  %s: the primary accepts (%s), a backup "
			"rejects (%s)\n",
			r->lost_ex[i].address, r->lost_ex[i].primary_by,
			r->lost_ex[i].backup_by);
	fprintf(f, "BACKSCATTER %zu\n", r->backscatter);
	for (i = 0; i < r->nbs_ex; i++)
		fprintf(f,
			"  %s: a backup accepts (%s), the primary "
			"rejects (%s)\n",
			r->bs_ex[i].address, r->bs_ex[i].backup_by,
			r->bs_ex[i].primary_by);
	fprintf(f, "%zu candidates; asked", r->candidates);
	for (i = 0; i < r->ntables; i++)
		fprintf(f, "%s %s (%zu keys, %zu found)", i ? "," : "",
			r->tables[i].table, r->tables[i].keys,
			r->tables[i].found);
	fprintf(f, "%s in %.1f s\n", r->ntables ? "" : " no table", r->seconds);
}
