/*
 * postmap.h - run the real postmap(1) on a text map and read back the keys
 * it stored (cdb -d), for tests that prove mxsync folds and parses exactly
 * as Postfix does.  Needs postfix, postfix-cdb and tinycdb's cdb tool.
 */
#ifndef MXSYNC_TEST_POSTMAP_H
#define MXSYNC_TEST_POSTMAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pm_keys {
	char **key;
	size_t *len;
	size_t n;
};

static int pm_write(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	int r;

	if (fp == NULL)
		return -1;
	r = fwrite(data, 1, len, fp) == len ? 0 : -1;
	return fclose(fp) == 0 ? r : -1;
}

/* pm_run - postmap cdb: over text; the stored keys, in file order */
static int pm_run(const char *text, size_t tlen, struct pm_keys *out)
{
	char dir[] = "/tmp/mxsync-postmap-XXXXXX", path[256], cmd[1024];
	char mcf[8192];
	FILE *fp;
	size_t n;
	int c, ret = -1;

	memset(out, 0, sizeof(*out));
	if (mkdtemp(dir) == NULL)
		return -1;
	fp = fopen("/usr/share/postfix/main.cf.debian", "rb");
	if (fp == NULL) {
		printf("# no /usr/share/postfix/main.cf.debian\n");
		goto out;
	}
	n = fread(mcf, 1, sizeof(mcf), fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	if (pm_write(path, mcf, n) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/map", dir);
	if (pm_write(path, text, tlen) < 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "postmap -c %s cdb:%s/map 2>/dev/null", dir,
		 dir);
	if (system(cmd) != 0) {
		printf("# postmap failed: %s\n", cmd);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "cdb -d %s/map.cdb", dir);
	fp = popen(cmd, "r");
	if (fp == NULL)
		goto out;
	/* Records are "+klen,vlen:key->value\n"; a blank line ends the dump. */
	while ((c = getc(fp)) == '+') {
		size_t kl, vl;
		char *k;

		if (fscanf(fp, "%zu,%zu:", &kl, &vl) != 2)
			break;
		k = malloc(kl + 1);
		if (fread(k, 1, kl, fp) != kl) {
			free(k);
			break;
		}
		k[kl] = '\0';
		for (n = 0; n < 2 + vl + 1; n++)
			getc(fp);
		out->key = realloc(out->key, (out->n + 1) * sizeof(char *));
		out->len = realloc(out->len, (out->n + 1) * sizeof(size_t));
		out->key[out->n] = k;
		out->len[out->n++] = kl;
	}
	ret = pclose(fp) == 0 ? 0 : -1;
out:
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ret = -1;
	return ret;
}

static void pm_free(struct pm_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->key[i]);
	free(k->key);
	free(k->len);
	memset(k, 0, sizeof(*k));
}

/* pm_find - index of a key, or -1 */
static long pm_find(const struct pm_keys *k, const char *key, size_t len)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->len[i] == len && memcmp(k->key[i], key, len) == 0)
			return (long)i;
	return -1;
}

#endif
