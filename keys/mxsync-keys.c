/*
 * mxsync-keys - make and show the Ed25519 keys that sign mxsync snapshots
 *
 *	mxsync-keys generate -o FILE [-c COMMENT]
 *	mxsync-keys public FILE
 *	mxsync-keys trusted-line -o ORIGIN FILE DOMAIN...
 *
 * "generate" writes a new secret key file (never replacing one) and prints
 * the public line; run by root, it gives the file group mxsync (KEY_GROUP)
 * and mode 0640 when that group exists, so that the agent, which runs as
 * mxsync, can read a key root owns.  "public" prints the public line again
 * from the secret key file; "trusted-line" prints the line a backup's
 * trusted-keys file needs, from a secret key file or a file holding a public
 * line ("-" reads the public line from standard input).
 *
 * Exit codes: 0 ok, 1 refused or invalid data (an existing file, a key file
 * that others can read, a malformed key), 2 usage.
 *
 * Security: the secret key is only ever held by keys/key.c, which wipes it;
 * this program sees nothing but public material.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/buf.h"
#include "../formats/err.h"
#include "../formats/exitcode.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/manifest.h"
#include "../formats/norm.h"
#include "../formats/version.h"
#include "key.h"

#define KEYS_LINE_MAX 1024

static const char keys_usage_text[] =
    "usage: mxsync-keys generate -o FILE [-c COMMENT]\n"
    "       mxsync-keys public FILE\n"
    "       mxsync-keys trusted-line -o ORIGIN FILE DOMAIN...\n"
    "       mxsync-keys --help | --version\n";

static int keys_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "mxsync-keys: %s\n", why);
	fputs(keys_usage_text, stderr);
	return EXITCODE_USAGE;
}

static int keys_help(void)
{
	fputs(keys_usage_text, stdout);
	fputs("\n"
	      "  generate      create an Ed25519 key pair; the secret key "
	      "file is\n"
	      "                created with mode 0600 (as root: 0640, group "
	      "mxsync)\n"
	      "                and never overwritten; prints the public "
	      "line\n"
	      "  public        print the public line of a secret key file\n"
	      "  trusted-line  print the line for a backup's trusted-keys "
	      "file\n"
	      "\nExit codes: 0 ok, 1 refused or invalid data, 2 usage.\n",
	      stdout);
	return EXITCODE_OK;
}

/* keys_puts - print a line to stdout and make sure it got there */
static int keys_puts(const char *line)
{
	if (printf("%s\n", line) < 0 || fflush(stdout) != 0) {
		log_error("write(stdout): %s", strerror(errno));
		return EXITCODE_REFUSED;
	}
	return EXITCODE_OK;
}

static int keys_generate(int argc, char **argv)
{
	const char *out = NULL, *comment = "";
	char publine[KEYS_LINE_MAX];
	struct err err = {""};
	gid_t gid = (gid_t)-1;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+o:c:")) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'c':
			comment = optarg;
			break;
		default:
			return keys_usage(NULL);
		}
	}
	if (optind != argc)
		return keys_usage("generate: unexpected argument");
	if (out == NULL)
		return keys_usage("generate: -o FILE is required");
	/* root makes the agent's key: let the daemons' group read it */
	if (geteuid() == 0 && key_group_gid(&gid, &err) < 0) {
		log_error("%s", err.msg);
		return EXITCODE_REFUSED;
	}
	if (key_generate_group(out, comment, gid, publine, sizeof(publine),
			       &err) < 0) {
		log_error("%s", err.msg);
		return EXITCODE_REFUSED;
	}
	return keys_puts(publine);
}

static int keys_public(int argc, char **argv)
{
	struct key_secret *sk = NULL;
	char publine[KEYS_LINE_MAX];
	struct err err = {""};
	int rc = EXITCODE_REFUSED;

	if (argc == 2 && strcmp(argv[1], "--") != 0 && argv[1][0] == '-' &&
	    argv[1][1] != '\0')
		return keys_usage("public: unknown option");
	if (argc != 2)
		return keys_usage("public: want exactly one FILE");
	sk = key_load_secret(argv[1], &err);
	if (sk == NULL) {
		log_error("%s", err.msg);
		goto out;
	}
	if (key_secret_publine(sk, publine, sizeof(publine), &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	rc = keys_puts(publine);
out:
	key_secret_free(sk);
	return rc;
}

/*
 * keys_read_publine - if the file holds a public line, decode it into pk and
 * id and return 1; return 0 when it looks like something else (a secret key
 * file, which key_load_secret then reads without this code seeing it).
 */
static int keys_read_publine(const char *path, unsigned char *pk, char *id,
			     struct err *err)
{
	static const char tag[] = KEY_PUBLIC_TAG " ";
	char line[KEYS_LINE_MAX], *p, *kid, *b64;
	size_t len = 0, r;
	int fd = -1, rc = -1;

	fd = strcmp(path, "-") == 0
		 ? STDIN_FILENO
		 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(err, "open(%s)", path);
	/* read the tag only, so no secret material enters this buffer */
	if (fileio_read_upto(fd, path, line, sizeof(tag) - 1, &len, err) < 0)
		goto out;
	if (len < sizeof(tag) - 1 || memcmp(line, tag, sizeof(tag) - 1) != 0) {
		if (fd == STDIN_FILENO) {
			err_set(err, "%s: not a public key line", path);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (fileio_read_upto(fd, path, line + len, sizeof(line) - 1 - len, &r,
			     err) < 0)
		goto out;
	len += r;
	if (len >= sizeof(line) - 1) {
		err_set(err, "%s: public key line too long", path);
		goto out;
	}
	line[len] = '\0';
	p = strchr(line, '\n');
	if (p != NULL) {
		if (p[1] != '\0') {
			err_set(err, "%s: more than one line", path);
			goto out;
		}
		*p = '\0';
	}
	kid = line + sizeof(tag) - 1;
	p = strchr(kid, ' ');
	if (p == NULL) {
		err_set(err, "%s: no public key after the key id", path);
		goto out;
	}
	b64 = p + 1;
	p = strchr(b64, ' ');
	if (key_public_decode(kid, (size_t)(b64 - 1 - kid), b64,
			      p ? (size_t)(p - b64) : strlen(b64), pk,
			      err) < 0) {
		err_prefix(err, "%s", path);
		goto out;
	}
	memcpy(id, kid, KEY_ID_LEN);
	id[KEY_ID_LEN] = '\0';
	rc = 1;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

static int keys_trusted_line(int argc, char **argv)
{
	const char *origin = NULL, *file, *d;
	unsigned char pk[KEY_PUBLIC_LEN];
	char id[KEY_ID_LEN + 1], folded[NORM_BUF_SIZE];
	char b64[sodium_base64_ENCODED_LEN(KEY_PUBLIC_LEN,
					   sodium_base64_VARIANT_ORIGINAL)];
	struct key_secret *sk = NULL;
	struct buf line = BUF_INIT;
	struct err err = {""};
	size_t flen = 0;
	int c, r, rc = EXITCODE_REFUSED;

	optind = 1;
	while ((c = getopt(argc, argv, "+o:")) != -1) {
		switch (c) {
		case 'o':
			origin = optarg;
			break;
		default:
			return keys_usage(NULL);
		}
	}
	if (origin == NULL)
		return keys_usage("trusted-line: -o ORIGIN is required");
	if (argc - optind < 2)
		return keys_usage("trusted-line: want FILE and at least one "
				  "DOMAIN (\"*\" for any)");
	if (!manifest_origin_valid(origin, strlen(origin)))
		return keys_usage("trusted-line: malformed ORIGIN (letters, "
				  "digits, \".\" and \"-\")");
	/* check the domains before touching any key */
	for (c = optind + 1; c < argc; c++) {
		d = argv[c];
		if (strcmp(d, "*") != 0 &&
		    norm_domain(d, strlen(d), folded, sizeof(folded), &flen,
				&err) < 0) {
			fprintf(stderr,
				"mxsync-keys: malformed domain "
				"\"%s\": %s\n",
				d, err.msg);
			return keys_usage(NULL);
		}
	}
	file = argv[optind++];
	r = keys_read_publine(file, pk, id, &err);
	if (r < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	if (r == 0) {
		sk = key_load_secret(file, &err);
		if (sk == NULL) {
			log_error("%s", err.msg);
			goto out;
		}
		key_secret_public(sk, pk);
		memcpy(id, key_secret_id(sk), KEY_ID_LEN + 1);
	}
	sodium_bin2base64(b64, sizeof(b64), pk, KEY_PUBLIC_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	if (buf_printf(&line, "%s %s %s %s", origin, KEY_PUBLIC_TAG, id, b64) <
	    0)
		goto nomem;
	for (; optind < argc; optind++) {
		d = argv[optind];
		if (strcmp(d, "*") == 0) {
			memcpy(folded, "*", 2);
			flen = 1;
		} else if (norm_domain(d, strlen(d), folded, sizeof(folded),
				       &flen, &err) < 0) {
			log_error("malformed domain \"%s\": %s", d, err.msg);
			goto out;
		}
		if (buf_putc(&line, ' ') < 0 ||
		    buf_append(&line, folded, flen) < 0)
			goto nomem;
	}
	rc = keys_puts(line.data);
	goto out;
nomem:
	log_error("out of memory");
out:
	buf_free(&line);
	key_secret_free(sk);
	return rc;
}

int main(int argc, char **argv)
{
	struct err err = {""};
	const char *cmd;

	log_open("mxsync-keys", 0);
	if (argc < 2)
		return keys_usage("no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0)
		return keys_help();
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("mxsync-keys %s\n", MXSYNC_VERSION);
		return EXITCODE_OK;
	}
	if (key_init(&err) < 0) {
		log_error("%s", err.msg);
		return EXITCODE_REFUSED;
	}
	if (strcmp(cmd, "generate") == 0)
		return keys_generate(argc - 1, argv + 1);
	if (strcmp(cmd, "public") == 0)
		return keys_public(argc - 1, argv + 1);
	if (strcmp(cmd, "trusted-line") == 0)
		return keys_trusted_line(argc - 1, argv + 1);
	fprintf(stderr, "mxsync-keys: unknown command \"%s\"\n", cmd);
	return keys_usage(NULL);
}
