/* The query files' patterns, matched in one walk of a tree (see stages/patterns.py for the pattern subset). */
#ifndef STAGES_NATIVE_MATCH_H
#define STAGES_NATIVE_MATCH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "tree_sitter/api.h"

typedef struct Matcher Matcher;

#define ANCESTORS 3 /* enough for ``export declare const x``: declarator, declaration, declare, export */

/* A captured node's nearest visible ancestors, as ts_node_parent would give them: ``above[0]`` its parent,
   ``above[1]`` the parent's parent, and so on (null above the root). ts_node_parent walks down from the root,
   so asking it for every capture costs the tree's depth each time (20,000 nested functions took 21 s); the
   walk knows them for free. */
typedef struct {
    TSNode above[ANCESTORS];
} Ancestors;

/* Called once per capture of every match, in walk order; a negative return stops the walk with that status. */
typedef int (*CaptureCallback)(void *context, uint16_t capture, TSNode node, const Ancestors *ancestors);

/* Called once per node the walk visits, before its matches; a negative return stops the walk with that status
   (the extractor's deadline). */
typedef int (*StepCallback)(void *context);

/* Builds a matcher from ``stages.patterns.Step`` tuples; NULL with a Python exception set on bad input. */
Matcher *matcher_new(PyObject *patterns, uint32_t capture_count);

void matcher_free(Matcher *matcher);

/* Every match of every pattern in the tree under ``root``, nodes in pre-order, in one iterative walk (no
   recursion on the tree's depth); 0, -1 on allocation failure (no Python exception set), or a callback's
   negative status. */
int matcher_run(const Matcher *matcher, TSNode root, CaptureCallback callback, StepCallback step, void *context);

#endif
