/*
 * sandbox - what mxsyncd's network process gives up before it serves
 *
 * sandbox_enter() sets no_new_privs and, with mode "landlock", restricts
 * the calling process for good with a Landlock ruleset: no file may be
 * written, created, removed, renamed or truncated anywhere, no program
 * executed, files read only below /usr, /etc, /lib, /lib64 and /dev, no
 * TCP bind or connect (Landlock ABI 4), no signal to processes and no
 * connection to abstract Unix sockets outside the sandbox (ABI 6).
 * Descriptors opened before (the listening sockets, the channel) stay
 * usable.
 *
 * Fails closed: with mode "landlock" on a kernel without Landlock it
 * returns -1 with a message saying so (mode "none" sets no_new_privs only).
 */
#ifndef MXSYNC_SYNCD_SANDBOX_H
#define MXSYNC_SYNCD_SANDBOX_H

#include "../formats/err.h"

/* sandbox_enter - mode "landlock" or "none"; *abi_r the Landlock ABI used */
int sandbox_enter(const char *mode, int *abi_r, struct err *err);

#endif
