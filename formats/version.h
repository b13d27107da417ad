/*
 * version - the release of mxsync that every program reports with --version
 *
 * One number for the three programs; debian/changelog carries the same one
 * (tests/t-deb.sh checks that they agree).
 */
#ifndef MXSYNC_VERSION_H
#define MXSYNC_VERSION_H

#ifndef MXSYNC_VERSION
#define MXSYNC_VERSION "0.1.0"
#endif

#endif
