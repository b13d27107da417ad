/*
 * sandbox - what mxsyncd's network process gives up before it serves
 *
 * Owns the Landlock ruleset.  The rights are masked to the ABI the kernel
 * reports, so an older kernel restricts what it knows.  Fails with the
 * call and the reason ("landlock_restrict_self: ...", "landlock: not
 * available in this kernel ...").
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

/* rights newer than the system headers may know */
#define SANDBOX_FS_REFER (1ULL << 13)		/* ABI 2 */
#define SANDBOX_FS_TRUNCATE (1ULL << 14)	/* ABI 3 */
#define SANDBOX_NET_BIND_TCP (1ULL << 0)	/* ABI 4 */
#define SANDBOX_NET_CONNECT_TCP (1ULL << 1)	/* ABI 4 */
#define SANDBOX_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define SANDBOX_SCOPE_SIGNAL (1ULL << 1)	/* ABI 6 */

#define SANDBOX_FS_READ                                                        \
	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define SANDBOX_FS_ABI1                                                        \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |          \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |          \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |      \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |          \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |          \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |        \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)

/* the kernel's struct landlock_ruleset_attr as of ABI 6 */
struct sandbox_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* the directories whose files the network process may still read */
static const char *const sandbox_read_dirs[] = {"/usr",	  "/etc", "/lib",
						"/lib64", "/dev", NULL};

/* sandbox_allow_read - a read rule for dir (absent ones are skipped) */
static int sandbox_allow_read(int ruleset, const char *dir, struct err *err)
{
	struct landlock_path_beneath_attr pb;
	int fd, rc;

	fd = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, "landlock: %s", dir);
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = SANDBOX_FS_READ;
	pb.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset,
			  LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	close(fd);
	if (rc < 0)
		return err_sys(err, "landlock_add_rule(%s)", dir);
	return 0;
}

int sandbox_enter(const char *mode, int *abi_r, struct err *err)
{
	struct sandbox_attr attr;
	size_t attr_size;
	long abi;
	int ruleset = -1, rc = -1, i;

	*abi_r = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(err, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (strcmp(mode, "none") == 0)
		return 0;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
		      LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return err_set(err,
			       "landlock: not available in this kernel (%s); "
			       "sandbox = none runs the network process "
			       "without it",
			       strerror(errno));
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = SANDBOX_FS_ABI1;
	attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 2)
		attr.handled_access_fs |= SANDBOX_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= SANDBOX_FS_TRUNCATE;
	if (abi >= 4) {
		attr.handled_access_net =
		    SANDBOX_NET_BIND_TCP | SANDBOX_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		attr.scoped =
		    SANDBOX_SCOPE_ABSTRACT_UNIX | SANDBOX_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset =
	    (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		err_sys(err, "landlock_create_ruleset");
		goto out;
	}
	for (i = 0; sandbox_read_dirs[i] != NULL; i++)
		if (sandbox_allow_read(ruleset, sandbox_read_dirs[i], err) < 0)
			goto out;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		err_sys(err, "landlock_restrict_self");
		goto out;
	}
	*abi_r = (int)abi;
	rc = 0;
out:
	if (ruleset >= 0)
		close(ruleset);
	return rc;
}
