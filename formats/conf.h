/*
 * conf - configuration files: "key = value" lines in "[section]" or
 * "[section name]" blocks, "#" comments (whole line, or after white space
 * at the end of a value), a line starting with white space continues the
 * previous value.  Every error is "file:line: message".
 *
 * A program describes each section by a table of keys (name, type, default,
 * bounds, target offset) and applies it with conf_apply(); unknown keys, bad
 * values and missing required keys are refused.  Nothing here exits or
 * prints: the caller reports and exits 2.
 */
#ifndef MXSYNC_CONF_H
#define MXSYNC_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct conf_entry {
	const char *key;
	const char *value;
	unsigned line;
};

struct conf_section {
	const char *type; /* "syncd", "source", "backup", ... */
	const char *name; /* "" for an unnamed section */
	unsigned line;	  /* of the [header] */
	struct conf_entry *entries;
	size_t n;
};

struct conf_file {
	char *path;
	struct conf_section *sections;
	size_t n;
	/* private: storage */
	char *text;
	size_t cap;
};

/* conf_read - parse the file's syntax (not its keys); caller frees */
struct conf_file *conf_read(const char *path, struct err *err);
struct conf_file *conf_read_buf(const char *name, const char *text, size_t len,
				struct err *err);
void conf_free(struct conf_file *cf);

enum conf_type {
	CONF_STRING,   /* char *, malloc'd copy */
	CONF_UINT,     /* uint64_t, plain decimal */
	CONF_SIZE,     /* uint64_t octets: 512, 64K, 512M, 2G */
	CONF_DURATION, /* uint64_t milliseconds: 500ms, 5s, 10m, 2h, 7d */
	CONF_PERCENT,  /* double 0..100 from "10%" or "10" */
	CONF_BOOL,     /* int: yes/no, true/false, on/off, 1/0 */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;   /* default as text; NULL = required */
	size_t offset;	   /* into the caller's struct */
	uint64_t min, max; /* bounds for UINT, SIZE, DURATION (0,0 = none) */
};

/*
 * conf_apply - set the target struct from one section and the table.
 * Keys absent from the section get their default; a required key that is
 * absent is "file:line: [type name]: missing key 'x'" (line of the header).
 */
int conf_apply(const struct conf_file *cf, const struct conf_section *sec,
	       const struct conf_key *table, void *target, struct err *err);

/* conf_free_target - free the CONF_STRING fields the table set */
void conf_free_target(const struct conf_key *table, void *target);

/* conf_line - line of key in sec, or of the section header if absent */
unsigned conf_line(const struct conf_section *sec, const char *key);

/*
 * conf_words_next - the next word of a value that lists words separated by
 * blanks, tabs or commas ("a, b c"): its start, its length in *len_r, and
 * *p moved past it; NULL (and *len_r 0) when no word is left
 */
const char *conf_words_next(const char **p, size_t *len_r);

/* Value parsers, also used for command-line options. */
int conf_parse_size(const char *s, uint64_t *out);
int conf_parse_duration(const char *s, uint64_t *ms_out);

#endif
