/*
 * testutil.h - helpers shared by the unit tests.
 */
#ifndef OTPBRIDGE_TESTUTIL_H
#define OTPBRIDGE_TESTUTIL_H

/* Removes path: a file, or a directory with everything below it (links
 * are removed, never followed).  Missing paths are fine. */
void testutil_rm_rf(const char *path);

#endif
