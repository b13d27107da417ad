/*
 * test-conf - configuration syntax, typed keys, bounds and every error
 * message "file:line: message"
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/conf.h"
#include "test.h"

struct target {
	char *listen;
	char *query;
	uint64_t max_body;
	uint64_t timeout_ms;
	uint64_t workers;
	double shrink;
	int verify;
	char *empty;
};

#define OFF(f) offsetof(struct target, f)

static const struct conf_key keys[] = {
    {"listen", CONF_STRING, NULL, OFF(listen), 0, 0},
    {"query", CONF_STRING, "SELECT 1", OFF(query), 0, 0},
    {"max_body", CONF_SIZE, "512M", OFF(max_body), 1, 4ULL << 30},
    {"timeout", CONF_DURATION, "30s", OFF(timeout_ms), 1000, 3600000},
    {"workers", CONF_UINT, "4", OFF(workers), 1, 64},
    {"max_shrink", CONF_PERCENT, "10%", OFF(shrink), 0, 0},
    {"verify", CONF_BOOL, "yes", OFF(verify), 0, 0},
    {"empty", CONF_STRING, "", OFF(empty), 0, 0},
    {NULL, CONF_STRING, NULL, 0, 0, 0}};

static struct conf_file *parse(const char *text, struct err *err)
{
	return conf_read_buf("t.conf", text, strlen(text), err);
}

static void bad(const char *text, const char *want, const char *what)
{
	struct err err = {""};
	struct conf_file *cf = parse(text, &err);

	ok(cf == NULL, "refused: %s", what);
	is_str(err.msg, want, "message for %s", what);
	conf_free(cf);
}

/* apply_one - parse text with one [syncd] section and apply the table */
static int apply_one(const char *text, struct target *t, struct err *err)
{
	struct conf_file *cf = parse(text, err);
	int rc;

	if (cf == NULL)
		return -2;
	memset(t, 0, sizeof(*t));
	rc = conf_apply(cf, &cf->sections[0], keys, t, err);
	conf_free(cf);
	return rc;
}

static void bad_apply(const char *text, const char *want, const char *what)
{
	struct target t;
	struct err err = {""};

	ok(apply_one(text, &t, &err) == -1, "refused: %s", what);
	is_str(err.msg, want, "message for %s", what);
	ok(t.listen == NULL && t.query == NULL && t.empty == NULL,
	   "no strings left set after %s", what);
}

int main(void)
{
	struct err err = {""};
	struct conf_file *cf;
	struct target t;
	uint64_t v;
	char longline[5000];
	static const char text[] =
	    "# mxsyncd configuration\n"
	    "\n"
	    "[syncd]\n"
	    "listen = 127.0.0.1:8025   # inline comment\n"
	    "max_body=64M\n"
	    "  # an indented comment line\n"
	    "query = SELECT address\n"
	    "   FROM mailbox   # why\n"
	    "\tWHERE active = 1\n"
	    "timeout = 1500ms\n"
	    "max_shrink = 2.5%\n"
	    "verify = Off\n"
	    "\r\n"
	    "[source mysql-main]   # comment after a header\n"
	    "url=a#b\n"
	    "[source files]\n"
	    "[ backup  mx2.example.com ]\n"
	    "url = https://mx2.example.com:8025/\n"
	    "empty =\n";

	/* syntax */
	cf = parse(text, &err);
	ok(cf != NULL, "example parses: %s", err.msg);
	if (cf == NULL)
		return test_done();
	ok(cf->n == 4, "4 sections");
	is_str(cf->sections[0].type, "syncd", "section type");
	is_str(cf->sections[0].name, "", "unnamed section");
	ok(cf->sections[0].line == 3, "header line");
	ok(cf->sections[0].n == 6, "6 keys in [syncd]");
	is_str(cf->sections[0].entries[0].value, "127.0.0.1:8025",
	       "inline comment stripped");
	is_str(cf->sections[0].entries[1].key, "max_body",
	       "key without spaces around '='");
	is_str(cf->sections[0].entries[1].value, "64M",
	       "value without spaces around '='");
	is_str(cf->sections[0].entries[2].value,
	       "SELECT address FROM mailbox WHERE active = 1",
	       "continuation lines joined, comments stripped");
	ok(cf->sections[0].entries[2].line == 7, "line of a continued key");
	is_str(cf->sections[1].type, "source", "named section type");
	is_str(cf->sections[1].name, "mysql-main", "section name");
	is_str(cf->sections[1].entries[0].value, "a#b",
	       "'#' not after white space is kept");
	ok(cf->sections[2].n == 0, "empty section");
	is_str(cf->sections[3].name, "mx2.example.com",
	       "spaces inside brackets");
	is_str(cf->sections[3].entries[1].value, "", "empty value");
	ok(conf_line(&cf->sections[0], "timeout") == 10, "conf_line of a key");
	ok(conf_line(&cf->sections[0], "nope") == 3,
	   "conf_line of an absent key is the header's");

	/* apply */
	memset(&t, 0, sizeof(t));
	ok(conf_apply(cf, &cf->sections[0], keys, &t, &err) == 0,
	   "conf_apply: %s", err.msg);
	is_str(t.listen, "127.0.0.1:8025", "string");
	is_str(t.query, "SELECT address FROM mailbox WHERE active = 1",
	       "continued string");
	ok(t.max_body == 64ULL << 20, "size 64M");
	ok(t.timeout_ms == 1500, "duration 1500ms");
	ok(t.workers == 4, "uint default");
	ok(t.shrink == 2.5, "percent 2.5%%");
	ok(t.verify == 0, "bool Off");
	is_str(t.empty, "", "empty string default");
	conf_free_target(keys, &t);
	conf_free_target(keys, NULL);
	conf_free(cf);
	conf_free(NULL);

	/* a line longer than any fixed buffer */
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "[s]\nquery = ", 12);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	cf = parse(longline, &err);
	ok(cf && strlen(cf->sections[0].entries[0].value) ==
		     sizeof(longline) - 14,
	   "a 5000-byte line is kept whole");
	conf_free(cf);

	/* syntax errors */
	bad("[syncd]\nlisten = a\nlisten = b\n",
	    "t.conf:3: duplicate key 'listen' (first at line 2)",
	    "duplicate key");
	bad("[backup mx2]\n[backup mx3]\n[backup mx2]\n",
	    "t.conf:3: duplicate section [backup mx2] (first at line 1)",
	    "duplicate named section");
	bad("[syncd]\n\n[syncd]\n",
	    "t.conf:3: duplicate section [syncd] (first at line 1)",
	    "duplicate unnamed section");
	bad("listen = a\n", "t.conf:1: 'listen' outside a [section]",
	    "key before any section");
	bad("[syncd\n", "t.conf:1: missing ']'", "unclosed header");
	bad("[syncd] x\n", "t.conf:1: text after ']'", "junk after header");
	bad("[]\n", "t.conf:1: bad section type ''", "empty header");
	bad("[a b c]\n", "t.conf:1: bad section name 'b c' (one word expected)",
	    "three words in a header");
	bad("[sync.d]\n", "t.conf:1: bad section type 'sync.d'",
	    "bad section type");
	bad("[s]\nthis line has no equals\n",
	    "t.conf:2: expected 'key = value'", "missing '='");
	bad("[s]\n= value\n", "t.conf:2: bad key ''", "empty key");
	bad("[s]\nbad key = 1\n", "t.conf:2: bad key 'bad key'",
	    "space in key");
	bad("  indented = 1\n",
	    "t.conf:1: continuation line without a preceding 'key = value'",
	    "continuation at the start");
	bad("[s]\n  x\n",
	    "t.conf:2: continuation line without a preceding 'key = value'",
	    "continuation after a header");
	cf = conf_read_buf("t.conf", "[s]\na = 1\0b\n", 12, &err);
	ok(cf == NULL, "refused: NUL byte");
	is_str(err.msg, "t.conf:2: NUL byte", "message for a NUL byte");

	/* conf_apply errors */
	bad_apply("[syncd]\nlisten = x\nbogus = 1\n",
		  "t.conf:3: [syncd]: unknown key 'bogus'", "unknown key");
	bad_apply("[syncd]\nmax_body = 1M\n",
		  "t.conf:1: [syncd]: missing key 'listen'", "missing key");
	bad_apply("[backup mx2]\nmax_body = 1M\n",
		  "t.conf:1: [backup mx2]: missing key 'listen'",
		  "missing key in a named section");
	bad_apply("[syncd]\nlisten = x\nmax_body = 0\n",
		  "t.conf:3: max_body: 0 is below the minimum 1",
		  "size below the minimum");
	bad_apply("[syncd]\nlisten = x\nmax_body = 5G\n",
		  "t.conf:3: max_body: 5G is above the maximum 4G",
		  "size above the maximum");
	bad_apply("[syncd]\nlisten = x\nmax_body = 12Q\n",
		  "t.conf:3: max_body: '12Q' is not a size (e.g. 512, 64K, "
		  "512M, 2G)",
		  "bad size suffix");
	bad_apply("[syncd]\nlisten = x\nmax_body = 99999999999999999999\n",
		  "t.conf:3: max_body: '99999999999999999999' is not a size "
		  "(e.g. 512, 64K, 512M, 2G)",
		  "overflowing size");
	bad_apply("[syncd]\nlisten = x\nmax_body = 17179869184G\n",
		  "t.conf:3: max_body: '17179869184G' is not a size (e.g. "
		  "512, 64K, 512M, 2G)",
		  "size overflowing with its suffix");
	bad_apply("[syncd]\nlisten = x\ntimeout = 500ms\n",
		  "t.conf:3: timeout: 500ms is below the minimum 1s",
		  "duration below the minimum");
	bad_apply("[syncd]\nlisten = x\ntimeout = 2h\n",
		  "t.conf:3: timeout: 2h is above the maximum 1h",
		  "duration above the maximum");
	bad_apply(
	    "[syncd]\nlisten = x\ntimeout = 5 s\n",
	    "t.conf:3: timeout: '5 s' is not a duration (e.g. 500ms, 30s, "
	    "10m, 2h, 7d)",
	    "bad duration");
	bad_apply("[syncd]\nlisten = x\ntimeout = -5\n",
		  "t.conf:3: timeout: '-5' is not a duration (e.g. 500ms, 30s, "
		  "10m, 2h, 7d)",
		  "negative duration");
	bad_apply("[syncd]\nlisten = x\nworkers = 0x10\n",
		  "t.conf:3: workers: '0x10' is not a number", "hex uint");
	bad_apply("[syncd]\nlisten = x\nworkers = 65\n",
		  "t.conf:3: workers: 65 is above the maximum 64",
		  "uint above the maximum");
	bad_apply("[syncd]\nlisten = x\nmax_shrink = 101%\n",
		  "t.conf:3: max_shrink: '101%' is not a percentage from 0 to "
		  "100 (e.g. 10%)",
		  "percent over 100");
	bad_apply("[syncd]\nlisten = x\nmax_shrink = ten\n",
		  "t.conf:3: max_shrink: 'ten' is not a percentage from 0 to "
		  "100 (e.g. 10%)",
		  "percent not a number");
	bad_apply("[syncd]\nlisten = x\nmax_shrink = 1e2\n",
		  "t.conf:3: max_shrink: '1e2' is not a percentage from 0 to "
		  "100 (e.g. 10%)",
		  "percent in exponent form");
	bad_apply("[syncd]\nlisten = x\nverify = maybe\n",
		  "t.conf:3: verify: 'maybe' is not yes or no", "bad bool");

	/* value forms */
	{
		static const struct {
			const char *s;
			uint64_t v;
		} sizes[] =
		    {
			{"512", 512},	    {"64K", 65536},
			{"64k", 65536},	    {"512M", 512ULL << 20},
			{"2G", 2ULL << 30}, {"0", 0},
		    },
		  durs[] = {
		      {"500ms", 500},  {"5", 5000},	{"5s", 5000},
		      {"10m", 600000}, {"2h", 7200000}, {"7d", 604800000},
		      {"0", 0},
		  };
		size_t i;

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			ok(conf_parse_size(sizes[i].s, &v) == 0 &&
			       v == sizes[i].v,
			   "size %s", sizes[i].s);
		for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++)
			ok(conf_parse_duration(durs[i].s, &v) == 0 &&
			       v == durs[i].v,
			   "duration %s", durs[i].s);
		ok(conf_parse_size("", &v) < 0 &&
		       conf_parse_size("M", &v) < 0 &&
		       conf_parse_size("1MB", &v) < 0 &&
		       conf_parse_size(" 1", &v) < 0,
		   "bad sizes refused");
		ok(conf_parse_duration("", &v) < 0 &&
		       conf_parse_duration("1w", &v) < 0 &&
		       conf_parse_duration("1.5s", &v) < 0 &&
		       conf_parse_duration("99999999999999999d", &v) < 0,
		   "bad durations refused");
	}
	{
		static const char *yes[] = {"yes", "true", "on", "1", "YES"};
		static const char *no[] = {"no", "false", "off", "0", "False"};
		char buf[64];
		size_t i;

		for (i = 0; i < 5; i++) {
			snprintf(buf, sizeof(buf), "[s]\nlisten=x\nverify=%s\n",
				 yes[i]);
			ok(apply_one(buf, &t, &err) == 0 && t.verify == 1,
			   "bool %s", yes[i]);
			conf_free_target(keys, &t);
			snprintf(buf, sizeof(buf), "[s]\nlisten=x\nverify=%s\n",
				 no[i]);
			ok(apply_one(buf, &t, &err) == 0 && t.verify == 0,
			   "bool %s", no[i]);
			conf_free_target(keys, &t);
		}
		ok(apply_one("[s]\nlisten=x\nmax_shrink=10\n", &t, &err) == 0 &&
		       t.shrink == 10.0,
		   "percent without '%%'");
		conf_free_target(keys, &t);
	}

	/* list values: words separated by blanks, tabs and commas */
	{
		static const struct {
			const char *text, *want;
		} lists[] = {
		    {"", ""},
		    {" \t, ,", ""},
		    {"a", "a|"},
		    {"a b", "a|b|"},
		    {"a,b", "a|b|"},
		    {" , a,\tbb ,, ccc\t", "a|bb|ccc|"},
		    {"10.0.0.0/8,::1/128 x@example.org",
		     "10.0.0.0/8|::1/128|x@example.org|"},
		    {"a\nb", "a\nb|"},
		};
		char got[128];
		const char *p, *w;
		size_t i, len, used;

		for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
			p = lists[i].text;
			used = 0;
			got[0] = '\0';
			while ((w = conf_words_next(&p, &len)) != NULL &&
			       used + len + 2 <= sizeof(got)) {
				memcpy(got + used, w, len);
				got[used + len] = '|';
				used += len + 1;
				got[used] = '\0';
			}
			is_str(got, lists[i].want, "words of \"%s\"",
			       lists[i].text);
			ok(w == NULL && len == 0 && *p == '\0',
			   "list \"%s\" ends at its end", lists[i].text);
		}
		p = "x y";
		w = conf_words_next(&p, &len);
		ok(w != NULL && len == 1 && *w == 'x' && strcmp(p, " y") == 0,
		   "the word is returned in place and *p moved past it");
	}

	/* files */
	{
		char path[] = "/tmp/mxsync-conf.XXXXXX";
		int fd = mkstemp(path);

		if (fd >= 0) {
			if (write(fd, "[syncd]\nlisten = y\nx\n", 21) != 21)
				ok(0, "write");
			close(fd);
		}
		cf = conf_read(path, &err);
		ok(cf == NULL &&
		       strstr(err.msg, ":3: expected 'key = value'") &&
		       strncmp(err.msg, path, strlen(path)) == 0,
		   "conf_read names the file: %s", err.msg);
		unlink(path);
		ok(conf_read(path, &err) == NULL &&
		       strstr(err.msg, "No such file"),
		   "missing file: %s", err.msg);
		ok(conf_read("/tmp", &err) == NULL &&
		       strstr(err.msg, "not a regular file"),
		   "directory refused");
	}
	return test_done();
}
