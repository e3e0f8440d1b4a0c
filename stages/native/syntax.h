/* stages._native's own syntax trees: Tree and Node objects over the vendored tree-sitter runtime.
 *
 * Grammars come in as the ``language()`` capsule of their official wheels (a PyCapsule named
 * "tree_sitter.Language" holding a ``const TSLanguage *``), the public entry point those wheels keep across
 * releases; nothing here reads another package's objects, so the tree_sitter package may move freely. */
#ifndef STAGES_NATIVE_SYNTAX_H
#define STAGES_NATIVE_SYNTAX_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tree_sitter/api.h"

typedef struct {
    PyObject_HEAD
    TSTree *tree;
    PyObject *language; /* the grammar's capsule: the TSLanguage the tree's symbols index into */
    /* Filled as row builders ask (a builder reads types and fields hundreds of thousands of times per file):
       the interned name of each symbol (NULL: not asked yet), and field name -> field id. */
    PyObject **type_names;
    uint32_t type_name_count;
    PyObject *field_ids;
} TreeObject;

typedef struct {
    PyObject_HEAD
    TSNode node;
    PyObject *tree; /* the TreeObject that keeps ``node`` valid */
} NodeObject;

extern PyTypeObject *tree_object_type;
extern PyTypeObject *node_object_type;

/* Creates Tree and Node and adds them to ``module``; -1 with an exception set on failure. */
int syntax_types_add(PyObject *module);

/* A new Tree owning ``tree`` (deleted with it), or NULL with an exception set (``tree`` is then deleted). */
PyObject *tree_object_new(TSTree *tree, PyObject *language);

/* A new Node of ``tree`` (a TreeObject), or NULL with an exception set. */
PyObject *node_object_new(TSNode node, PyObject *tree);

/* The grammar a ``language()`` capsule holds, checked against the runtime's ABI range; NULL with an exception
   set when ``capsule`` is no such capsule or its ABI version is out of range. */
const TSLanguage *language_of_capsule(PyObject *capsule);

#endif
