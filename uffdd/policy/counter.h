/* SPDX-License-Identifier: MIT */
/*
 * Counters with one writer (the worker that owns them) and readers on
 * other threads (status): relaxed atomic loads and stores, no locked
 * read-modify-write on the fault path.  Policies keep theirs like this,
 * and so does the core.
 */
#ifndef UFFDD_COUNTER_H
#define UFFDD_COUNTER_H

#define CNT_LD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define CNT_ADD(x, v) __atomic_store_n(&(x), CNT_LD(x) + (v), __ATOMIC_RELAXED)

#endif
