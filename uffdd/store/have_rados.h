/* SPDX-License-Identifier: MIT */
/*
 * Whether this build has the rados: backend: exactly when librados' header
 * is there (Debian: librados-dev; Debian 12 ships no rados.pc).  Decided by
 * the compiler, so the daemon's object list needs no flag; librados itself
 * is loaded (dlopen) when a rados: store is opened (store_rados.c).
 */
#ifndef UFFDD_HAVE_RADOS_H
#define UFFDD_HAVE_RADOS_H

#if defined(__has_include)
#if __has_include(<rados/librados.h>)
#define UFFDD_HAVE_RADOS 1
#endif
#endif

#endif
