/*
 * conf - configuration files: the syntax (conf_read); the typed keys of a
 * section are conf_value.c's (conf_apply)
 *
 * Owns the file syntax: "[type]" or "[type name]" headers, "key = value"
 * lines, "#" comment lines, an inline comment from a "#" that follows white
 * space, and continuation lines (starting with white space) that join the
 * previous value with one space.  Lines may be of any length.  All strings
 * live in one arena allocated once, so the pointers handed out stay valid
 * until conf_free().
 *
 * Failure: every message is "file:line: message"; a duplicate key in one
 * section and a duplicate "[type name]" are errors; a file over 16 MiB is
 * refused.
 *
 * Security: configuration is trusted by the administrator but still parsed
 * strictly (NUL bytes, overflowing numbers and trailing junk are refused) so
 * a typo never silently changes a limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fileio.h"

#define CONF_FILE_MAX (16u << 20)

/* conf_arena_put - copy len bytes and a NUL into the arena */
static char *conf_arena_put(struct conf_file *cf, size_t *used, const char *s,
			    size_t len)
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
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '[' ||
		    s[i] == ']')
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
static int conf_add_section(struct conf_file *cf, size_t *cap, const char *type,
			    const char *name, unsigned line)
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

struct conf_file *conf_read_buf(const char *name, const char *text, size_t len,
				struct err *err)
{
	struct conf_file *cf = NULL;
	struct conf_section *sec = NULL;
	struct conf_entry *last = NULL; /* what a continuation extends */
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
				err_set(err,
					"%s:%u: continuation line without "
					"a preceding 'key = value'",
					name, line);
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
					name, line,
					(int)(tlen > 64 ? 64 : tlen), t);
				goto fail;
			}
			if (nlen > 0 && !conf_section_name_ok(nm, nlen)) {
				err_set(err,
					"%s:%u: bad section name '%.*s' "
					"(one word expected)",
					name, line,
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
					err_set(err,
						"%s:%u: duplicate section "
						"[%.*s%s%.*s] (first at line "
						"%u)",
						name, line, (int)tlen, t,
						nlen ? " " : "", (int)nlen, nm,
						cf->sections[k].line);
					goto fail;
				}
			{
				const char *ts =
				    conf_arena_put(cf, &used, t, tlen);
				const char *ns =
				    conf_arena_put(cf, &used, nm, nlen);

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
				err_set(err,
					"%s:%u: '%.*s' outside a "
					"[section]",
					name, line, (int)klen, k);
				goto fail;
			}
			for (j = 0; j < sec->n; j++)
				if (strlen(sec->entries[j].key) == klen &&
				    memcmp(sec->entries[j].key, k, klen) == 0) {
					err_set(err,
						"%s:%u: duplicate key '%.*s'"
						" (first at line %u)",
						name, line, (int)klen, k,
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
				const char *ks =
				    conf_arena_put(cf, &used, k, klen);
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
	struct conf_file *cf;
	char *buf;
	size_t len;

	if (fileio_read_all(path, CONF_FILE_MAX, &buf, &len, err) < 0)
		return NULL;
	cf = conf_read_buf(path, buf, len, err);
	free(buf);
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
