/*
 * testutil.h - helpers shared by the unit tests.
 */
#ifndef OTPBRIDGE_TESTUTIL_H
#define OTPBRIDGE_TESTUTIL_H

/* Removes path: a file, or a directory with everything below it (links
 * are removed, never followed).  Missing paths are fine. */
void testutil_rm_rf(const char *path);

/* Unsets the proxy variables libcurl reads: the tests talk to 127.0.0.1
 * only, and no proxy may sit in between. */
void testutil_no_proxy(void);

#endif
