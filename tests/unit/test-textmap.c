/*
 * test-textmap - postmap-style and list parsing: a tricky map whose keys
 * must equal what the real postmap cdb: stores, line numbers, values, and
 * every refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/norm.h"
#include "../../formats/textmap.h"
#include "postmap.h"
#include "test.h"

struct rec {
	char key[512], value[512];
	unsigned line;
};

struct recs {
	struct rec r[64];
	size_t n;
	size_t stop_at; /* fail on this record (1-based), 0 never */
};

static int collect(void *ctx, const char *key, size_t klen, const char *value,
		   size_t vlen, const char *file, unsigned line,
		   struct err *err)
{
	struct recs *rs = ctx;
	struct rec *r;

	if (rs->n == 64 || klen >= 512 || vlen >= 512)
		return err_set(err, "%s:%u: test overflow", file, line);
	if (rs->stop_at != 0 && rs->n + 1 == rs->stop_at)
		return err_set(err, "%s:%u: stopped by callback", file, line);
	r = &rs->r[rs->n++];
	memcpy(r->key, key, klen);
	r->key[klen] = '\0';
	memcpy(r->value, value, vlen);
	r->value[vlen] = '\0';
	r->line = line;
	return 0;
}

static const char tricky[] = "# comment at the top\n"
			     "  orphan continuation, ignored\n"
			     "Alice@Example.COM\tOK\n"
			     "bob@example.com   OK   with  spaces   \n"
			     "\"Quoted Key\"@Example.com value\n"
			     "\"quoted\\\"esc@x.com\" v\n"
			     "esc\\ aped@x.com v\n"
			     "multi@x.com first\n"
			     "# a comment inside a logical line\n"
			     "\tcontinued value\n"
			     "   \n"
			     "blank-inside@x.com\n"
			     "\n"
			     "  value-on-next-line\n"
			     "   # indented comment\n"
			     "crlf@x.com OK\r\n"
			     "Straße@X.com OK\n"
			     "dup@x.com first\n"
			     "DUP@x.com second\n"
			     "colon@x.com: alias-style\n"
			     "tab\tafter\tkey\n"
			     "last@x.com v";

static void test_tricky(void)
{
	struct recs rs = {.n = 0};
	struct err err = {""};
	struct pm_keys pk;
	char out[NORM_BUF_SIZE];
	size_t i, n, distinct = 0;
	int all = 1;

	ok(textmap_parse_buf("tricky", tricky, sizeof(tricky) - 1,
			     TEXTMAP_POSTMAP, collect, &rs, &err) == 0,
	   "tricky map parses: %s", err.msg);
	ok(rs.n == 14, "14 records (%zu)", rs.n);
	is_str(rs.r[0].key, "Alice@Example.COM", "key kept as written");
	ok(rs.r[0].line == 3, "first record on line 3 (%u)", rs.r[0].line);
	is_str(rs.r[1].value, "OK   with  spaces",
	       "value trimmed, interior kept");
	is_str(rs.r[2].key, "\"Quoted Key\"@Example.com", "quoted key");
	is_str(rs.r[3].key, "\"quoted\\\"esc@x.com\"",
	       "escaped quote in quotes");
	is_str(rs.r[4].key, "esc\\ aped@x.com", "escaped space");
	is_str(rs.r[5].value, "first\tcontinued value", "continuation joined");
	ok(rs.r[5].line == 8, "continued record on its first line (%u)",
	   rs.r[5].line);
	is_str(rs.r[6].key, "blank-inside@x.com",
	       "blank lines do not end a line");
	is_str(rs.r[6].value, "value-on-next-line",
	       "value from a continuation");
	is_str(rs.r[7].key, "crlf@x.com", "CR trimmed");
	is_str(rs.r[7].value, "OK", "CR not in value");
	is_str(rs.r[13].key, "last@x.com", "last line without newline");
	ok(rs.r[13].line == 22, "last line number (%u)", rs.r[13].line);

	ok(pm_run(tricky, sizeof(tricky) - 1, &pk) == 0, "postmap cdb: ran");
	/* Every folded key is stored by postmap, and nothing else is. */
	for (i = 0; i < rs.n; i++) {
		size_t j;
		int seen = 0;

		if (norm_fold(rs.r[i].key, strlen(rs.r[i].key), out,
			      sizeof(out), &n, &err) < 0) {
			all = 0;
			printf("# fold %s: %s\n", rs.r[i].key, err.msg);
			continue;
		}
		for (j = 0; j < i; j++) {
			char o2[NORM_BUF_SIZE];
			size_t n2;

			if (norm_fold(rs.r[j].key, strlen(rs.r[j].key), o2,
				      sizeof(o2), &n2, &err) == 0 &&
			    n2 == n && memcmp(o2, out, n) == 0)
				seen = 1;
		}
		distinct += !seen;
		if (pm_find(&pk, out, n) < 0) {
			all = 0;
			printf("# postmap lacks %s\n", out);
		}
	}
	ok(all, "every key the parser yields is a key postmap stored");
	ok(pk.n == distinct, "postmap stored exactly those keys (%zu, %zu)",
	   pk.n, distinct);
	pm_free(&pk);
}

static void fails(const char *text, size_t len, enum textmap_kind kind,
		  const char *want, const char *name)
{
	struct recs rs = {.n = 0};
	struct err err = {""};

	ok(textmap_parse_buf("map.txt", text, len, kind, collect, &rs, &err) ==
	       -1,
	   "refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
}

static void test_refusals(void)
{
	size_t big = TEXTMAP_LINE_MAX + 10, i;
	char *t = malloc(big + 400);
	struct recs rs = {.n = 0};
	struct err err = {""};

	fails("a@x v\n\"open@x v\n", 11, TEXTMAP_POSTMAP,
	      "map.txt:2: unbalanced '\"'", "open quote");
	fails("a@x v\nb\0@x v\n", 13, TEXTMAP_POSTMAP,
	      "map.txt:2: NUL byte in line", "NUL byte");
	fails("a@x v\n\xff@x v\n", 12, TEXTMAP_POSTMAP,
	      "map.txt:2: invalid UTF-8", "invalid UTF-8");
	fails("a@x v\nempty@x.com\nc@x v\n", 24, TEXTMAP_POSTMAP,
	      "map.txt:2: key without a value (postmap would skip this line; "
	      "is the file cut short?)",
	      "key without a value");
	fails("a@x v\nb@x \t \r\n", 14, TEXTMAP_POSTMAP,
	      "map.txt:2: key without a value (postmap would skip this line; "
	      "is the file cut short?)",
	      "key with only white space after it");
	fails("a@x v\nuser12@exa", 16, TEXTMAP_POSTMAP,
	      "map.txt:2: key without a value (postmap would skip this line; "
	      "is the file cut short?)",
	      "a line cut inside its key");
	ok(textmap_parse_buf("map.txt", "a@x v\nb@x v", 11, TEXTMAP_POSTMAP,
			     collect, &rs, &err) == 0 &&
	       rs.n == 2,
	   "a last line without its newline is read");
	rs.n = 0;
	fails("a@x\nb@x # c\n", 12, TEXTMAP_LIST,
	      "map.txt:2: unexpected text after the key",
	      "list: trailing text");
	ok(textmap_parse_buf("map.txt", "a@x b\n", 6, TEXTMAP_LIST, collect,
			     &rs, &err) == -1,
	   "list refuses a value");

	memset(t, 'a', big);
	memcpy(t + big, " v\n", 3);
	fails(t, big + 3, TEXTMAP_POSTMAP,
	      "map.txt:1: line longer than 16384 octets", "oversize line");
	/* Physical lines within bounds, logical line over them. */
	for (i = 0; i < big + 300; i += 100) {
		memset(t + i, ' ', 1);
		memset(t + i + 1, 'b', 98);
		t[i + 99] = '\n';
	}
	t[0] = 'k';
	fails(t, big + 300 - (big + 300) % 100, TEXTMAP_POSTMAP,
	      "map.txt:1: logical line longer than 16384 octets",
	      "oversize logical line");
	free(t);

	rs.n = 0;
	rs.stop_at = 2;
	ok(textmap_parse_buf("map.txt", "a@x v\nb@x v\nc@x v\n", 18,
			     TEXTMAP_POSTMAP, collect, &rs, &err) == -1 &&
	       rs.n == 1,
	   "callback failure stops the parse");
	is_str(err.msg, "map.txt:2: stopped by callback",
	       "callback message kept");

	ok(textmap_parse_file("/nonexistent/map", TEXTMAP_POSTMAP, collect, &rs,
			      &err) == -1,
	   "missing file refused");
	is_str(err.msg, "open(/nonexistent/map): No such file or directory",
	       "message for missing file");
	ok(textmap_parse_file("/tmp", TEXTMAP_POSTMAP, collect, &rs, &err) ==
	       -1,
	   "directory refused");
	is_str(err.msg, "/tmp: not a regular file", "message for a directory");
}

static void test_list_and_file(void)
{
	static const char list[] = "# list\n\n  alice@example.com  "
				   "\nBob@Example.com\n#x\n\tcarol@x.com";
	char path[] = "/tmp/test-textmap-XXXXXX";
	struct recs rs = {.n = 0};
	struct err err = {""};
	int fd;

	ok(textmap_parse_buf("l", list, sizeof(list) - 1, TEXTMAP_LIST, collect,
			     &rs, &err) == 0 &&
	       rs.n == 3,
	   "list parses");
	is_str(rs.r[0].key, "alice@example.com", "list key trimmed");
	ok(rs.r[0].line == 3 && rs.r[2].line == 6, "list line numbers");
	is_str(rs.r[2].key, "carol@x.com", "list: last line without newline");

	fd = mkstemp(path);
	ok(fd >= 0 && write(fd, tricky, sizeof(tricky) - 1) ==
			  (ssize_t)(sizeof(tricky) - 1),
	   "temp file written");
	close(fd);
	rs.n = 0;
	ok(textmap_parse_file(path, TEXTMAP_POSTMAP, collect, &rs, &err) == 0 &&
	       rs.n == 14,
	   "parse_file reads the same records");
	unlink(path);
}

int main(void)
{
	test_tricky();
	test_refusals();
	test_list_and_file();
	return test_done();
}
