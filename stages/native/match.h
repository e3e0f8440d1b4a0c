/* The query files' patterns, matched in one walk of a tree (see stages/patterns.py for the pattern subset). */
#ifndef STAGES_NATIVE_MATCH_H
#define STAGES_NATIVE_MATCH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "tree_sitter/api.h"

typedef struct Matcher Matcher;

/* Called once per capture of every match, in walk order; a negative return stops the walk with that status. */
typedef int (*CaptureCallback)(void *context, uint16_t capture, TSNode node);

/* Builds a matcher from ``stages.patterns.Step`` tuples; NULL with a Python exception set on bad input. */
Matcher *matcher_new(PyObject *patterns, uint32_t capture_count);

void matcher_free(Matcher *matcher);

/* Every match of every pattern in the tree under ``root``, nodes in pre-order; 0, -1 on allocation failure, or
   the callback's negative status. */
int matcher_run(const Matcher *matcher, TSNode root, CaptureCallback callback, void *context);

#endif
