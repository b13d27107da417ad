/*
 * exitcode - the exit codes of every mxsync program: the product's
 * contract, as README and the man pages state it
 *
 *	0	ok
 *	1	refused or invalid data
 *	2	usage or configuration error
 *	75	temporary failure (EX_TEMPFAIL of sysexits.h): try again later
 */
#ifndef MXSYNC_EXITCODE_H
#define MXSYNC_EXITCODE_H

#define EXITCODE_OK 0
#define EXITCODE_REFUSED 1
#define EXITCODE_USAGE 2
#define EXITCODE_TEMP 75

#endif
