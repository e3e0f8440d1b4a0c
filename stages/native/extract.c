/* stages._native: the hot loops of the extract stage, in C.
 *
 * Runs a language's combined query over a tree in one pass, keeps the reference captures (the bulk of all
 * captures: every type name, callee and tag) as plain C records, and hands every other capture back to Python
 * as tree_sitter.Node objects. After Python has found the file's declarations, ``ReferenceCandidates.finish``
 * chooses one reference per name position and builds the ``Reference`` Structs with their enclosing symbol.
 *
 * The trees come from the tree_sitter package; this module reads them with a copy of the same tree-sitter
 * runtime (vendored in stages/native/tree-sitter, the version tree_sitter 0.26.1 bundles) and reads the
 * package's Node, Tree and Query objects through their C layout (tree_sitter/binding/types.h of that version).
 * stages/extract.py refuses to load this module next to any other tree_sitter version.
 *
 * Semantics (the contract of stages/extract.py, kept exactly):
 * - Captures are processed by capture name in sorted order, as Python does with ``sorted(captures.items())``.
 * - ``@reference.<kind>`` captures the name itself; ``@qualified.<kind>`` captures ``a.b`` / ``ns.T`` and the
 *   name is its last part (field ``property`` then ``name``, or ``name`` then ``property`` for types).
 * - At one name position the strongest kind wins (extends/implements 2, call/new/jsx 1, type 0); a qualified
 *   reference replaces a bare one of equal rank; a bare type reference never replaces anything, and is not
 *   recorded at a declared name position or for the name of a type parameter in scope.
 * - A bare call of ``require`` is not a reference: its call is returned to Python as a CommonJS import.
 * - A JSX tag whose first character is not upper case is an intrinsic element, not a reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree_sitter/api.h"

/* The C layout of tree_sitter 0.26.1's objects (tree_sitter/binding/types.h). */
typedef struct {
    PyObject_HEAD
    TSNode node;
    PyObject *children;
    PyObject *tree;
} TsNodeObject;

typedef struct {
    PyObject_HEAD
    TSTree *tree;
    PyObject *source;
    PyObject *language;
} TsTreeObject;

typedef struct {
    PyObject_HEAD
    TSQuery *query;
    PyObject *predicates;
    PyObject *settings;
    PyObject *assertions;
} TsQueryObject;

enum Family { FAMILY_PYTHON = 0, FAMILY_BARE = 1, FAMILY_QUALIFIED = 2 };
enum Kind { KIND_CALL, KIND_NEW, KIND_EXTENDS, KIND_IMPLEMENTS, KIND_TYPE, KIND_JSX, KIND_COUNT };

static const char *const KIND_NAMES[KIND_COUNT] = {"call", "new", "extends", "implements", "type", "jsx"};
static const int KIND_RANKS[KIND_COUNT] = {1, 1, 2, 2, 0, 1};

/* Types and names resolved once at import. */
static PyTypeObject *node_type;
static PyTypeObject *tree_type;
static PyTypeObject *query_type;
static PyObject *span_type;
static PyObject *reference_type;
static PyObject *span_kwnames;
static PyObject *reference_kwnames;
static PyObject *kind_strings[KIND_COUNT];

/* ---- small growable arrays ------------------------------------------------------------------------ */

typedef struct {
    uint32_t start;
    uint32_t end;
    uint32_t row;
    uint32_t column;
    int64_t qualifier_start; /* -1 for a bare reference */
    uint32_t order;          /* the rank of the capture name in sorted order, then the capture's sequence */
    uint32_t sequence;
    uint8_t kind;
    TSNode name_node;
} Candidate;

typedef struct {
    Candidate *items;
    size_t count;
    size_t capacity;
} CandidateArray;

static int candidates_push(CandidateArray *array, const Candidate *candidate) {
    if (array->count == array->capacity) {
        size_t capacity = array->capacity ? array->capacity * 2 : 256;
        Candidate *items = PyMem_Realloc(array->items, capacity * sizeof(Candidate));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        array->items = items;
        array->capacity = capacity;
    }
    array->items[array->count++] = *candidate;
    return 0;
}

/* ---- tree_sitter.Node objects --------------------------------------------------------------------- */

static PyObject *new_node(TSNode node, PyObject *tree) {
    TsNodeObject *self = PyObject_New(TsNodeObject, node_type);
    if (self == NULL) {
        return NULL;
    }
    self->node = node;
    self->children = NULL;
    Py_INCREF(tree);
    self->tree = tree;
    return (PyObject *)self;
}

/* ---- QueryPlan ------------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *query;         /* tree_sitter.Query */
    TSQueryCursor *cursor;   /* reused by every run */
    uint32_t capture_count;
    uint8_t *families;       /* per capture id */
    uint8_t *kinds;          /* per capture id, for reference families */
    uint32_t *orders;        /* per capture id: its position among capture names in sorted order */
    PyObject **names;        /* per capture id: the capture name as str */
    const TSLanguage *language; /* the language the field ids below belong to */
    TSFieldId field_name;
    TSFieldId field_property;
} QueryPlan;

typedef struct {
    PyObject_HEAD
    PyObject *tree; /* tree_sitter.Tree: keeps every TSNode below valid */
    CandidateArray candidates;
} ReferenceCandidates;

static PyTypeObject *reference_candidates_type;

static void query_plan_dealloc(QueryPlan *self) {
    if (self->cursor != NULL) {
        ts_query_cursor_delete(self->cursor);
    }
    if (self->names != NULL) {
        for (uint32_t index = 0; index < self->capture_count; index++) {
            Py_XDECREF(self->names[index]);
        }
    }
    PyMem_Free(self->names);
    PyMem_Free(self->families);
    PyMem_Free(self->kinds);
    PyMem_Free(self->orders);
    Py_XDECREF(self->query);
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static int compare_names(const void *left, const void *right, void *names_ptr) {
    PyObject **names = names_ptr;
    return PyUnicode_Compare(names[*(const uint32_t *)left], names[*(const uint32_t *)right]);
}

/* qsort_r is not portable; capture counts are tiny, so an insertion sort does. */
static void sort_capture_ids(uint32_t *ids, uint32_t count, PyObject **names) {
    for (uint32_t i = 1; i < count; i++) {
        uint32_t id = ids[i];
        uint32_t j = i;
        while (j > 0 && compare_names(&ids[j - 1], &id, names) > 0) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = id;
    }
}

static int classify_capture(QueryPlan *self, uint32_t id, const char *name, uint32_t length) {
    const char *suffix = NULL;
    uint8_t family = FAMILY_PYTHON;
    if (length > 10 && memcmp(name, "reference.", 10) == 0) {
        family = FAMILY_BARE;
        suffix = name + 10;
    } else if (length > 10 && memcmp(name, "qualified.", 10) == 0) {
        family = FAMILY_QUALIFIED;
        suffix = name + 10;
    }
    self->families[id] = family;
    self->kinds[id] = 0;
    if (family == FAMILY_PYTHON) {
        return 0;
    }
    size_t suffix_length = length - (size_t)(suffix - name);
    for (uint8_t kind = 0; kind < KIND_COUNT; kind++) {
        if (strlen(KIND_NAMES[kind]) == suffix_length && memcmp(KIND_NAMES[kind], suffix, suffix_length) == 0) {
            self->kinds[id] = kind;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "query capture @%.*s: unknown reference kind", (int)length, name);
    return -1;
}

static PyObject *query_plan_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"query", NULL};
    PyObject *query;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:QueryPlan", keywords, query_type, &query)) {
        return NULL;
    }
    QueryPlan *self = (QueryPlan *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->query = Py_NewRef(query);
    TSQuery *ts_query = ((TsQueryObject *)query)->query;
    uint32_t count = ts_query_capture_count(ts_query);
    self->capture_count = count;
    self->families = PyMem_Calloc(count ? count : 1, 1);
    self->kinds = PyMem_Calloc(count ? count : 1, 1);
    self->orders = PyMem_Calloc(count ? count : 1, sizeof(uint32_t));
    self->names = PyMem_Calloc(count ? count : 1, sizeof(PyObject *));
    self->cursor = ts_query_cursor_new();
    if (self->families == NULL || self->kinds == NULL || self->orders == NULL || self->names == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (uint32_t id = 0; id < count; id++) {
        uint32_t length;
        const char *name = ts_query_capture_name_for_id(ts_query, id, &length);
        self->names[id] = PyUnicode_FromStringAndSize(name, length);
        if (self->names[id] == NULL || classify_capture(self, id, name, length) < 0) {
            Py_DECREF(self);
            return NULL;
        }
        PyUnicode_InternInPlace(&self->names[id]);
    }
    uint32_t *ids = PyMem_Malloc((count ? count : 1) * sizeof(uint32_t));
    if (ids == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (uint32_t id = 0; id < count; id++) {
        ids[id] = id;
    }
    sort_capture_ids(ids, count, self->names);
    for (uint32_t position = 0; position < count; position++) {
        self->orders[ids[position]] = position;
    }
    PyMem_Free(ids);
    return (PyObject *)self;
}

/* Whether the UTF-8 text starts with an upper-case character (Python's ``str.isupper`` of its first one). */
static int starts_upper(const char *text, Py_ssize_t length) {
    unsigned char first = (unsigned char)text[0];
    if (first < 0x80) {
        return first >= 'A' && first <= 'Z';
    }
    PyObject *decoded = PyUnicode_DecodeUTF8(text, length, "replace");
    if (decoded == NULL) {
        return -1;
    }
    int upper = Py_UNICODE_ISUPPER(PyUnicode_READ_CHAR(decoded, 0));
    Py_DECREF(decoded);
    return upper;
}

static int append_node(PyObject *dict, PyObject *name, TSNode node, PyObject *tree) {
    PyObject *list = PyDict_GetItemWithError(dict, name);
    if (list == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        list = PyList_New(0);
        if (list == NULL || PyDict_SetItem(dict, name, list) < 0) {
            Py_XDECREF(list);
            return -1;
        }
        Py_DECREF(list);
    } else {
        /* The same node captured by two patterns under one name counts once (a set, as tree_sitter does);
           those captures arrive next to each other. */
        Py_ssize_t size = PyList_GET_SIZE(list);
        if (size > 0 && ts_node_eq(((TsNodeObject *)PyList_GET_ITEM(list, size - 1))->node, node)) {
            return 0;
        }
    }
    PyObject *node_object = new_node(node, tree);
    if (node_object == NULL) {
        return -1;
    }
    int status = PyList_Append(list, node_object);
    Py_DECREF(node_object);
    return status;
}

PyDoc_STRVAR(query_plan_run_doc,
             "run(tree, source, /)\n--\n\n"
             "Run the query over ``tree`` (parsed from ``source``). Returns ``(captures, requires, references)``: "
             "the captures Python handles as ``{name: [Node]}`` in document order, the ``require(...)`` calls, "
             "and the reference candidates to ``finish``.");

static PyObject *query_plan_run(QueryPlan *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyObject_TypeCheck(args[0], tree_type) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "run() takes a tree_sitter.Tree and its source bytes");
        return NULL;
    }
    PyObject *tree = args[0];
    const char *source = PyBytes_AS_STRING(args[1]);
    size_t source_length = (size_t)PyBytes_GET_SIZE(args[1]);
    TSTree *ts_tree = ((TsTreeObject *)tree)->tree;
    const TSLanguage *language = ts_tree_language(ts_tree);
    if (language != self->language) {
        self->language = language;
        self->field_name = ts_language_field_id_for_name(language, "name", 4);
        self->field_property = ts_language_field_id_for_name(language, "property", 8);
    }
    PyObject *captures = PyDict_New();
    PyObject *requires = PyList_New(0);
    ReferenceCandidates *references = PyObject_New(ReferenceCandidates, reference_candidates_type);
    if (references != NULL) {
        references->tree = Py_NewRef(tree);
        references->candidates = (CandidateArray){NULL, 0, 0};
    }
    if (captures == NULL || requires == NULL || references == NULL) {
        goto error;
    }
    TSQuery *ts_query = ((TsQueryObject *)self->query)->query;
    ts_query_cursor_exec(self->cursor, ts_query, ts_tree_root_node(ts_tree));
    TSQueryMatch match;
    uint32_t sequence = 0;
    uint32_t last_require_start = UINT32_MAX;
    while (ts_query_cursor_next_match(self->cursor, &match)) {
      for (uint16_t capture_index = 0; capture_index < match.capture_count; capture_index++) {
        TSQueryCapture capture = match.captures[capture_index];
        uint32_t id = capture.index;
        uint8_t family = self->families[id];
        if (family == FAMILY_PYTHON) {
            if (append_node(captures, self->names[id], capture.node, tree) < 0) {
                goto error;
            }
            continue;
        }
        uint8_t kind = self->kinds[id];
        TSNode name_node = capture.node;
        int64_t qualifier_start = -1;
        if (family == FAMILY_QUALIFIED) {
            TSFieldId first = kind == KIND_TYPE ? self->field_name : self->field_property;
            TSFieldId second = kind == KIND_TYPE ? self->field_property : self->field_name;
            name_node = ts_node_child_by_field_id(capture.node, first);
            if (ts_node_is_null(name_node)) {
                name_node = ts_node_child_by_field_id(capture.node, second);
            }
            if (ts_node_is_null(name_node)) {
                continue;
            }
            qualifier_start = ts_node_start_byte(capture.node);
        }
        uint32_t start = ts_node_start_byte(name_node);
        uint32_t end = ts_node_end_byte(name_node);
        if (start == end || end > source_length) {
            continue; /* a MISSING node inserted by error recovery */
        }
        if (family == FAMILY_BARE && kind == KIND_CALL && end - start == 7 &&
            memcmp(source + start, "require", 7) == 0) {
            /* A CommonJS import, recorded as such (once per call, however many patterns capture it). */
            TSNode call = ts_node_parent(name_node);
            if (!ts_node_is_null(call) && start != last_require_start) {
                last_require_start = start;
                PyObject *call_object = new_node(call, tree);
                if (call_object == NULL || PyList_Append(requires, call_object) < 0) {
                    Py_XDECREF(call_object);
                    goto error;
                }
                Py_DECREF(call_object);
            }
            continue;
        }
        if (family == FAMILY_BARE && kind == KIND_JSX) {
            int upper = starts_upper(source + start, (Py_ssize_t)(end - start));
            if (upper < 0) {
                goto error;
            }
            if (!upper) {
                continue; /* lower-case tags are intrinsic elements, not components */
            }
        }
        TSPoint point = ts_node_start_point(name_node);
        Candidate candidate = {
            .start = start,
            .end = end,
            .row = point.row,
            .column = point.column,
            .qualifier_start = qualifier_start,
            .order = self->orders[id],
            .sequence = sequence++,
            .kind = kind,
            .name_node = name_node,
        };
        if (candidates_push(&references->candidates, &candidate) < 0) {
            goto error;
        }
      }
    }
    return Py_BuildValue("(NNN)", captures, requires, (PyObject *)references);

error:
    Py_XDECREF(captures);
    Py_XDECREF(requires);
    Py_XDECREF(references);
    return NULL;
}

static PyMethodDef query_plan_methods[] = {
    {"run", (PyCFunction)(void (*)(void))query_plan_run, METH_FASTCALL, query_plan_run_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot query_plan_slots[] = {
    {Py_tp_new, query_plan_new},
    {Py_tp_dealloc, query_plan_dealloc},
    {Py_tp_methods, query_plan_methods},
    {Py_tp_doc, "QueryPlan(query)\n--\n\nA compiled query ready to run natively, with its capture names "
                "classified (references in C, the rest for Python)."},
    {0, NULL},
};

static PyType_Spec query_plan_spec = {
    .name = "stages._native.QueryPlan",
    .basicsize = sizeof(QueryPlan),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = query_plan_slots,
};

/* ---- ReferenceCandidates.finish ------------------------------------------------------------------- */

static void reference_candidates_dealloc(ReferenceCandidates *self) {
    PyMem_Free(self->candidates.items);
    Py_XDECREF(self->tree);
    PyTypeObject *type = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(type);
}

static int compare_processing_order(const void *left, const void *right) {
    const Candidate *a = left;
    const Candidate *b = right;
    if (a->order != b->order) {
        return a->order < b->order ? -1 : 1;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

static int compare_start(const void *left, const void *right) {
    const Candidate *a = left;
    const Candidate *b = right;
    return a->start < b->start ? -1 : (a->start > b->start);
}

static int compare_u32(const void *left, const void *right) {
    uint32_t a = *(const uint32_t *)left;
    uint32_t b = *(const uint32_t *)right;
    return a < b ? -1 : (a > b);
}

/* Open addressing from a name's start byte to its slot in the chosen references. */
typedef struct {
    uint32_t *keys; /* start + 1; 0 is empty */
    uint32_t *slots;
    size_t mask;
} StartTable;

static int start_table_init(StartTable *table, size_t count) {
    size_t size = 16;
    while (size < count * 2) {
        size <<= 1;
    }
    table->keys = PyMem_Calloc(size, sizeof(uint32_t));
    table->slots = PyMem_Malloc(size * sizeof(uint32_t));
    table->mask = size - 1;
    if (table->keys == NULL || table->slots == NULL) {
        PyMem_Free(table->keys);
        PyMem_Free(table->slots);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The position of ``start`` in the table: either its entry or the empty one where it belongs. */
static size_t start_table_find(const StartTable *table, uint32_t start) {
    size_t position = ((size_t)start * 2654435761u) & table->mask;
    while (table->keys[position] != 0 && table->keys[position] != start + 1) {
        position = (position + 1) & table->mask;
    }
    return position;
}

static int64_t *int_array_of(PyObject *sequence, Py_ssize_t *count, const char *what) {
    PyObject *fast = PySequence_Fast(sequence, what);
    if (fast == NULL) {
        return NULL;
    }
    Py_ssize_t length = PySequence_Fast_GET_SIZE(fast);
    int64_t *values = PyMem_Malloc((size_t)(length ? length : 1) * sizeof(int64_t));
    if (values == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t index = 0; index < length; index++) {
        values[index] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, index));
        if (values[index] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            PyMem_Free(values);
            return NULL;
        }
    }
    Py_DECREF(fast);
    *count = length;
    return values;
}

/* Type parameter scopes by name, copied from Python's ``{name: [(start, end), ...]}`` (sorted and merged). */
typedef struct {
    const char *name;
    Py_ssize_t length;
    int64_t *bounds; /* start, end, start, end, ... */
    Py_ssize_t count;
} ScopeEntry;

typedef struct {
    ScopeEntry *entries;
    Py_ssize_t count;
} ScopeTable;

static int compare_scope_entries(const void *left, const void *right) {
    const ScopeEntry *a = left;
    const ScopeEntry *b = right;
    if (a->length != b->length) {
        return a->length < b->length ? -1 : 1;
    }
    return memcmp(a->name, b->name, (size_t)a->length);
}

static void scope_table_free(ScopeTable *table) {
    for (Py_ssize_t index = 0; index < table->count; index++) {
        PyMem_Free(table->entries[index].bounds);
    }
    PyMem_Free(table->entries);
}

/* The bytes keys stay owned by the dict, which the caller holds for the table's lifetime. */
static int scope_table_init(ScopeTable *table, PyObject *scopes_by_name) {
    Py_ssize_t size = PyDict_GET_SIZE(scopes_by_name);
    table->entries = PyMem_Calloc((size_t)(size ? size : 1), sizeof(ScopeEntry));
    table->count = 0;
    if (table->entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(scopes_by_name, &position, &key, &value)) {
        if (!PyBytes_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "type parameter names must be bytes");
            return -1;
        }
        ScopeEntry *entry = &table->entries[table->count++];
        entry->name = PyBytes_AS_STRING(key);
        entry->length = PyBytes_GET_SIZE(key);
        PyObject *fast = PySequence_Fast(value, "type parameter scopes must be a sequence");
        if (fast == NULL) {
            return -1;
        }
        entry->count = PySequence_Fast_GET_SIZE(fast);
        entry->bounds = PyMem_Malloc((size_t)(entry->count ? entry->count : 1) * 2 * sizeof(int64_t));
        if (entry->bounds == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t index = 0; index < entry->count; index++) {
            long long start, end;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, index), "LL", &start, &end)) {
                Py_DECREF(fast);
                return -1;
            }
            entry->bounds[2 * index] = start;
            entry->bounds[2 * index + 1] = end;
        }
        Py_DECREF(fast);
    }
    qsort(table->entries, (size_t)table->count, sizeof(ScopeEntry), compare_scope_entries);
    return 0;
}

/* Whether ``name`` at ``position`` is in the scope of a type parameter of that name. */
static bool is_type_parameter(const ScopeTable *table, const char *name, Py_ssize_t length, uint32_t position) {
    ScopeEntry key = {.name = name, .length = length};
    const ScopeEntry *entry =
        bsearch(&key, table->entries, (size_t)table->count, sizeof(ScopeEntry), compare_scope_entries);
    if (entry == NULL) {
        return false;
    }
    for (Py_ssize_t index = entry->count - 1; index >= 0; index--) {
        if (entry->bounds[2 * index] <= position) {
            return position < entry->bounds[2 * index + 1];
        }
    }
    return false;
}

static PyObject *make_span(uint32_t line, uint32_t column, uint32_t end_column, uint32_t start, uint32_t end) {
    PyObject *values[6] = {
        PyLong_FromUnsignedLong(line),   PyLong_FromUnsignedLong(column), PyLong_FromUnsignedLong(line),
        PyLong_FromUnsignedLong(end_column), PyLong_FromUnsignedLong(start), PyLong_FromUnsignedLong(end),
    };
    PyObject *span = NULL;
    if (values[0] && values[1] && values[2] && values[3] && values[4] && values[5]) {
        span = PyObject_Vectorcall(span_type, values, 0, span_kwnames);
    }
    for (int index = 0; index < 6; index++) {
        Py_XDECREF(values[index]);
    }
    return span;
}

/* The qualifier of a reference: ``a.b.`` before the name is ``a.b`` when it is plain text; anything else
   (blanks, comments, ``?.``, long text) is left to ``fallback(name_node, qualifier_start, name_start)``. */
static PyObject *qualifier_of(const Candidate *candidate, const char *source, long long max_chars, PyObject *fallback,
                              PyObject *tree) {
    const char *raw = source + candidate->qualifier_start;
    Py_ssize_t length = (Py_ssize_t)(candidate->start - (uint32_t)candidate->qualifier_start);
    bool plain = length >= 2 && length <= max_chars + 1 && raw[length - 1] == '.';
    for (Py_ssize_t index = 0; plain && index < length - 1; index++) {
        char byte = raw[index];
        plain = !(byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r' || byte == '\f' || byte == '\v' ||
                  byte == '/' || byte == '?');
    }
    if (plain) {
        return PyUnicode_DecodeUTF8(raw, length - 1, "replace");
    }
    PyObject *name_node = new_node(candidate->name_node, tree);
    if (name_node == NULL) {
        return NULL;
    }
    PyObject *qualifier = PyObject_CallFunction(fallback, "OLk", name_node, (long long)candidate->qualifier_start,
                                                (unsigned long)candidate->start);
    Py_DECREF(name_node);
    return qualifier;
}

PyDoc_STRVAR(reference_candidates_finish_doc,
             "finish(source, declared, type_parameter_scopes, symbol_starts, symbol_ends, max_qualifier_chars, "
             "qualifier_fallback, /)\n--\n\n"
             "The file's references in source order, one per name position, each with its innermost enclosing "
             "symbol (symbols given in pre-order by their byte ranges).");

static PyObject *reference_candidates_finish(ReferenceCandidates *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 || !PyBytes_Check(args[0]) || !PyDict_Check(args[2]) || !PyCallable_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError,
                        "finish() takes source bytes, declared starts, a scopes dict, symbol starts and ends, "
                        "the qualifier bound and a fallback callable");
        return NULL;
    }
    const char *source = PyBytes_AS_STRING(args[0]);
    PyObject *scopes_by_name = args[2];
    long long max_qualifier_chars = PyLong_AsLongLong(args[5]);
    if (max_qualifier_chars == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *fallback = args[6];

    PyObject *result = NULL;
    int64_t *declared = NULL, *symbol_starts = NULL, *symbol_ends = NULL;
    uint32_t *declared_sorted = NULL;
    size_t *stack = NULL;
    StartTable table = {NULL, NULL, 0};
    ScopeTable scopes = {NULL, 0};
    Candidate *chosen = NULL;
    Py_ssize_t declared_count = 0, symbol_count = 0, ends_count = 0;

    PyObject *declared_list = PySequence_List(args[1]);
    if (declared_list == NULL) {
        goto done;
    }
    declared = int_array_of(declared_list, &declared_count, "declared must be iterable");
    Py_DECREF(declared_list);
    symbol_starts = declared ? int_array_of(args[3], &symbol_count, "symbol_starts must be a sequence") : NULL;
    symbol_ends = symbol_starts ? int_array_of(args[4], &ends_count, "symbol_ends must be a sequence") : NULL;
    if (symbol_ends == NULL) {
        goto done;
    }
    if (ends_count != symbol_count) {
        PyErr_SetString(PyExc_ValueError, "symbol_starts and symbol_ends differ in length");
        goto done;
    }
    if (scope_table_init(&scopes, scopes_by_name) < 0) {
        goto done;
    }
    declared_sorted = PyMem_Malloc((size_t)(declared_count ? declared_count : 1) * sizeof(uint32_t));
    if (declared_sorted == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t index = 0; index < declared_count; index++) {
        declared_sorted[index] = (uint32_t)declared[index];
    }
    qsort(declared_sorted, (size_t)declared_count, sizeof(uint32_t), compare_u32);

    CandidateArray *candidates = &self->candidates;
    qsort(candidates->items, candidates->count, sizeof(Candidate), compare_processing_order);
    chosen = PyMem_Malloc((candidates->count ? candidates->count : 1) * sizeof(Candidate));
    if (chosen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (start_table_init(&table, candidates->count) < 0) {
        goto done;
    }
    size_t chosen_count = 0;
    for (size_t index = 0; index < candidates->count; index++) {
        const Candidate *candidate = &candidates->items[index];
        size_t position = start_table_find(&table, candidate->start);
        Candidate *existing = table.keys[position] ? &chosen[table.slots[position]] : NULL;
        int rank = KIND_RANKS[candidate->kind];
        if (candidate->qualifier_start >= 0) {
            if (existing != NULL && KIND_RANKS[existing->kind] >= rank && existing->qualifier_start >= 0) {
                continue;
            }
        } else if (candidate->kind == KIND_TYPE) {
            if (existing != NULL || bsearch(&candidate->start, declared_sorted, (size_t)declared_count,
                                            sizeof(uint32_t), compare_u32) != NULL) {
                continue;
            }
            if (scopes.count > 0 && is_type_parameter(&scopes, source + candidate->start,
                                                      (Py_ssize_t)(candidate->end - candidate->start),
                                                      candidate->start)) {
                continue;
            }
        } else if (existing != NULL && KIND_RANKS[existing->kind] >= rank) {
            continue;
        }
        if (existing != NULL) {
            *existing = *candidate;
        } else {
            table.keys[position] = candidate->start + 1;
            table.slots[position] = (uint32_t)chosen_count;
            chosen[chosen_count++] = *candidate;
        }
    }
    qsort(chosen, chosen_count, sizeof(Candidate), compare_start);

    stack = PyMem_Malloc((size_t)(symbol_count ? symbol_count : 1) * sizeof(size_t));
    result = PyTuple_New((Py_ssize_t)chosen_count);
    if (stack == NULL || result == NULL) {
        if (stack == NULL) {
            PyErr_NoMemory();
        }
        Py_CLEAR(result);
        goto done;
    }
    size_t depth = 0;
    Py_ssize_t cursor = 0;
    for (size_t index = 0; index < chosen_count; index++) {
        const Candidate *candidate = &chosen[index];
        int64_t position = candidate->start;
        while (cursor < symbol_count && symbol_starts[cursor] <= position) {
            while (depth > 0 && symbol_ends[stack[depth - 1]] < symbol_ends[cursor]) {
                depth--;
            }
            stack[depth++] = (size_t)cursor;
            cursor++;
        }
        while (depth > 0 && symbol_ends[stack[depth - 1]] <= position) {
            depth--;
        }
        PyObject *name = PyUnicode_DecodeUTF8(source + candidate->start,
                                              (Py_ssize_t)(candidate->end - candidate->start), "replace");
        PyObject *qualifier = candidate->qualifier_start < 0
                                  ? Py_NewRef(Py_None)
                                  : qualifier_of(candidate, source, max_qualifier_chars, fallback, self->tree);
        PyObject *span = make_span(candidate->row + 1, candidate->column,
                                   candidate->column + (candidate->end - candidate->start), candidate->start,
                                   candidate->end);
        PyObject *enclosing = depth > 0 ? PyLong_FromSize_t(stack[depth - 1]) : Py_NewRef(Py_None);
        PyObject *reference = NULL;
        if (name != NULL && qualifier != NULL && span != NULL && enclosing != NULL) {
            PyObject *values[5] = {name, qualifier, kind_strings[candidate->kind], span, enclosing};
            reference = PyObject_Vectorcall(reference_type, values, 0, reference_kwnames);
        }
        Py_XDECREF(name);
        Py_XDECREF(qualifier);
        Py_XDECREF(span);
        Py_XDECREF(enclosing);
        if (reference == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)index, reference);
    }

done:
    scope_table_free(&scopes);
    PyMem_Free(declared);
    PyMem_Free(declared_sorted);
    PyMem_Free(symbol_starts);
    PyMem_Free(symbol_ends);
    PyMem_Free(stack);
    PyMem_Free(table.keys);
    PyMem_Free(table.slots);
    PyMem_Free(chosen);
    return result;
}

static PyMethodDef reference_candidates_methods[] = {
    {"finish", (PyCFunction)(void (*)(void))reference_candidates_finish, METH_FASTCALL,
     reference_candidates_finish_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot reference_candidates_slots[] = {
    {Py_tp_dealloc, reference_candidates_dealloc},
    {Py_tp_methods, reference_candidates_methods},
    {Py_tp_doc, "The reference captures of one file, kept in C until the file's declarations are known."},
    {0, NULL},
};

static PyType_Spec reference_candidates_spec = {
    .name = "stages._native.ReferenceCandidates",
    .basicsize = sizeof(ReferenceCandidates),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = reference_candidates_slots,
};

/* ---- module --------------------------------------------------------------------------------------- */

static PyObject *attribute_of(const char *module_name, const char *name) {
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, name);
    Py_DECREF(module);
    return value;
}

static PyObject *names_tuple(const char *const *names, Py_ssize_t count) {
    PyObject *tuple = PyTuple_New(count);
    for (Py_ssize_t index = 0; tuple != NULL && index < count; index++) {
        PyObject *name = PyUnicode_InternFromString(names[index]);
        if (name == NULL) {
            Py_CLEAR(tuple);
            break;
        }
        PyTuple_SET_ITEM(tuple, index, name);
    }
    return tuple;
}

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stages._native",
    .m_doc = "The extract stage's hot loops in C (see stages/native/extract.c).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__native(void) {
    static const char *const span_fields[] = {"start_line", "start_column", "end_line",
                                              "end_column", "start_byte",   "end_byte"};
    static const char *const reference_fields[] = {"name", "qualifier", "kind", "span", "enclosing"};
    node_type = (PyTypeObject *)attribute_of("tree_sitter", "Node");
    tree_type = (PyTypeObject *)attribute_of("tree_sitter", "Tree");
    query_type = (PyTypeObject *)attribute_of("tree_sitter", "Query");
    span_type = attribute_of("stages.models", "Span");
    reference_type = attribute_of("stages.models", "Reference");
    span_kwnames = names_tuple(span_fields, 6);
    reference_kwnames = names_tuple(reference_fields, 5);
    if (node_type == NULL || tree_type == NULL || query_type == NULL || span_type == NULL ||
        reference_type == NULL || span_kwnames == NULL || reference_kwnames == NULL) {
        return NULL;
    }
    for (int kind = 0; kind < KIND_COUNT; kind++) {
        kind_strings[kind] = PyUnicode_InternFromString(KIND_NAMES[kind]);
        if (kind_strings[kind] == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    PyObject *plan_type = PyType_FromSpec(&query_plan_spec);
    reference_candidates_type = (PyTypeObject *)PyType_FromSpec(&reference_candidates_spec);
    if (plan_type == NULL || reference_candidates_type == NULL ||
        PyModule_AddObject(module, "QueryPlan", plan_type) < 0 ||
        PyModule_AddObject(module, "ReferenceCandidates", Py_NewRef(reference_candidates_type)) < 0 ||
        PyModule_AddStringConstant(module, "TREE_SITTER_VERSION", "0.26.1") < 0) {
        Py_XDECREF(plan_type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
