/*
 * conf - configuration files: syntax (conf_read) and typed keys (conf_apply)
 *
 * Owns the file syntax: "[type]" or "[type name]" headers, "key = value"
 * lines, "#" comment lines, an inline comment from a "#" that follows white
 * space, and continuation lines (starting with white space) that join the
 * previous value with one space.  Lines may be of any length.  All strings
 * live in one arena allocated once, so the pointers handed out stay valid
 * until conf_free().
 *
 * Failure: every message is "file:line: message"; a duplicate key in one
 * section and a duplicate "[type name]" are errors.  conf_apply() refuses
 * unknown keys, malformed values and values outside the table's bounds
 * ("file:line: max_body: 0 is below the minimum 1").
 *
 * Security: configuration is trusted by the administrator but still parsed
 * strictly (NUL bytes, overflowing numbers and trailing junk are refused) so
 * a typo never silently changes a limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

#define CONF_FILE_MAX (16u << 20)

/* conf_arena_put - copy len bytes and a NUL into the arena */
static char *conf_arena_put(struct conf_file *cf, size_t *used,
			    const char *s, size_t len)
{
	char *p = cf->text + *used;

	/* the arena is sized for the worst case in conf_read_buf */
	memcpy(p, s, len);
	p[len] = '\0';
	*used += len + 1;
	return p;
}

static int conf_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* conf_trim - strip white space at both ends of [*s, *s + *len) */
static void conf_trim(const char **s, size_t *len)
{
	while (*len > 0 && conf_is_space(**s))
		(*s)++, (*len)--;
	while (*len > 0 && conf_is_space((*s)[*len - 1]))
		(*len)--;
}

/* conf_strip_comment - cut at a '#' that follows white space */
static void conf_strip_comment(const char *s, size_t *len)
{
	size_t i;

	for (i = 1; i < *len; i++)
		if (s[i] == '#' && conf_is_space(s[i - 1])) {
			*len = i;
			break;
		}
}

static int conf_name_char(char c, int section)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       (section && c == '.');
}

/* conf_word_ok - a key or section type: [A-Za-z0-9_-]+ */
static int conf_word_ok(const char *s, size_t len, int section)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!conf_name_char(s[i], section))
			return 0;
	return 1;
}

/* conf_section_name_ok - printable, no white space, no brackets */
static int conf_section_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f ||
		    s[i] == '[' || s[i] == ']')
			return 0;
	return 1;
}

void conf_free(struct conf_file *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->n; i++)
		free(cf->sections[i].entries);
	free(cf->sections);
	free(cf->text);
	free(cf->path);
	free(cf);
}

/* conf_add_section - append a section; -1 when out of memory */
static int conf_add_section(struct conf_file *cf, size_t *cap,
			    const char *type, const char *name, unsigned line)
{
	struct conf_section *ns;

	if (cf->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;

		if ((ns = reallocarray(cf->sections, ncap, sizeof(*ns))) ==
		    NULL)
			return -1;
		cf->sections = ns;
		*cap = ncap;
	}
	ns = &cf->sections[cf->n++];
	ns->type = type;
	ns->name = name;
	ns->line = line;
	ns->entries = NULL;
	ns->n = 0;
	return 0;
}

/* conf_add_entry - append an entry; capacity doubles at powers of two */
static int conf_add_entry(struct conf_section *sec, const char *key,
			  const char *value, unsigned line)
{
	struct conf_entry *ne;

	if (sec->n == 0 || (sec->n & (sec->n - 1)) == 0) {
		size_t ncap = sec->n ? sec->n * 2 : 4;

		if ((ne = reallocarray(sec->entries, ncap, sizeof(*ne))) ==
		    NULL)
			return -1;
		sec->entries = ne;
	}
	ne = &sec->entries[sec->n++];
	ne->key = key;
	ne->value = value;
	ne->line = line;
	return 0;
}

struct conf_file *conf_read_buf(const char *name, const char *text,
				size_t len, struct err *err)
{
	struct conf_file *cf = NULL;
	struct conf_section *sec = NULL;
	struct conf_entry *last = NULL;	/* what a continuation extends */
	size_t used = 0, scap = 0, pos = 0, i, j, llen;
	unsigned line = 0;
	const char *l, *p, *eq;
	char *value_end = NULL;

	if (len > CONF_FILE_MAX) {
		err_set(err, "%s: file over %u bytes", name, CONF_FILE_MAX);
		return NULL;
	}
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->path = strdup(name)) == NULL)
		goto nomem;
	/* every line yields at most two strings from its own bytes */
	cf->cap = 3 * len + 16;
	if ((cf->text = malloc(cf->cap)) == NULL)
		goto nomem;

	while (pos < len) {
		line++;
		l = text + pos;
		p = memchr(l, '\n', len - pos);
		llen = p ? (size_t)(p - l) : len - pos;
		pos += llen + (p ? 1 : 0);
		if (memchr(l, '\0', llen) != NULL) {
			err_set(err, "%s:%u: NUL byte", name, line);
			goto fail;
		}
		if (llen > 0 && l[llen - 1] == '\r')
			llen--;

		/* blank and comment lines */
		for (i = 0; i < llen && conf_is_space(l[i]); i++)
			;
		if (i == llen || l[i] == '#')
			continue;

		/* continuation of the previous value */
		if (i > 0) {
			const char *c = l + i;
			size_t clen = llen - i;

			if (last == NULL) {
				err_set(err, "%s:%u: continuation line without "
					"a preceding 'key = value'", name,
					line);
				goto fail;
			}
			conf_strip_comment(c, &clen);
			conf_trim(&c, &clen);
			if (clen == 0)
				continue;
			/* the value is the newest string in the arena */
			if (value_end != last->value) {
				*value_end = ' ';
				value_end++;
			}
			memcpy(value_end, c, clen);
			value_end += clen;
			*value_end = '\0';
			used = (size_t)(value_end - cf->text) + 1;
			continue;
		}

		/* section header */
		if (l[0] == '[') {
			const char *t = l + 1, *nm, *close;
			size_t tlen, nlen = 0, k;

			close = memchr(l, ']', llen);
			if (close == NULL) {
				err_set(err, "%s:%u: missing ']'", name, line);
				goto fail;
			}
			p = close + 1;
			k = llen - (size_t)(p - l);
			conf_trim(&p, &k);
			if (k != 0 && p[0] != '#') {
				err_set(err, "%s:%u: text after ']'", name,
					line);
				goto fail;
			}
			tlen = (size_t)(close - t);
			conf_trim(&t, &tlen);
			for (j = 0; j < tlen && !conf_is_space(t[j]); j++)
				;
			nm = t + j;
			nlen = tlen - j;
			tlen = j;
			conf_trim(&nm, &nlen);
			if (!conf_word_ok(t, tlen, 0)) {
				err_set(err, "%s:%u: bad section type '%.*s'",
					name, line, (int)(tlen > 64 ? 64 : tlen),
					t);
				goto fail;
			}
			if (nlen > 0 && !conf_section_name_ok(nm, nlen)) {
				err_set(err, "%s:%u: bad section name '%.*s' "
					"(one word expected)", name, line,
					(int)(nlen > 64 ? 64 : nlen), nm);
				goto fail;
			}
			for (k = 0; k < cf->n; k++)
				if (strlen(cf->sections[k].type) == tlen &&
				    memcmp(cf->sections[k].type, t, tlen) ==
					    0 &&
				    strlen(cf->sections[k].name) == nlen &&
				    memcmp(cf->sections[k].name, nm, nlen) ==
					    0) {
					err_set(err, "%s:%u: duplicate section "
						"[%.*s%s%.*s] (first at line "
						"%u)", name, line, (int)tlen,
						t, nlen ? " " : "", (int)nlen,
						nm, cf->sections[k].line);
					goto fail;
				}
			{
				const char *ts = conf_arena_put(cf, &used, t,
								tlen);
				const char *ns = conf_arena_put(cf, &used, nm,
								nlen);

				if (conf_add_section(cf, &scap, ts, ns, line) <
				    0)
					goto nomem;
			}
			sec = &cf->sections[cf->n - 1];
			last = NULL;
			continue;
		}

		/* key = value */
		if ((eq = memchr(l, '=', llen)) == NULL) {
			err_set(err, "%s:%u: expected 'key = value'", name,
				line);
			goto fail;
		}
		{
			const char *k = l, *v = eq + 1;
			size_t klen = (size_t)(eq - l), vlen;

			vlen = llen - klen - 1;
			conf_trim(&k, &klen);
			if (!conf_word_ok(k, klen, 0)) {
				err_set(err, "%s:%u: bad key '%.*s'", name,
					line, (int)(klen > 64 ? 64 : klen), k);
				goto fail;
			}
			if (sec == NULL) {
				err_set(err, "%s:%u: '%.*s' outside a "
					"[section]", name, line, (int)klen, k);
				goto fail;
			}
			for (j = 0; j < sec->n; j++)
				if (strlen(sec->entries[j].key) == klen &&
				    memcmp(sec->entries[j].key, k, klen) == 0) {
					err_set(err, "%s:%u: duplicate key '%.*s'"
						" (first at line %u)", name,
						line, (int)klen, k,
						sec->entries[j].line);
					goto fail;
				}
			/* a value may start with '#': only " #" comments */
			conf_trim(&v, &vlen);
			if (vlen > 0 && v[0] == '#')
				vlen = 0;
			conf_strip_comment(v, &vlen);
			conf_trim(&v, &vlen);
			{
				const char *ks = conf_arena_put(cf, &used, k,
								klen);
				char *vs = conf_arena_put(cf, &used, v, vlen);

				if (conf_add_entry(sec, ks, vs, line) < 0)
					goto nomem;
				last = &sec->entries[sec->n - 1];
				value_end = vs + vlen;
			}
		}
	}
	return cf;
nomem:
	err_set(err, "%s: out of memory", name);
fail:
	conf_free(cf);
	return NULL;
}

struct conf_file *conf_read(const char *path, struct err *err)
{
	struct conf_file *cf = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s)", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > CONF_FILE_MAX) {
		err_set(err, "%s: file over %u bytes", path, CONF_FILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	/* read what fstat announced, and not a byte more */
	while (len <= (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_sys(err, "read(%s)", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > (size_t)st.st_size) {
		err_set(err, "%s: file changed while reading", path);
		goto out;
	}
	cf = conf_read_buf(path, buf, len, err);
out:
	free(buf);
	close(fd);
	return cf;
}

unsigned conf_line(const struct conf_section *sec, const char *key)
{
	size_t i;

	for (i = 0; i < sec->n; i++)
		if (strcmp(sec->entries[i].key, key) == 0)
			return sec->entries[i].line;
	return sec->line;
}

/* conf_parse_u64 - plain decimal digits; *end_r gets the rest */
static int conf_parse_u64(const char *s, uint64_t *out, const char **end_r)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end_r = p;
	return 0;
}

/* conf_mul - *v *= m, -1 on overflow */
static int conf_mul(uint64_t *v, uint64_t m)
{
	if (m != 0 && *v > UINT64_MAX / m)
		return -1;
	*v *= m;
	return 0;
}

int conf_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v, m = 1;

	if (conf_parse_u64(s, &v, &end) < 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': m = 1ULL << 10; break;
		case 'm': case 'M': m = 1ULL << 20; break;
		case 'g': case 'G': m = 1ULL << 30; break;
		case 't': case 'T': m = 1ULL << 40; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (conf_mul(&v, m) < 0)
		return -1;
	*out = v;
	return 0;
}

int conf_parse_duration(const char *s, uint64_t *ms_out)
{
	const char *end;
	uint64_t v, m;

	if (conf_parse_u64(s, &v, &end) < 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		m = 1000;
	else if (strcmp(end, "ms") == 0)
		m = 1;
	else if (strcmp(end, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		m = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		m = 86400 * 1000;
	else
		return -1;
	if (conf_mul(&v, m) < 0)
		return -1;
	*ms_out = v;
	return 0;
}

/* conf_parse_percent - "10", "10%", "2.5%": 0..100 */
static int conf_parse_percent(const char *s, double *out)
{
	size_t len = strlen(s), i, dots = 0, digits = 0;
	char buf[32], *end;
	double v;

	if (len > 0 && s[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return -1;
	}
	if (dots > 1 || digits == 0 || s[0] == '.' || s[len - 1] == '.')
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || v < 0 || v > 100)
		return -1;
	*out = v;
	return 0;
}

static int conf_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* conf_show - a bound in the key's unit, e.g. 64M, 10s, 500ms */
static void conf_show(enum conf_type type, uint64_t v, char *out, size_t sz)
{
	static const struct { const char *sfx; uint64_t mul; }
	size_units[] = { { "G", 1ULL << 30 }, { "M", 1ULL << 20 },
			 { "K", 1ULL << 10 } },
	dur_units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
			{ "s", 1000 } };
	size_t i;

	if (v != 0 && type == CONF_SIZE) {
		for (i = 0; i < 3; i++)
			if (v % size_units[i].mul == 0) {
				snprintf(out, sz, "%llu%s",
					 (unsigned long long)(v /
							      size_units[i].mul),
					 size_units[i].sfx);
				return;
			}
	}
	if (type == CONF_DURATION) {
		for (i = 0; v != 0 && i < 4; i++)
			if (v % dur_units[i].mul == 0) {
				snprintf(out, sz, "%llu%s",
					 (unsigned long long)(v /
							      dur_units[i].mul),
					 dur_units[i].sfx);
				return;
			}
		snprintf(out, sz, "%llums", (unsigned long long)v);
		return;
	}
	snprintf(out, sz, "%llu", (unsigned long long)v);
}

/* conf_set - parse one value into the target; message without location */
static int conf_set(const struct conf_key *k, const char *value, void *target,
		    struct err *err)
{
	char *field = (char *)target + k->offset, lo[32], hi[32];
	uint64_t u = 0;
	double d;
	int b, rc = 0;
	const char *end;

	switch (k->type) {
	case CONF_STRING: {
		char *s = strdup(value);

		if (s == NULL)
			return err_set(err, "%s: out of memory", k->name);
		memcpy(field, &s, sizeof(s));
		return 0;
	}
	case CONF_UINT:
		rc = conf_parse_u64(value, &u, &end);
		if (rc == 0 && *end != '\0')
			rc = -1;
		if (rc < 0)
			return err_set(err, "%s: '%s' is not a number",
				       k->name, value);
		break;
	case CONF_SIZE:
		if (conf_parse_size(value, &u) < 0)
			return err_set(err, "%s: '%s' is not a size (e.g. "
				       "512, 64K, 512M, 2G)", k->name, value);
		break;
	case CONF_DURATION:
		if (conf_parse_duration(value, &u) < 0)
			return err_set(err, "%s: '%s' is not a duration "
				       "(e.g. 500ms, 30s, 10m, 2h, 7d)",
				       k->name, value);
		break;
	case CONF_PERCENT:
		if (conf_parse_percent(value, &d) < 0)
			return err_set(err, "%s: '%s' is not a percentage "
				       "from 0 to 100 (e.g. 10%%)", k->name,
				       value);
		memcpy(field, &d, sizeof(d));
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(value, &b) < 0)
			return err_set(err, "%s: '%s' is not yes or no",
				       k->name, value);
		memcpy(field, &b, sizeof(b));
		return 0;
	default:
		return err_set(err, "%s: unknown key type", k->name);
	}
	if (k->min != 0 || k->max != 0) {
		conf_show(k->type, k->min, lo, sizeof(lo));
		conf_show(k->type, k->max, hi, sizeof(hi));
		if (u < k->min)
			return err_set(err, "%s: %s is below the minimum %s",
				       k->name, value, lo);
		if (u > k->max)
			return err_set(err, "%s: %s is above the maximum %s",
				       k->name, value, hi);
	}
	memcpy(field, &u, sizeof(u));
	return 0;
}

/* conf_clear_strings - free and NULL the string fields of the table */
static void conf_clear_strings(const struct conf_key *table, void *target,
			       int do_free)
{
	const struct conf_key *k;
	char *s;

	for (k = table; k->name != NULL; k++) {
		if (k->type != CONF_STRING)
			continue;
		if (do_free) {
			memcpy(&s, (char *)target + k->offset, sizeof(s));
			free(s);
		}
		s = NULL;
		memcpy((char *)target + k->offset, &s, sizeof(s));
	}
}

int conf_apply(const struct conf_file *cf, const struct conf_section *sec,
	       const struct conf_key *table, void *target, struct err *err)
{
	const struct conf_key *k;
	const char *value;
	char where[600];
	unsigned line;
	size_t i;

	snprintf(where, sizeof(where), "[%s%s%.256s]", sec->type,
		 sec->name[0] ? " " : "", sec->name);
	for (i = 0; i < sec->n; i++) {
		for (k = table; k->name != NULL; k++)
			if (strcmp(k->name, sec->entries[i].key) == 0)
				break;
		if (k->name == NULL)
			return err_set(err, "%s:%u: %s: unknown key '%s'",
				       cf->path, sec->entries[i].line, where,
				       sec->entries[i].key);
	}
	conf_clear_strings(table, target, 0);
	for (k = table; k->name != NULL; k++) {
		value = NULL;
		line = sec->line;
		for (i = 0; i < sec->n; i++)
			if (strcmp(k->name, sec->entries[i].key) == 0) {
				value = sec->entries[i].value;
				line = sec->entries[i].line;
				break;
			}
		if (value == NULL)
			value = k->def;
		if (value == NULL) {
			err_set(err, "%s:%u: %s: missing key '%s'", cf->path,
				sec->line, where, k->name);
			goto fail;
		}
		if (conf_set(k, value, target, err) < 0) {
			err_prefix(err, "%s:%u", cf->path, line);
			goto fail;
		}
	}
	return 0;
fail:
	conf_clear_strings(table, target, 1);
	return -1;
}

void conf_free_target(const struct conf_key *table, void *target)
{
	if (target != NULL)
		conf_clear_strings(table, target, 1);
}
