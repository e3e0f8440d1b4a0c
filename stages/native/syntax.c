/* Tree and Node: see syntax.h. A Node is a TSNode plus its Tree; its API is the part of py-tree-sitter's Node that
 * stages.syntax.SyntaxNode names (row builders and recovery read nothing else). Children are read with a tree
 * cursor (linear in their number; ts_node_child is linear per call). ``parent`` and the siblings are not offered:
 * tree-sitter finds them by walking down from the root, which costs the tree's depth on every call. */
#include "syntax.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

PyTypeObject *tree_object_type;
PyTypeObject *node_object_type;

/* ---- languages ------------------------------------------------------------------------------------ */

const TSLanguage *language_of_capsule(PyObject *capsule) {
    if (!PyCapsule_IsValid(capsule, "tree_sitter.Language")) {
        PyErr_Format(PyExc_TypeError,
                     "expected a grammar's language() capsule (a PyCapsule named \"tree_sitter.Language\"), not %.100s",
                     Py_TYPE(capsule)->tp_name);
        return NULL;
    }
    const TSLanguage *language = PyCapsule_GetPointer(capsule, "tree_sitter.Language");
    if (language == NULL) {
        return NULL;
    }
    uint32_t abi = ts_language_abi_version(language);
    if (abi < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || abi > TREE_SITTER_LANGUAGE_VERSION) {
        PyErr_Format(PyExc_ValueError,
                     "the grammar's ABI version is %u, and the tree-sitter runtime in stages/native/tree-sitter reads "
                     "versions %d to %d: use a grammar wheel built for that range, or update the vendored runtime",
                     abi, TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION, TREE_SITTER_LANGUAGE_VERSION);
        return NULL;
    }
    return language;
}

/* ---- Tree ------------------------------------------------------------------------------------------ */

PyObject *tree_object_new(TSTree *tree, PyObject *language) {
    TreeObject *self = PyObject_New(TreeObject, tree_object_type);
    if (self == NULL) {
        ts_tree_delete(tree);
        return NULL;
    }
    self->tree = tree;
    self->language = Py_NewRef(language);
    self->type_names = NULL;
    self->type_name_count = 0;
    self->field_ids = NULL;
    return (PyObject *)self;
}

static void tree_dealloc(TreeObject *self) {
    ts_tree_delete(self->tree);
    Py_DECREF(self->language);
    for (uint32_t index = 0; index < self->type_name_count; index++) {
        Py_XDECREF(self->type_names[index]);
    }
    PyMem_Free(self->type_names);
    Py_XDECREF(self->field_ids);
    PyTypeObject *type = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(type);
}

static PyObject *tree_root_node(TreeObject *self, void *closure) {
    (void)closure;
    return node_object_new(ts_tree_root_node(self->tree), (PyObject *)self);
}

static PyObject *tree_copy(TreeObject *self, PyObject *unused) {
    (void)unused;
    return tree_object_new(ts_tree_copy(self->tree), self->language);
}

static int read_point(PyObject *value, const char *name, TSPoint *point) {
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_Format(PyExc_TypeError, "%s must be a (row, column) tuple", name);
        return -1;
    }
    unsigned long row = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(value, 0));
    unsigned long column = row == (unsigned long)-1 && PyErr_Occurred()
                               ? (unsigned long)-1
                               : PyLong_AsUnsignedLong(PyTuple_GET_ITEM(value, 1));
    if (PyErr_Occurred()) {
        return -1;
    }
    if (row > UINT32_MAX || column > UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s is out of range", name);
        return -1;
    }
    *point = (TSPoint){(uint32_t)row, (uint32_t)column};
    return 0;
}

static PyObject *tree_edit(TreeObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"start_byte",  "old_end_byte",  "new_end_byte", "start_point",
                               "old_end_point", "new_end_point", NULL};
    unsigned int start_byte, old_end_byte, new_end_byte;
    PyObject *start_point, *old_end_point, *new_end_point;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$IIIOOO:edit", keywords, &start_byte, &old_end_byte,
                                     &new_end_byte, &start_point, &old_end_point, &new_end_point)) {
        return NULL;
    }
    TSInputEdit edit = {.start_byte = start_byte, .old_end_byte = old_end_byte, .new_end_byte = new_end_byte};
    if (read_point(start_point, "start_point", &edit.start_point) < 0 ||
        read_point(old_end_point, "old_end_point", &edit.old_end_point) < 0 ||
        read_point(new_end_point, "new_end_point", &edit.new_end_point) < 0) {
        return NULL;
    }
    if (start_byte > old_end_byte || start_byte > new_end_byte) {
        PyErr_SetString(PyExc_ValueError, "an edit starts after it ends");
        return NULL;
    }
    ts_tree_edit(self->tree, &edit);
    Py_RETURN_NONE;
}

static PyGetSetDef tree_getset[] = {
    {"root_node", (getter)tree_root_node, NULL, "The root of the tree.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef tree_methods[] = {
    {"copy", (PyCFunction)tree_copy, METH_NOARGS, "An independent copy (cheap: subtrees are shared)."},
    {"edit", (PyCFunction)(void (*)(void))tree_edit, METH_VARARGS | METH_KEYWORDS,
     "Tell the tree that a byte range was replaced (keyword arguments as tree-sitter names them), so a new parse "
     "may reuse what the edit did not touch."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot tree_slots[] = {
    {Py_tp_dealloc, tree_dealloc},
    {Py_tp_getset, tree_getset},
    {Py_tp_methods, tree_methods},
    {Py_tp_doc, "A syntax tree parsed by stages._native.parse; valid in the process that parsed it."},
    {0, NULL},
};

static PyType_Spec tree_spec = {"stages._native.Tree", sizeof(TreeObject), 0, Py_TPFLAGS_DEFAULT, tree_slots};

/* ---- Node ------------------------------------------------------------------------------------------ */

PyObject *node_object_new(TSNode node, PyObject *tree) {
    NodeObject *self = PyObject_New(NodeObject, node_object_type);
    if (self == NULL) {
        return NULL;
    }
    self->node = node;
    self->tree = Py_NewRef(tree);
    return (PyObject *)self;
}

static void node_dealloc(NodeObject *self) {
    Py_DECREF(self->tree);
    PyTypeObject *type = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(type);
}

/* A node, or None for a null node. */
static PyObject *node_or_none(TSNode node, PyObject *tree) {
    if (ts_node_is_null(node)) {
        Py_RETURN_NONE;
    }
    return node_object_new(node, tree);
}

static PyTypeObject *point_type; /* Point(row, column): a tuple with named fields, as py-tree-sitter's */

static PyObject *point_tuple(TSPoint point) {
    PyObject *row = PyLong_FromUnsignedLong(point.row);
    PyObject *column = PyLong_FromUnsignedLong(point.column);
    PyObject *result = row == NULL || column == NULL ? NULL : PyStructSequence_New(point_type);
    if (result == NULL) {
        Py_XDECREF(row);
        Py_XDECREF(column);
        return NULL;
    }
    PyStructSequence_SetItem(result, 0, row);
    PyStructSequence_SetItem(result, 1, column);
    return result;
}

/* The node's type name, interned once per symbol and tree (interning looks the name up in a table: a row builder
   reads a type per node it touches). */
static PyObject *node_type_name(NodeObject *self, void *closure) {
    (void)closure;
    TreeObject *tree = (TreeObject *)self->tree;
    TSSymbol symbol = ts_node_symbol(self->node);
    if (tree->type_names == NULL) {
        uint32_t count = ts_language_symbol_count(ts_tree_language(tree->tree));
        tree->type_names = PyMem_Calloc(count ? count : 1, sizeof(PyObject *));
        if (tree->type_names == NULL) {
            return PyErr_NoMemory();
        }
        tree->type_name_count = count;
    }
    if (symbol >= tree->type_name_count) { /* ERROR (the runtime's largest symbol) is no entry of the table */
        return PyUnicode_InternFromString(ts_node_type(self->node));
    }
    if (tree->type_names[symbol] == NULL) {
        tree->type_names[symbol] = PyUnicode_InternFromString(ts_node_type(self->node));
        if (tree->type_names[symbol] == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(tree->type_names[symbol]);
}

static PyObject *node_is_named(NodeObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(ts_node_is_named(self->node));
}

static PyObject *node_is_missing(NodeObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(ts_node_is_missing(self->node));
}

static PyObject *node_has_error(NodeObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(ts_node_has_error(self->node));
}

static PyObject *node_start_byte(NodeObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(ts_node_start_byte(self->node));
}

static PyObject *node_end_byte(NodeObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(ts_node_end_byte(self->node));
}

static PyObject *node_start_point(NodeObject *self, void *closure) {
    (void)closure;
    return point_tuple(ts_node_start_point(self->node));
}

static PyObject *node_end_point(NodeObject *self, void *closure) {
    (void)closure;
    return point_tuple(ts_node_end_point(self->node));
}

static PyObject *node_extent(NodeObject *self, void *closure) {
    (void)closure;
    TSPoint start = ts_node_start_point(self->node);
    TSPoint end = ts_node_end_point(self->node);
    uint32_t fields[6] = {ts_node_start_byte(self->node), ts_node_end_byte(self->node), start.row, start.column,
                          end.row, end.column};
    PyObject *result = PyTuple_New(6);
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < 6; index++) {
        PyObject *item = PyLong_FromUnsignedLong(fields[index]);
        if (item == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, index, item);
    }
    return result;
}

static PyObject *node_child_count(NodeObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(ts_node_child_count(self->node));
}

static PyObject *node_named_child_count(NodeObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(ts_node_named_child_count(self->node));
}

/* The children of ``self`` (only named ones, or only those at ``field``, when asked), read with a cursor. */
static PyObject *children_list(NodeObject *self, bool named_only, TSFieldId field) {
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    TSTreeCursor cursor = ts_tree_cursor_new(self->node);
    bool more = ts_tree_cursor_goto_first_child(&cursor);
    while (more) {
        TSNode child = ts_tree_cursor_current_node(&cursor);
        if ((!named_only || ts_node_is_named(child)) &&
            (field == 0 || ts_tree_cursor_current_field_id(&cursor) == field)) {
            PyObject *item = node_object_new(child, self->tree);
            if (item == NULL || PyList_Append(list, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(list);
                ts_tree_cursor_delete(&cursor);
                return NULL;
            }
            Py_DECREF(item);
        }
        more = ts_tree_cursor_goto_next_sibling(&cursor);
    }
    ts_tree_cursor_delete(&cursor);
    return list;
}

static PyObject *node_children(NodeObject *self, void *closure) {
    (void)closure;
    return children_list(self, false, 0);
}

static PyObject *node_named_children(NodeObject *self, void *closure) {
    (void)closure;
    return children_list(self, true, 0);
}

static int child_index(PyObject *argument, uint32_t *index) {
    Py_ssize_t value = PyLong_AsSsize_t(argument);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    *index = value < 0 || value > UINT32_MAX ? UINT32_MAX : (uint32_t)value;
    return 0;
}

static PyObject *node_child(NodeObject *self, PyObject *argument) {
    uint32_t index;
    if (child_index(argument, &index) < 0) {
        return NULL;
    }
    if (index >= ts_node_child_count(self->node)) {
        Py_RETURN_NONE;
    }
    return node_or_none(ts_node_child(self->node, index), self->tree);
}

static PyObject *node_named_child(NodeObject *self, PyObject *argument) {
    uint32_t index;
    if (child_index(argument, &index) < 0) {
        return NULL;
    }
    if (index >= ts_node_named_child_count(self->node)) {
        Py_RETURN_NONE;
    }
    return node_or_none(ts_node_named_child(self->node, index), self->tree);
}

/* The id of field ``name`` in the node's language; 0 (no field) for a name the grammar lacks; -1 on error.
   Remembered per tree: the runtime compares the name with every field name of the grammar. */
static int field_id(NodeObject *self, PyObject *name, TSFieldId *id) {
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "a field name must be a str");
        return -1;
    }
    TreeObject *tree = (TreeObject *)self->tree;
    if (tree->field_ids == NULL && (tree->field_ids = PyDict_New()) == NULL) {
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(tree->field_ids, name);
    if (known != NULL) {
        *id = (TSFieldId)PyLong_AsUnsignedLong(known);
        return 0;
    }
    Py_ssize_t length;
    const char *text = PyErr_Occurred() ? NULL : PyUnicode_AsUTF8AndSize(name, &length);
    if (text == NULL) {
        return -1;
    }
    *id = ts_language_field_id_for_name(ts_tree_language(tree->tree), text, (uint32_t)length);
    PyObject *value = PyLong_FromUnsignedLong(*id);
    int stored = value == NULL ? -1 : PyDict_SetItem(tree->field_ids, name, value);
    Py_XDECREF(value);
    return stored;
}

static PyObject *node_child_by_field_name(NodeObject *self, PyObject *name) {
    TSFieldId id;
    if (field_id(self, name, &id) < 0) {
        return NULL;
    }
    if (id == 0) {
        Py_RETURN_NONE;
    }
    return node_or_none(ts_node_child_by_field_id(self->node, id), self->tree);
}

static PyObject *node_children_by_field_name(NodeObject *self, PyObject *name) {
    TSFieldId id;
    if (field_id(self, name, &id) < 0) {
        return NULL;
    }
    return id == 0 ? PyList_New(0) : children_list(self, false, id);
}

static PyObject *node_field_name_for_child(NodeObject *self, PyObject *argument) {
    uint32_t index;
    if (child_index(argument, &index) < 0) {
        return NULL;
    }
    const char *name = index < ts_node_child_count(self->node) ? ts_node_field_name_for_child(self->node, index)
                                                                : NULL;
    if (name == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_InternFromString(name);
}

static PyObject *node_richcompare(PyObject *self, PyObject *other, int op) {
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(other, node_object_type)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    bool equal = ts_node_eq(((NodeObject *)self)->node, ((NodeObject *)other)->node);
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

static Py_hash_t node_hash(NodeObject *self) {
    Py_hash_t hash = (Py_hash_t)((uintptr_t)self->node.id ^ ((uintptr_t)self->node.tree >> 4));
    return hash == -1 ? -2 : hash;
}

static PyObject *node_repr(NodeObject *self) {
    TSPoint start = ts_node_start_point(self->node);
    TSPoint end = ts_node_end_point(self->node);
    return PyUnicode_FromFormat("<Node type=%s, start_point=(%u, %u), end_point=(%u, %u)>", ts_node_type(self->node),
                                start.row, start.column, end.row, end.column);
}

static PyGetSetDef node_getset[] = {
    {"type", (getter)node_type_name, NULL, "The node's type (the grammar's name for it).", NULL},
    {"is_named", (getter)node_is_named, NULL, "Whether the grammar names this node (not a bare token).", NULL},
    {"is_missing", (getter)node_is_missing, NULL, "Whether the parser inserted this node to recover.", NULL},
    {"has_error", (getter)node_has_error, NULL, "Whether the node is or contains a syntax error.", NULL},
    {"start_byte", (getter)node_start_byte, NULL, "Byte offset of the start.", NULL},
    {"end_byte", (getter)node_end_byte, NULL, "Byte offset of the end (exclusive).", NULL},
    {"start_point", (getter)node_start_point, NULL, "(row, byte column) of the start, both 0-based.", NULL},
    {"end_point", (getter)node_end_point, NULL, "(row, byte column) of the end, both 0-based.", NULL},
    {"extent", (getter)node_extent, NULL,
     "(start_byte, end_byte, start row, start column, end row, end column) in one read, all 0-based.", NULL},
    {"child_count", (getter)node_child_count, NULL, "The number of children.", NULL},
    {"named_child_count", (getter)node_named_child_count, NULL, "The number of named children.", NULL},
    {"children", (getter)node_children, NULL, "The children, in order (a new list).", NULL},
    {"named_children", (getter)node_named_children, NULL, "The named children, in order (a new list).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef node_methods[] = {
    {"child", (PyCFunction)node_child, METH_O, "The child at an index, or None."},
    {"named_child", (PyCFunction)node_named_child, METH_O, "The named child at an index, or None."},
    {"child_by_field_name", (PyCFunction)node_child_by_field_name, METH_O, "The first child at a field, or None."},
    {"children_by_field_name", (PyCFunction)node_children_by_field_name, METH_O, "Every child at a field."},
    {"field_name_for_child", (PyCFunction)node_field_name_for_child, METH_O,
     "The field name of the child at an index, or None."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot node_slots[] = {
    {Py_tp_dealloc, node_dealloc},
    {Py_tp_getset, node_getset},
    {Py_tp_methods, node_methods},
    {Py_tp_richcompare, node_richcompare},
    {Py_tp_hash, node_hash},
    {Py_tp_repr, node_repr},
    {Py_tp_doc, "A node of a stages._native.Tree (stages.syntax.SyntaxNode); valid while its tree lives."},
    {0, NULL},
};

static PyType_Spec node_spec = {"stages._native.Node", sizeof(NodeObject), 0, Py_TPFLAGS_DEFAULT, node_slots};

static PyStructSequence_Field point_fields[] = {
    {"row", "0-based line"}, {"column", "0-based byte column within the line"}, {NULL, NULL}};

static PyStructSequence_Desc point_desc = {"stages._native.Point", "A position: (row, byte column), both 0-based.",
                                           point_fields, 2};

int syntax_types_add(PyObject *module) {
    tree_object_type = (PyTypeObject *)PyType_FromSpec(&tree_spec);
    node_object_type = (PyTypeObject *)PyType_FromSpec(&node_spec);
    point_type = PyStructSequence_NewType(&point_desc);
    if (tree_object_type == NULL || node_object_type == NULL || point_type == NULL ||
        PyModule_AddObject(module, "Point", Py_NewRef(point_type)) < 0 ||
        PyModule_AddObject(module, "Tree", Py_NewRef(tree_object_type)) < 0 ||
        PyModule_AddObject(module, "Node", Py_NewRef(node_object_type)) < 0) {
        return -1;
    }
    return 0;
}
