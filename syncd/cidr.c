/*
 * cidr - address prefixes for the "allow" list of the push port
 *
 * Owns parsing and matching of prefixes.  Fails with "allow: 'word': why".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/conf.h"
#include "cidr.h"

/* cidr_one - one word "addr" or "addr/bits" */
static int cidr_one(const char *w, size_t len, struct cidr *out,
		    struct err *err)
{
	char buf[64], *slash, *end;
	unsigned long bits;
	int v4 = 0;

	if (len >= sizeof(buf))
		return err_set(err, "allow: '%.*s': too long", (int)len, w);
	memcpy(buf, w, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr + 12) == 1) {
		out->addr[10] = out->addr[11] = 0xff;
		v4 = 1;
	} else if (inet_pton(AF_INET6, buf, out->addr) != 1)
		return err_set(err, "allow: '%s': not an IP address", buf);
	bits = v4 ? 32 : 128;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			return err_set(err, "allow: '%.*s': bad prefix length",
				       (int)len, w);
		bits = strtoul(slash, &end, 10);
		if (*end != '\0' || bits > (v4 ? 32UL : 128UL))
			return err_set(err, "allow: '%.*s': bad prefix length",
				       (int)len, w);
	}
	out->bits = (unsigned)bits + (v4 ? 96 : 0);
	return 0;
}

int cidr_parse(const char *text, struct cidr **list_r, size_t *n_r,
	       struct err *err)
{
	struct cidr *list = NULL, *v;
	const char *p = text, *w;
	size_t n = 0, len;

	*list_r = NULL;
	*n_r = 0;
	while ((w = conf_words_next(&p, &len)) != NULL) {
		v = realloc(list, (n + 1) * sizeof(*list));
		if (v == NULL) {
			free(list);
			return err_sys(err, "malloc");
		}
		list = v;
		if (cidr_one(w, len, &list[n], err) < 0) {
			free(list);
			return -1;
		}
		n++;
	}
	*list_r = list;
	*n_r = n;
	return 0;
}

void cidr_key(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

int cidr_match(const struct cidr *list, size_t n, const unsigned char key[16])
{
	size_t i;
	unsigned full, rest;

	for (i = 0; i < n; i++) {
		full = list[i].bits / 8;
		rest = list[i].bits % 8;
		if (memcmp(list[i].addr, key, full) != 0)
			continue;
		if (rest == 0 || ((list[i].addr[full] ^ key[full]) &
				  (unsigned char)(0xff << (8 - rest))) == 0)
			return 1;
	}
	return 0;
}
