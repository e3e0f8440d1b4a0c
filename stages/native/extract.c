/* stages._native: the extract stage's per-file work in C.
 *
 * One walk of the tree matches the language's query file (compiled by stages/patterns.py, matched by match.c)
 * and collects every capture. For the ECMAScript dialects, declarations (``@definition.*``, type parameters,
 * comments, decorators, function scopes, local bindings), references (``@reference.*``, ``@qualified.*``),
 * imports and exports (``@import.*``, ``@export.*``) stay C records, and ``FileCaptures.rows`` builds every row
 * from them; captures of no family come back to Python as Node lists. A QueryPlan built without a kind mapping
 * (a language whose rows stages/lang/<name>.py builds) sends every capture back as nodes.
 *
 * Trees are this module's own (syntax.c): ``parse`` takes a grammar wheel's ``language()`` capsule and parses with
 * the tree-sitter runtime vendored in stages/native/tree-sitter; no other package's objects are read.
 *
 * What is extracted is the contract written in docs/index-contract.md and stages/extract.py's docstring;
 * the rules below are those of the Python extractor this code replaced, kept exactly (the corpus output is
 * byte-identical):
 * - Captures are handled by capture name in sorted order, then in document order; the first declaration
 *   at a name position wins.
 * - ``@reference.<kind>`` captures the name itself; ``@qualified.<kind>`` captures ``a.b`` / ``ns.T`` and the
 *   name is its last part (field ``property`` then ``name``, or ``name`` then ``property`` for types).
 * - At one name position the strongest kind wins (extends/implements 2, call/new/jsx 1, type 0); a qualified
 *   reference replaces a bare one of equal rank; a bare type reference never replaces anything, and is not
 *   recorded at a declared name position or for the name of a type parameter in scope.
 * - A bare call of ``require`` is not a reference: its call is returned to Python as a CommonJS import.
 * - A JSX tag whose first character is not upper case is an intrinsic element, not a reference.
 * Text is decoded as UTF-8 with replacement (sources are valid UTF-8; only a cut inside a character can
 * replace), and whitespace means what Python's ``str.split()`` and ``str.strip()`` mean.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "match.h"
#include "syntax.h"
#include "tree_sitter/api.h"

#define TREE_SITTER_VERSION "0.26.1" /* the version of the runtime vendored in stages/native/tree-sitter */
#define MAX_DOC_GAP 256 /* bytes of blank space allowed between a JSDoc block or decorator and its declaration */
#define PREFIX_BYTES 8  /* bytes per character of a signature's bound read first when its range is long */

/* ---- vocabularies --------------------------------------------------------------------------------- */

enum Family {
    FAMILY_PYTHON,
    FAMILY_BARE,
    FAMILY_QUALIFIED,
    FAMILY_DEFINITION,
    FAMILY_COMMENT,
    FAMILY_DECORATOR,
    FAMILY_FUNCTION_SCOPE,
    FAMILY_TYPE_PARAMETERS,
    FAMILY_IMPORT,
    FAMILY_EXPORT,
    FAMILY_LOCAL,
};

/* ``@import.<kind>`` and ``@export.<kind>`` captures. */
enum ModuleCaptureKind { MODULE_IMPORT_STATIC, MODULE_IMPORT_DYNAMIC, MODULE_EXPORT_STATEMENT, MODULE_EXPORT_COMMONJS };
static const char *const IMPORT_CAPTURE_NAMES[2] = {"static", "dynamic"};
static const char *const EXPORT_CAPTURE_NAMES[2] = {"statement", "commonjs"};

/* ``@local.<kind>`` captures: the bindings of a function-like node's locals that are not variable declarators. */
enum LocalCaptureKind { LC_PARAMETERS, LC_PARAMETER, LC_CATCH, LC_LOOP, LC_COUNT };
static const char *const LOCAL_CAPTURE_NAMES[LC_COUNT] = {"parameters", "parameter", "catch", "loop"};

enum ImportKind { IK_IMPORT, IK_SIDE_EFFECT, IK_REEXPORT, IK_DYNAMIC, IK_REQUIRE, IK_IMPORT_EQUALS, IK_COUNT };
static const char *const IMPORT_KIND_NAMES[IK_COUNT] = {"import",  "side_effect", "reexport",
                                                        "dynamic", "require",     "import_equals"};

enum ExportKind { EK_LOCAL, EK_REEXPORT, EK_REEXPORT_ALL, EK_REEXPORT_NAMESPACE, EK_ASSIGNMENT, EK_COMMONJS, EK_COUNT };
static const char *const EXPORT_KIND_NAMES[EK_COUNT] = {"local",  "reexport",   "reexport_all", "reexport_namespace",
                                                        "assignment", "commonjs"};

enum ReferenceKind { REF_CALL, REF_NEW, REF_EXTENDS, REF_IMPLEMENTS, REF_TYPE, REF_JSX, REF_COUNT };
static const char *const REFERENCE_KIND_NAMES[REF_COUNT] = {"call", "new", "extends", "implements", "type", "jsx"};
static const int REFERENCE_RANKS[REF_COUNT] = {1, 1, 2, 2, 0, 1};

enum SymbolKind {
    SK_FUNCTION,
    SK_CLASS,
    SK_METHOD,
    SK_CONSTRUCTOR,
    SK_GETTER,
    SK_SETTER,
    SK_PROPERTY,
    SK_INTERFACE,
    SK_TYPE_ALIAS,
    SK_ENUM,
    SK_ENUM_MEMBER,
    SK_NAMESPACE,
    SK_MODULE,
    SK_VARIABLE,
    SK_CONSTANT,
    SK_COUNT,
};
static const char *const SYMBOL_KIND_NAMES[SK_COUNT] = {
    "function", "class",      "method",      "constructor", "getter",   "setter",   "property", "interface",
    "type_alias", "enum",     "enum_member", "namespace",   "module",   "variable", "constant",
};

/* The ``@definition.<suffix>`` handlers; the last four take their kind from the language's kind mapping. */
enum Definition {
    DEF_CLASS,
    DEF_DEFAULT_FUNCTION,
    DEF_METHOD,
    DEF_PROPERTY,
    DEF_PARAMETER_PROPERTY,
    DEF_ENUM_MEMBER,
    DEF_NAMESPACE,
    DEF_GLOBAL,
    DEF_VARIABLE,
    DEF_FUNCTION,
    DEF_INTERFACE,
    DEF_TYPE_ALIAS,
    DEF_ENUM,
    DEF_COUNT,
};
static const char *const DEFINITION_NAMES[DEF_COUNT] = {
    "class",     "default_function", "method",   "property", "parameter_property", "enum_member", "namespace",
    "global",    "variable",         "function", "interface", "type_alias",        "enum",
};
#define FIRST_MAPPED_DEFINITION DEF_FUNCTION

/* Types and names resolved once at import. */
static PyObject *span_type;
static PyObject *symbol_type;
static PyObject *reference_type;
static PyObject *binding_type;
static PyObject *import_type;
static PyObject *export_type;
static PyObject *binding_kwnames;
static PyObject *import_kwnames;
static PyObject *export_kwnames;
static PyObject *import_kind_strings[IK_COUNT];
static PyObject *export_kind_strings[EK_COUNT];
static PyObject *star_string;
static PyObject *export_equals_string;
static PyObject *span_kwnames;
static PyObject *symbol_kwnames;
static PyObject *reference_kwnames;
static PyObject *reference_kind_strings[REF_COUNT];
static PyObject *symbol_kind_strings[SK_COUNT];
static PyObject *ellipsis_string; /* "…", ending a text cut at its bound */
static PyObject *default_string;
static PyObject *global_string;

/* ---- growable arrays ------------------------------------------------------------------------------ */

/* qsort, except that an empty array's NULL items are never passed on (qsort's base must not be NULL). */
static void sort_items(void *items, size_t count, size_t size, int (*compare)(const void *, const void *)) {
    if (count > 1) {
        qsort(items, count, size, compare);
    }
}

static int reserve(void **items, size_t *capacity, size_t count, size_t item_size) {
    if (count < *capacity) {
        return 0;
    }
    size_t new_capacity = *capacity ? *capacity * 2 : 64;
    void *grown = PyMem_Realloc(*items, new_capacity * item_size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *items = grown;
    *capacity = new_capacity;
    return 0;
}

#define ARRAY(type)      \
    struct {             \
        type *items;     \
        size_t count;    \
        size_t capacity; \
    }
#define PUSH(array, value)                                                                                      \
    (reserve((void **)&(array).items, &(array).capacity, (array).count, sizeof(*(array).items)) < 0 ? -1       \
                                                                                                     : ((array).items[(array).count++] = (value), 0))

typedef struct {
    uint32_t start_line;
    uint32_t start_column;
    uint32_t end_line;
    uint32_t end_column;
    uint32_t start_byte;
    uint32_t end_byte;
} Span;

typedef struct {
    uint32_t start;
    uint32_t end;
} Range;

typedef ARRAY(TSNode) NodeArray;

/* A captured node with the ancestors the walk saw above it (handlers read them instead of ts_node_parent). */
typedef struct {
    TSNode node;
    Ancestors ancestors;
} Captured;

typedef ARRAY(Captured) CapturedArray;

typedef struct {
    Captured captured;
    uint32_t order; /* the rank of the capture name in sorted order */
    uint32_t sequence;
    uint8_t definition;
} DefinitionCapture;

typedef struct {
    uint32_t start;
    uint32_t end;
    uint32_t row;
    uint32_t column;
    int64_t qualifier_start; /* -1 for a bare reference */
    uint32_t order;
    uint32_t sequence;
    uint8_t kind;
    TSNode qualified; /* the ``a.b`` node of a qualified reference (the name's parent); null for a bare one */
} Candidate;

typedef struct {
    PyObject *name;      /* owned */
    PyObject *signature; /* owned */
    PyObject *doc;       /* owned; NULL is None */
    Span span;
    Span name_span;
    uint8_t kind;
    bool exported;
    bool is_default;
    bool is_async;
    bool constructor_member;
    TSNode hinted;       /* the declaration its type hint is read from; null: none */
    PyObject *type_hint; /* owned; NULL is None */
    uint32_t owner; /* a CommonJS member's owner: the start of its declaration's name + 1; 0 for none */
} PendingSymbol;

typedef struct {
    const char *name;
    Py_ssize_t length;
    uint32_t start;
    uint32_t end;
} NamedScope;

typedef struct {
    Captured captured;
    uint32_t order; /* the rank of the capture name in sorted order */
    uint32_t sequence;
    uint8_t kind; /* ModuleCaptureKind */
} ModuleCapture;

typedef struct {
    TSNode node;  /* formal parameters, an arrow function's one parameter, a catch or loop binding */
    TSNode owner; /* its parent: the function, catch clause or loop where the names are visible */
    uint8_t kind; /* LocalCaptureKind */
} LocalCapture;

typedef struct {
    PyObject *specifier;   /* owned */
    uint8_t kind;          /* ImportKind */
    bool type_only;
    Span span;             /* the statement's or call's: re-export rows point to their import by its start */
    Span specifier_span;
    PyObject *bindings;    /* owned tuple of ImportBinding */
    uint32_t sequence;     /* the order it was read in, which breaks ties */
} PendingImport;

typedef struct {
    PyObject *exported;    /* owned */
    PyObject *local;       /* owned; NULL is None */
    uint8_t kind;          /* ExportKind */
    bool type_only;
    Span span;
    int64_t import_key;    /* -1: not a re-export */
    uint32_t sequence;
} PendingExport;

typedef struct {
    size_t symbol;
    bool is_default;
} DeclaredExport;

typedef ARRAY(DeclaredExport) DeclaredExportArray;

/* ``export default x`` or ``export = x`` inside the body of an ambient module ``declare module "m" {}``. */
typedef struct {
    PyObject *name; /* owned */
    uint32_t start; /* the module body's range */
    uint32_t end;
    bool is_default;
} ScopedExport;

/* ---- nodes --------------------------------------------------------------------- */

static bool is_type(TSNode node, const char *type) { return strcmp(ts_node_type(node), type) == 0; }

static bool is_one_of(TSNode node, const char *const *types) {
    const char *type = ts_node_type(node);
    for (; *types != NULL; types++) {
        if (strcmp(type, *types) == 0) {
            return true;
        }
    }
    return false;
}

static Span node_span(TSNode node) {
    TSPoint start = ts_node_start_point(node);
    TSPoint end = ts_node_end_point(node);
    return (Span){start.row + 1, start.column, end.row + 1, end.column, ts_node_start_byte(node),
                  ts_node_end_byte(node)};
}

/* The first child of ``node`` of the given type, or a null node. */
static TSNode child_of_type(TSNode node, const char *type) {
    uint32_t count = ts_node_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_child(node, index);
        if (is_type(child, type)) {
            return child;
        }
    }
    return (TSNode){0};
}

/* ---- the per-file deadline ------------------------------------------------------------------------ */

static PyObject *deadline_exceeded; /* stages._native.DeadlineExceeded */

/* ``time.monotonic()`` (CLOCK_MONOTONIC, as CPython reads it on Linux). */
static double monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

#define STEPS_PER_CLOCK_READ 1024 /* a step is a node visited or a capture handled: well under a millisecond */

/* Bounds one file's extraction by the deadline its parse started: every unit of work takes a step, and every
   STEPS_PER_CLOCK_READ steps the clock is read. ``steps`` counts the work done, which tests read. */
typedef struct {
    double deadline;
    uint64_t steps;
} Budget;

/* One step of work; -1 with DeadlineExceeded set once the deadline has passed. */
static int take_step(Budget *budget) {
    if (++budget->steps % STEPS_PER_CLOCK_READ == 0 && monotonic_seconds() > budget->deadline) {
        PyErr_Format(deadline_exceeded, "the deadline passed after %llu steps of extraction",
                     (unsigned long long)budget->steps);
        return -1;
    }
    return 0;
}

/* ---- QueryPlan ------------------------------------------------------------------------------------ */

typedef struct {
    TSFieldId name, property, body, value, pattern, kind, object, module;
} Fields;

typedef struct {
    PyObject_HEAD
    Matcher *matcher;          /* the query file's patterns */
    uint32_t capture_count;
    uint8_t *families;         /* per capture id */
    uint8_t *kinds;            /* per capture id: reference kind or definition handler */
    uint32_t *orders;          /* per capture id: its position among capture names in sorted order */
    PyObject **names;          /* per capture id: the capture name as str */
    uint8_t mapped_kinds[DEF_COUNT]; /* the symbol kind of each mapped definition handler */
    const TSLanguage *language; /* the language the field ids belong to */
    Fields fields;
} QueryPlan;

static PyTypeObject *file_captures_type;

static void query_plan_dealloc(QueryPlan *self) {
    matcher_free(self->matcher);
    if (self->names != NULL) {
        for (uint32_t index = 0; index < self->capture_count; index++) {
            Py_XDECREF(self->names[index]);
        }
    }
    PyMem_Free(self->names);
    PyMem_Free(self->families);
    PyMem_Free(self->kinds);
    PyMem_Free(self->orders);
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static int index_of(const char *const *names, int count, const char *text, size_t length) {
    for (int index = 0; index < count; index++) {
        if (strlen(names[index]) == length && memcmp(names[index], text, length) == 0) {
            return index;
        }
    }
    return -1;
}

static bool has_prefix(const char *name, uint32_t length, const char *prefix) {
    size_t prefix_length = strlen(prefix);
    return length > prefix_length && memcmp(name, prefix, prefix_length) == 0;
}

static bool equals(const char *name, uint32_t length, const char *text) {
    return strlen(text) == length && memcmp(name, text, length) == 0;
}

static int classify_capture(QueryPlan *self, uint32_t id, const char *name, uint32_t length) {
    int kind = 0;
    uint8_t family = FAMILY_PYTHON;
    if (has_prefix(name, length, "reference.") || has_prefix(name, length, "qualified.")) {
        family = name[0] == 'r' ? FAMILY_BARE : FAMILY_QUALIFIED;
        kind = index_of(REFERENCE_KIND_NAMES, REF_COUNT, name + 10, length - 10);
    } else if (has_prefix(name, length, "definition.")) {
        family = FAMILY_DEFINITION;
        kind = index_of(DEFINITION_NAMES, DEF_COUNT, name + 11, length - 11);
    } else if (equals(name, length, "comment")) {
        family = FAMILY_COMMENT;
    } else if (equals(name, length, "decorator")) {
        family = FAMILY_DECORATOR;
    } else if (equals(name, length, "scope.function")) {
        family = FAMILY_FUNCTION_SCOPE;
    } else if (equals(name, length, "scope.type_parameters")) {
        family = FAMILY_TYPE_PARAMETERS;
    } else if (has_prefix(name, length, "import.")) {
        family = FAMILY_IMPORT;
        kind = index_of(IMPORT_CAPTURE_NAMES, 2, name + 7, length - 7);
        kind = kind < 0 ? kind : MODULE_IMPORT_STATIC + kind;
    } else if (has_prefix(name, length, "export.")) {
        family = FAMILY_EXPORT;
        kind = index_of(EXPORT_CAPTURE_NAMES, 2, name + 7, length - 7);
        kind = kind < 0 ? kind : MODULE_EXPORT_STATEMENT + kind;
    } else if (has_prefix(name, length, "local.")) {
        family = FAMILY_LOCAL;
        kind = index_of(LOCAL_CAPTURE_NAMES, LC_COUNT, name + 6, length - 6);
    }
    if (kind < 0) {
        PyObject *capture = PyUnicode_FromStringAndSize(name, length);
        if (capture != NULL) {
            PyErr_Format(PyExc_ValueError, "query capture @%U: no such kind", capture);
            Py_DECREF(capture);
        }
        return -1;
    }
    self->families[id] = family;
    self->kinds[id] = (uint8_t)kind;
    return 0;
}

/* qsort_r is not portable; capture counts are tiny, so an insertion sort does. */
static void sort_capture_ids(uint32_t *ids, uint32_t count, PyObject **names) {
    for (uint32_t i = 1; i < count; i++) {
        uint32_t id = ids[i];
        uint32_t j = i;
        while (j > 0 && PyUnicode_Compare(names[ids[j - 1]], names[id]) > 0) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = id;
    }
}

static int read_kind_mapping(QueryPlan *self, PyObject *kinds) {
    for (int definition = FIRST_MAPPED_DEFINITION; definition < DEF_COUNT; definition++) {
        PyObject *kind = PyMapping_GetItemString(kinds, DEFINITION_NAMES[definition]);
        if (kind == NULL) {
            return -1;
        }
        Py_ssize_t length;
        const char *text = PyUnicode_Check(kind) ? PyUnicode_AsUTF8AndSize(kind, &length) : NULL;
        int index = text == NULL ? -1 : index_of(SYMBOL_KIND_NAMES, SK_COUNT, text, (size_t)length);
        Py_DECREF(kind);
        if (index < 0) {
            PyErr_Format(PyExc_ValueError, "kind mapping of %s: not a symbol kind", DEFINITION_NAMES[definition]);
            return -1;
        }
        self->mapped_kinds[definition] = (uint8_t)index;
    }
    return 0;
}

static PyObject *query_plan_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"patterns", "capture_names", "kinds", NULL};
    PyObject *patterns, *capture_names, *kinds;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!O:QueryPlan", keywords, &patterns, &PyTuple_Type,
                                     &capture_names, &kinds)) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(capture_names);
    if (count > UINT16_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many capture names");
        return NULL;
    }
    QueryPlan *self = (QueryPlan *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    size_t slots = count ? (size_t)count : 1;
    self->capture_count = (uint32_t)count;
    self->families = PyMem_Calloc(slots, 1);
    self->kinds = PyMem_Calloc(slots, 1);
    self->orders = PyMem_Calloc(slots, sizeof(uint32_t));
    self->names = PyMem_Calloc(slots, sizeof(PyObject *));
    uint32_t *ids = PyMem_Calloc(slots, sizeof(uint32_t));
    if (self->families == NULL || self->kinds == NULL || self->orders == NULL || self->names == NULL ||
        ids == NULL) {
        PyMem_Free(ids);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    bool generic = kinds == Py_None; /* a language whose rows are built in Python: every capture goes there */
    if (!generic && read_kind_mapping(self, kinds) < 0) {
        PyMem_Free(ids);
        Py_DECREF(self);
        return NULL;
    }
    for (uint32_t id = 0; id < self->capture_count; id++) {
        PyObject *name = PyTuple_GET_ITEM(capture_names, id);
        Py_ssize_t length;
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &length) : NULL;
        if (text == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "capture names must be str");
            }
            PyMem_Free(ids);
            Py_DECREF(self);
            return NULL;
        }
        self->names[id] = Py_NewRef(name);
        PyUnicode_InternInPlace(&self->names[id]);
        if (!generic && classify_capture(self, id, text, (uint32_t)length) < 0) {
            PyMem_Free(ids);
            Py_DECREF(self);
            return NULL;
        }
        ids[id] = id;
    }
    sort_capture_ids(ids, self->capture_count, self->names);
    for (uint32_t position = 0; position < self->capture_count; position++) {
        self->orders[ids[position]] = position;
    }
    PyMem_Free(ids);
    self->matcher = matcher_new(patterns, self->capture_count);
    if (self->matcher == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ---- FileCaptures: one file's captures, then its symbols and references ---------------------------- */

/* references() reads what symbols() builds, so it needs a symbols() call that succeeded. */
/* rows() builds everything once; a failure leaves the file's state half built, so it cannot be called again. */
enum { ROWS_PENDING, ROWS_STARTED };

typedef struct {
    PyObject_HEAD
    PyObject *tree;   /* Tree: keeps every TSNode below valid */
    PyObject *source; /* bytes */
    const char *text;
    uint32_t length;
    QueryPlan *plan;
    ARRAY(DefinitionCapture) definitions;
    ARRAY(Candidate) candidates;
    ARRAY(Range) comments;
    NodeArray decorators;
    ARRAY(Range) function_scopes;
    CapturedArray type_parameter_lists;
    ARRAY(ModuleCapture) module_captures;
    CapturedArray requires;     /* ``require(...)`` calls */
    ARRAY(LocalCapture) local_captures; /* ``@local.<kind>``: parameters and loop and catch bindings */
    /* read by read_modules() */
    ARRAY(PendingImport) imports;
    ARRAY(PendingExport) exports;
    PyObject *later_exported;   /* set of top-level names an export statement or assignment exports */
    PyObject *later_default;    /* set of top-level names exported as default that way */
    ARRAY(ScopedExport) scoped_exports;
    /* built by symbols() */
    uint8_t rows_state; /* ROWS_* */
    ARRAY(PendingSymbol) pending;
    ARRAY(uint32_t) declared; /* name starts of declarations and type parameters */
    uint32_t *declared_set;   /* open addressing over declared starts + 1; 0 is empty */
    size_t declared_mask;
    ARRAY(NamedScope) scopes; /* type parameter scopes, sorted by name then start, overlaps merged */
    ARRAY(Range) symbol_ranges; /* the final symbols' ranges, in their order */
    /* the Python limits of this file */
    Py_ssize_t max_signature_chars;
    Py_ssize_t max_doc_chars;
    Budget budget;
} FileCaptures;

static void file_captures_dealloc(FileCaptures *self) {
    for (size_t index = 0; index < self->pending.count; index++) {
        Py_XDECREF(self->pending.items[index].name);
        Py_XDECREF(self->pending.items[index].signature);
        Py_XDECREF(self->pending.items[index].doc);
        Py_XDECREF(self->pending.items[index].type_hint);
    }
    PyMem_Free(self->pending.items);
    for (size_t index = 0; index < self->imports.count; index++) {
        Py_XDECREF(self->imports.items[index].specifier);
        Py_XDECREF(self->imports.items[index].bindings);
    }
    PyMem_Free(self->imports.items);
    for (size_t index = 0; index < self->exports.count; index++) {
        Py_XDECREF(self->exports.items[index].exported);
        Py_XDECREF(self->exports.items[index].local);
    }
    PyMem_Free(self->exports.items);
    PyMem_Free(self->module_captures.items);
    PyMem_Free(self->requires.items);
    PyMem_Free(self->local_captures.items);
    Py_XDECREF(self->later_exported);
    Py_XDECREF(self->later_default);
    for (size_t index = 0; index < self->scoped_exports.count; index++) {
        Py_XDECREF(self->scoped_exports.items[index].name);
    }
    PyMem_Free(self->scoped_exports.items);
    PyMem_Free(self->definitions.items);
    PyMem_Free(self->candidates.items);
    PyMem_Free(self->comments.items);
    PyMem_Free(self->decorators.items);
    PyMem_Free(self->function_scopes.items);
    PyMem_Free(self->type_parameter_lists.items);
    PyMem_Free(self->declared.items);
    PyMem_Free(self->declared_set);
    PyMem_Free(self->scopes.items);
    PyMem_Free(self->symbol_ranges.items);
    Py_XDECREF(self->tree);
    Py_XDECREF(self->source);
    Py_XDECREF((PyObject *)self->plan);
    PyTypeObject *type = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(type);
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
        if (size > 0 && ts_node_eq(((NodeObject *)PyList_GET_ITEM(list, size - 1))->node, node)) {
            return 0;
        }
    }
    PyObject *node_object = node_object_new(node, tree);
    if (node_object == NULL) {
        return -1;
    }
    int status = PyList_Append(list, node_object);
    Py_DECREF(node_object);
    return status;
}

static void load_fields(QueryPlan *plan, const TSLanguage *language) {
    if (language == plan->language) {
        return;
    }
    plan->language = language;
    plan->fields = (Fields){
        .name = ts_language_field_id_for_name(language, "name", 4),
        .property = ts_language_field_id_for_name(language, "property", 8),
        .body = ts_language_field_id_for_name(language, "body", 4),
        .value = ts_language_field_id_for_name(language, "value", 5),
        .pattern = ts_language_field_id_for_name(language, "pattern", 7),
        .kind = ts_language_field_id_for_name(language, "kind", 4),
        .object = ts_language_field_id_for_name(language, "object", 6),
        .module = ts_language_field_id_for_name(language, "module", 6),
    };
}

/* A field's child, or a null node (also when the language has no such field). */
static TSNode field(TSNode node, TSFieldId id) {
    return id == 0 ? (TSNode){0} : ts_node_child_by_field_id(node, id);
}

static int collect_reference(FileCaptures *file, uint8_t family, uint8_t kind, TSNode node, const Ancestors *ancestors,
                             uint32_t order, uint32_t sequence, uint32_t *last_require_start) {
    const Fields *fields = &file->plan->fields;
    TSNode name_node = node;
    int64_t qualifier_start = -1;
    if (family == FAMILY_QUALIFIED) {
        name_node = field(node, kind == REF_TYPE ? fields->name : fields->property);
        if (ts_node_is_null(name_node)) {
            name_node = field(node, kind == REF_TYPE ? fields->property : fields->name);
        }
        if (ts_node_is_null(name_node)) {
            return 0;
        }
        qualifier_start = ts_node_start_byte(node);
    }
    uint32_t start = ts_node_start_byte(name_node);
    uint32_t end = ts_node_end_byte(name_node);
    if (start >= end || end > file->length) {
        return 0; /* a MISSING node inserted by error recovery */
    }
    const char *name = file->text + start;
    if (family == FAMILY_BARE && kind == REF_CALL && end - start == 7 && memcmp(name, "require", 7) == 0) {
        /* A CommonJS import, recorded as such (once per call, however many patterns capture it). */
        Captured call = {.node = ancestors->above[0], .ancestors = {.above = {ancestors->above[1], ancestors->above[2]}}};
        if (ts_node_is_null(call.node) || start == *last_require_start) {
            return 0;
        }
        *last_require_start = start;
        return PUSH(file->requires, call);
    }
    if (family == FAMILY_BARE && kind == REF_TYPE && end - start == 6 && memcmp(name, "bigint", 6) == 0) {
        return 0; /* a predefined type that this grammar reads as a type name */
    }
    if (family == FAMILY_BARE && kind == REF_JSX) {
        int upper = starts_upper(name, (Py_ssize_t)(end - start));
        if (upper <= 0) {
            return upper; /* lower-case tags are intrinsic elements, not components */
        }
    }
    TSPoint point = ts_node_start_point(name_node);
    Candidate candidate = {
        .start = start,
        .end = end,
        .row = point.row,
        .column = point.column,
        .qualifier_start = qualifier_start,
        .order = order,
        .sequence = sequence,
        .kind = kind,
    };
    if (family == FAMILY_QUALIFIED) {
        candidate.qualified = node;
    }
    return PUSH(file->candidates, candidate);
}

typedef struct {
    QueryPlan *plan;
    FileCaptures *file;
    PyObject *captures; /* {name: [Node]} of the captures of no family here */
    PyObject *tree;
    uint32_t sequence;
    uint32_t last_require_start;
} Collector;

/* One capture of a match: kept as a C record, or appended to Python's lists. */
static int collect_capture(void *context, uint16_t id, TSNode node, const Ancestors *ancestors) {
    Collector *collector = context;
    QueryPlan *plan = collector->plan;
    FileCaptures *file = collector->file;
    uint8_t kind = plan->kinds[id];
    switch (plan->families[id]) {
    case FAMILY_PYTHON:
        return append_node(collector->captures, plan->names[id], node, collector->tree);
    case FAMILY_BARE:
    case FAMILY_QUALIFIED:
        return collect_reference(file, plan->families[id], kind, node, ancestors, plan->orders[id],
                                 collector->sequence++, &collector->last_require_start);
    case FAMILY_IMPORT:
    case FAMILY_EXPORT: {
        ModuleCapture capture = {{node, *ancestors}, plan->orders[id], collector->sequence++, kind};
        return PUSH(file->module_captures, capture);
    }
    case FAMILY_DEFINITION: {
        DefinitionCapture definition = {{node, *ancestors}, plan->orders[id], collector->sequence++, kind};
        return PUSH(file->definitions, definition);
    }
    case FAMILY_COMMENT: {
        Range range = {ts_node_start_byte(node), ts_node_end_byte(node)};
        return PUSH(file->comments, range);
    }
    case FAMILY_DECORATOR:
        return PUSH(file->decorators, node);
    case FAMILY_FUNCTION_SCOPE: {
        Range range = {ts_node_start_byte(node), ts_node_end_byte(node)};
        return PUSH(file->function_scopes, range);
    }
    case FAMILY_TYPE_PARAMETERS: {
        Captured list = {node, *ancestors};
        return PUSH(file->type_parameter_lists, list);
    }
    case FAMILY_LOCAL: {
        LocalCapture local = {node, ancestors->above[0], kind};
        return PUSH(file->local_captures, local);
    }
    }
    return 0;
}

static int collect_step(void *context) { return take_step(&((Collector *)context)->file->budget); }

PyDoc_STRVAR(query_plan_run_doc,
             "run(tree, source, deadline, /)\n--\n\n"
             "Match the query file over ``tree`` (parsed from ``source``). Returns ``(captures, file)``: the "
             "captures of no family the extractor knows as ``{name: [Node]}`` in document order, and the "
             "``FileCaptures`` that builds the file's rows. Raises ``DeadlineExceeded`` once ``time.monotonic()`` "
             "passes ``deadline``, here or in ``rows()``.");

static PyObject *query_plan_run(QueryPlan *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyObject_TypeCheck(args[0], tree_object_type) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "run() takes a Tree (stages._native.parse), its source bytes and a deadline");
        return NULL;
    }
    double deadline = PyFloat_AsDouble(args[2]);
    if (deadline == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyBytes_GET_SIZE(args[1]) > UINT32_MAX - 1) {
        PyErr_SetString(PyExc_ValueError, "source is too large");
        return NULL;
    }
    PyObject *tree = args[0];
    TSTree *ts_tree = ((TreeObject *)tree)->tree;
    /* Every node lies inside the root: a tree that ends past the source's end was not parsed from it, and
       reading it against this source would read past the bytes. */
    uint32_t tree_end = ts_node_end_byte(ts_tree_root_node(ts_tree));
    if (tree_end > PyBytes_GET_SIZE(args[1])) {
        PyErr_Format(PyExc_ValueError, "the tree ends at byte %u but the source has %zd bytes: it was not parsed "
                     "from this source", tree_end, PyBytes_GET_SIZE(args[1]));
        return NULL;
    }
    load_fields(self, ts_tree_language(ts_tree));
    PyObject *captures = PyDict_New();
    FileCaptures *file = PyObject_New(FileCaptures, file_captures_type);
    if (file != NULL) {
        memset((char *)file + sizeof(PyObject), 0, sizeof(FileCaptures) - sizeof(PyObject));
        file->tree = Py_NewRef(tree);
        file->source = Py_NewRef(args[1]);
        file->text = PyBytes_AS_STRING(args[1]);
        file->length = (uint32_t)PyBytes_GET_SIZE(args[1]);
        file->plan = (QueryPlan *)Py_NewRef((PyObject *)self);
        file->budget.deadline = deadline;
    }
    if (captures == NULL || file == NULL) {
        goto error;
    }
    Collector collector = {self, file, captures, tree, 0, UINT32_MAX};
    if (matcher_run(self->matcher, ts_tree_root_node(ts_tree), collect_capture, collect_step, &collector) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        goto error;
    }
    return Py_BuildValue("(NN)", captures, (PyObject *)file);

error:
    Py_XDECREF(captures);
    Py_XDECREF(file);
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
    {Py_tp_doc, "QueryPlan(patterns, capture_names, kinds)\n--\n\nA language's query file compiled by "
                "stages.patterns, with its capture names classified and its ``@definition.<suffix>`` to symbol "
                "kind mapping; with ``kinds`` ``None`` (a language whose rows are built in Python), every capture "
                "comes back from ``run`` as nodes."},
    {0, NULL},
};

static PyType_Spec query_plan_spec = {
    .name = "stages._native.QueryPlan",
    .basicsize = sizeof(QueryPlan),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = query_plan_slots,
};

/* ---- text ----------------------------------------------------------------------------------------- */

static PyObject *text_of(const FileCaptures *file, int64_t start, int64_t end) {
    if (end > file->length) {
        end = file->length;
    }
    if (start > end) {
        start = end;
    }
    return PyUnicode_DecodeUTF8(file->text + start, (Py_ssize_t)(end - start), "replace");
}

/* ``" ".join(text.split())`` */
static PyObject *collapse_whitespace(PyObject *text) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_UCS4 *out = PyMem_Malloc((size_t)(length ? length : 1) * sizeof(Py_UCS4));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t used = 0;
    bool space = false;
    for (Py_ssize_t index = 0; index < length; index++) {
        Py_UCS4 character = PyUnicode_READ(kind, data, index);
        if (Py_UNICODE_ISSPACE(character)) {
            space = used > 0;
        } else {
            if (space) {
                out[used++] = ' ';
                space = false;
            }
            out[used++] = character;
        }
    }
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, used);
    PyMem_Free(out);
    return result;
}

/* ``text[:count]`` with Python's meaning of a negative count. */
static PyObject *prefix_of(PyObject *text, Py_ssize_t count) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (count < 0) {
        count = length + count < 0 ? 0 : length + count;
    }
    return PyUnicode_Substring(text, 0, count < length ? count : length);
}

/* ``text[:bound - 1] + "…"``; steals ``text``. */
static PyObject *cut(PyObject *text, Py_ssize_t bound) {
    PyObject *head = prefix_of(text, bound - 1);
    Py_DECREF(text);
    if (head == NULL) {
        return NULL;
    }
    PyObject *result = PyUnicode_Concat(head, ellipsis_string);
    Py_DECREF(head);
    return result;
}

/* The text with runs of whitespace made one space, cut at ``bound`` characters (ending in ``…``). A long
   range (a whole type alias, say) is read from a prefix first: the normalised text of a prefix is a prefix of
   the whole one, so when it is long enough the rest is never decoded; the margin keeps a character cut in two
   at the prefix's end out of the result. */
static PyObject *normalised(const FileCaptures *file, int64_t start, int64_t end, Py_ssize_t bound) {
    if (end - start <= bound) {
        const char *raw = file->text + start;
        int64_t length = end - start;
        bool plain = true;
        for (int64_t index = 0; plain && index < length; index++) {
            char byte = raw[index];
            plain = byte != '\n' && byte != '\t' && byte != '\r' && !(byte == ' ' && index + 1 < length && raw[index + 1] == ' ');
        }
        if (plain) {
            return text_of(file, start, end);
        }
    } else if (bound > 0 && end - start > (int64_t)PREFIX_BYTES * bound) {
        PyObject *raw = text_of(file, start, start + (int64_t)PREFIX_BYTES * bound);
        PyObject *text = raw == NULL ? NULL : collapse_whitespace(raw);
        Py_XDECREF(raw);
        if (text == NULL) {
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(text) > bound + 4) {
            return cut(text, bound);
        }
        Py_DECREF(text);
    }
    PyObject *raw = text_of(file, start, end);
    PyObject *text = raw == NULL ? NULL : collapse_whitespace(raw);
    Py_XDECREF(raw);
    if (text == NULL) {
        return NULL;
    }
    return PyUnicode_GET_LENGTH(text) > bound ? cut(text, bound) : text;
}

/* ``text.rstrip(" =;")`` */
static PyObject *strip_signature_end(PyObject *text) {
    Py_ssize_t end = PyUnicode_GET_LENGTH(text);
    while (end > 0) {
        Py_UCS4 character = PyUnicode_READ_CHAR(text, end - 1);
        if (character != ' ' && character != '=' && character != ';') {
            break;
        }
        end--;
    }
    return PyUnicode_Substring(text, 0, end);
}

static bool is_ascii_blank(char byte) {
    return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r' || byte == '\v' || byte == '\f';
}

/* A JSDoc block's text (``raw`` is what lies between its opening and closing markers): each line without its leading blanks and ``*``
   (and one space after it), and without trailing blanks; blank lines at both ends dropped. */
static PyObject *doc_text(PyObject *raw) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(raw);
    int kind = PyUnicode_KIND(raw);
    const void *data = PyUnicode_DATA(raw);
    Py_UCS4 *out = PyMem_Malloc((size_t)(length ? length : 1) * sizeof(Py_UCS4));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t used = 0;
    Py_ssize_t index = 0;
    bool first_line = true;
    while (index <= length) {
        /* one line: up to "\n", "\r\n" or "\r" (all line breaks become "\n" first) */
        Py_ssize_t line_end = index;
        while (line_end < length) {
            Py_UCS4 character = PyUnicode_READ(kind, data, line_end);
            if (character == '\n' || character == '\r') {
                break;
            }
            line_end++;
        }
        Py_ssize_t start = index;
        while (start < line_end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) {
            start++;
        }
        if (start < line_end && PyUnicode_READ(kind, data, start) == '*') {
            start += (start + 1 < line_end && PyUnicode_READ(kind, data, start + 1) == ' ') ? 2 : 1;
        }
        Py_ssize_t end = line_end;
        while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) {
            end--;
        }
        if (!first_line) {
            out[used++] = '\n';
        }
        first_line = false;
        for (Py_ssize_t position = start; position < end; position++) {
            out[used++] = PyUnicode_READ(kind, data, position);
        }
        if (line_end >= length) {
            break;
        }
        index = line_end + 1;
        if (PyUnicode_READ(kind, data, line_end) == '\r' && index < length && PyUnicode_READ(kind, data, index) == '\n') {
            index++;
        }
    }
    Py_ssize_t begin = 0;
    while (begin < used && Py_UNICODE_ISSPACE(out[begin])) {
        begin++;
    }
    while (used > begin && Py_UNICODE_ISSPACE(out[used - 1])) {
        used--;
    }
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out + begin, used - begin);
    PyMem_Free(out);
    return result;
}

static size_t bisect_right_end(const Range *ranges, size_t count, uint32_t position) {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (position < ranges[middle].end) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    return low;
}

/* The JSDoc block that ends on the line above ``anchor`` (or on its line) with only blanks between; NULL
   with no error set when there is none. Comments are sorted by end. */
static PyObject *doc_before(const FileCaptures *file, uint32_t anchor) {
    size_t position = bisect_right_end(file->comments.items, file->comments.count, anchor);
    if (position == 0) {
        return NULL;
    }
    Range comment = file->comments.items[position - 1];
    if (anchor - comment.end > MAX_DOC_GAP) {
        return NULL;
    }
    int line_breaks = 0;
    for (uint32_t index = comment.end; index < anchor; index++) {
        char byte = file->text[index];
        if (!is_ascii_blank(byte) || (byte == '\n' && ++line_breaks > 1)) {
            return NULL;
        }
    }
    const char *raw = file->text + comment.start;
    uint32_t length = comment.end - comment.start;
    if (length < 5 || memcmp(raw, "/**", 3) != 0 || raw[3] == '/' || memcmp(raw + length - 2, "*/", 2) != 0) {
        /* the opening and closing markers must not overlap: a 4-byte block comment is empty, not JSDoc */
        return NULL;
    }
    PyObject *inner = PyUnicode_DecodeUTF8(raw + 3, (Py_ssize_t)length - 5, "replace");
    if (inner == NULL) {
        return NULL;
    }
    PyObject *doc = doc_text(inner);
    Py_DECREF(inner);
    if (doc == NULL || PyUnicode_GET_LENGTH(doc) == 0) {
        Py_XDECREF(doc);
        return NULL;
    }
    PyObject *bounded = prefix_of(doc, file->max_doc_chars);
    Py_DECREF(doc);
    return bounded;
}

/* ---- declarations --------------------------------------------------------------------------------- */

typedef struct {
    PyObject *name; /* borrowed from the caller, which owns it */
    Span name_span;
    uint8_t kind;
    TSNode outer;
    int64_t header_end; /* -1: the outer node's end */
    bool exported;
    bool is_default;
    bool is_async;
    const char *signature_prefix; /* NULL for none */
    int64_t doc_start;            /* -1: the outer node's start */
    const Span *span;             /* NULL: the outer node's span */
    bool constructor_member;
    TSNode hinted;                /* the declaration its type hint is read from; null: none */
    uint32_t owner; /* see PendingSymbol */
} NewSymbol;

static bool declared_contains(const FileCaptures *file, uint32_t start) {
    size_t position = ((size_t)start * 2654435761u) & file->declared_mask;
    while (file->declared_set[position] != 0) {
        if (file->declared_set[position] == start + 1) {
            return true;
        }
        position = (position + 1) & file->declared_mask;
    }
    return false;
}

static int declare(FileCaptures *file, uint32_t start) {
    if ((file->declared.count + 1) * 2 > file->declared_mask + 1) {
        size_t size = (file->declared_mask + 1) * 2;
        uint32_t *grown = PyMem_Calloc(size, sizeof(uint32_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_Free(file->declared_set);
        file->declared_set = grown;
        file->declared_mask = size - 1;
        for (size_t index = 0; index < file->declared.count; index++) {
            uint32_t key = file->declared.items[index];
            size_t position = ((size_t)key * 2654435761u) & file->declared_mask;
            while (file->declared_set[position] != 0) {
                position = (position + 1) & file->declared_mask;
            }
            file->declared_set[position] = key + 1;
        }
    }
    size_t position = ((size_t)start * 2654435761u) & file->declared_mask;
    while (file->declared_set[position] != 0) {
        if (file->declared_set[position] == start + 1) {
            return 0;
        }
        position = (position + 1) & file->declared_mask;
    }
    file->declared_set[position] = start + 1;
    return PUSH(file->declared, start);
}

/* Where a declaration's header starts: after its leading decorators and comments. */
static uint32_t header_start(TSNode node) {
    uint32_t count = ts_node_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_child(node, index);
        if (!is_type(child, "decorator") && !is_type(child, "comment")) {
            return ts_node_start_byte(child);
        }
    }
    return ts_node_start_byte(node);
}

static int add_symbol(FileCaptures *file, const NewSymbol *symbol) {
    uint32_t name_start = symbol->name_span.start_byte;
    if (PyUnicode_GET_LENGTH(symbol->name) == 0 || declared_contains(file, name_start)) {
        return 0;
    }
    if (declare(file, name_start) < 0) {
        return -1;
    }
    int64_t start = header_start(symbol->outer);
    int64_t end = symbol->header_end < 0 ? ts_node_end_byte(symbol->outer) : symbol->header_end;
    Py_ssize_t bound = file->max_signature_chars;
    if (symbol->signature_prefix != NULL) {
        bound -= (Py_ssize_t)strlen(symbol->signature_prefix) + 1;
    }
    PyObject *text = normalised(file, start, end > start ? end : start, bound);
    PyObject *signature = text == NULL ? NULL : strip_signature_end(text);
    Py_XDECREF(text);
    if (signature != NULL && symbol->signature_prefix != NULL) {
        PyObject *prefixed = PyUnicode_FromFormat("%s %U", symbol->signature_prefix, signature);
        Py_SETREF(signature, prefixed);
    }
    if (signature == NULL) {
        return -1;
    }
    uint32_t anchor = symbol->doc_start < 0 ? ts_node_start_byte(symbol->outer) : (uint32_t)symbol->doc_start;
    PyObject *doc = doc_before(file, anchor);
    if (doc == NULL && PyErr_Occurred()) {
        Py_DECREF(signature);
        return -1;
    }
    PendingSymbol pending = {
        .name = Py_NewRef(symbol->name),
        .signature = signature,
        .doc = doc,
        .span = symbol->span != NULL ? *symbol->span : node_span(symbol->outer),
        .name_span = symbol->name_span,
        .kind = symbol->kind,
        .exported = symbol->exported,
        .is_default = symbol->is_default,
        .is_async = symbol->is_async,
        .constructor_member = symbol->constructor_member,
        .hinted = symbol->hinted,
        .owner = symbol->owner,
    };
    if (PUSH(file->pending, pending) < 0) {
        Py_DECREF(pending.name);
        Py_DECREF(signature);
        Py_XDECREF(doc);
        return -1;
    }
    return 0;
}

static const char *const SIMPLE_NAMES[] = {
    "identifier", "type_identifier", "property_identifier", "private_property_identifier", "number",
    "computed_property_name", "shorthand_property_identifier_pattern", "string", NULL,
};

/* The byte column of ``position``: its distance from the line break before it (or from the file's start). */
static uint32_t column_of(const FileCaptures *file, uint32_t position) {
    uint32_t line_start = position;
    while (line_start > 0 && file->text[line_start - 1] != '\n') {
        line_start--;
    }
    return position - line_start;
}

/* A declaration's name: 1 with ``*name`` (a new reference) and ``*span`` set, 0 when the node is no name. */
static int simple_name(const FileCaptures *file, TSNode node, PyObject **name, Span *span) {
    if (ts_node_is_null(node) || !is_one_of(node, SIMPLE_NAMES) || ts_node_is_missing(node)) {
        return 0;
    }
    *span = node_span(node);
    if (is_type(node, "string")) {
        if (span->end_byte - span->start_byte < 2) {
            return 0;
        }
        span->start_byte += 1;
        span->end_byte -= 1;
        span->start_column += 1;
        if (span->end_column > 0) {
            span->end_column -= 1;
        } else {
            /* Error recovery ended the string after a line break, its closing quote missing: the name ends at
               that break, on the line before (not at column -1). */
            span->end_line -= 1;
            span->end_column = column_of(file, span->end_byte);
        }
    }
    *name = text_of(file, span->start_byte, span->end_byte);
    return *name == NULL ? -1 : 1;
}

/* Adds ``symbol`` under the name ``name_node`` holds; nothing when ``name_node`` is no declaration name. */
static int add_named_symbol(FileCaptures *file, TSNode name_node, NewSymbol symbol) {
    PyObject *name;
    int found = simple_name(file, name_node, &name, &symbol.name_span);
    if (found <= 0) {
        return found;
    }
    symbol.name = name;
    int status = add_symbol(file, &symbol);
    Py_DECREF(name);
    return status;
}

/* ``("default", span)`` of an export statement's ``default`` keyword. */
static int default_keyword(TSNode export_statement, PyObject **name, Span *span) {
    TSNode keyword = child_of_type(export_statement, "default");
    if (ts_node_is_null(keyword)) {
        return 0;
    }
    *name = Py_NewRef(default_string);
    *span = node_span(keyword);
    return 1;
}

typedef struct {
    TSNode outer;
    bool exported;
    bool is_default;
} ExportWrapper;

/* The outermost node of a declaration (with ``declare``/``export``), whether exported, whether default;
   ``above`` holds the declaration's parent and grandparent. */
static ExportWrapper export_wrapper(TSNode node, const TSNode *above) {
    TSNode outer = node;
    TSNode parent = above[0];
    if (!ts_node_is_null(parent) && is_type(parent, "ambient_declaration")) {
        outer = parent;
        parent = above[1];
    }
    if (!ts_node_is_null(parent) && is_type(parent, "export_statement")) {
        return (ExportWrapper){parent, true, !ts_node_is_null(child_of_type(parent, "default"))};
    }
    return (ExportWrapper){outer, false, false};
}

static const char *const BEFORE_ASYNC[] = {
    "decorator", "comment", "accessibility_modifier", "override_modifier", "static", "export", NULL,
};

/* Whether a function-like node starts with ``async`` (after its decorators and modifiers). */
static bool has_async(TSNode node) {
    uint32_t count = ts_node_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_child(node, index);
        if (!is_one_of(child, BEFORE_ASYNC)) {
            return is_type(child, "async");
        }
    }
    return false;
}

static int64_t start_or_none(TSNode node) { return ts_node_is_null(node) ? -1 : (int64_t)ts_node_start_byte(node); }

static int named_declaration(FileCaptures *file, TSNode node, const Ancestors *ancestors, uint8_t kind) {
    const Fields *fields = &file->plan->fields;
    ExportWrapper wrapper = export_wrapper(node, ancestors->above);
    TSNode body = field(node, fields->body);
    NewSymbol symbol = {
        .kind = kind,
        .outer = wrapper.outer,
        .header_end = kind == SK_TYPE_ALIAS ? -1 : start_or_none(body),
        .exported = wrapper.exported,
        .is_default = wrapper.is_default,
        .is_async = has_async(node),
        .doc_start = -1,
        .hinted = node,
    };
    return add_named_symbol(file, field(node, fields->name), symbol);
}

static int class_definition(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    if (!is_type(node, "class")) {
        return named_declaration(file, node, ancestors, SK_CLASS);
    }
    TSNode parent = ancestors->above[0];
    if (ts_node_is_null(parent) || !is_type(parent, "export_statement")) {
        return 0; /* a class expression bound to a variable is the variable's symbol; others are not declarations */
    }
    const Fields *fields = &file->plan->fields;
    PyObject *name;
    Span name_span;
    int found = simple_name(file, field(node, fields->name), &name, &name_span);
    if (found == 0) {
        found = default_keyword(parent, &name, &name_span);
    }
    if (found <= 0) {
        return found;
    }
    NewSymbol symbol = {
        .name = name,
        .name_span = name_span,
        .kind = SK_CLASS,
        .outer = parent,
        .header_end = start_or_none(field(node, fields->body)),
        .exported = true,
        .is_default = true,
        .doc_start = -1,
        .hinted = node,
    };
    int status = add_symbol(file, &symbol);
    Py_DECREF(name);
    return status;
}

static int default_function(FileCaptures *file, TSNode statement, const Ancestors *ancestors) {
    (void)ancestors;
    const Fields *fields = &file->plan->fields;
    TSNode value = field(statement, fields->value);
    if (ts_node_is_null(value)) {
        return 0;
    }
    PyObject *name;
    Span name_span;
    int found = simple_name(file, field(value, fields->name), &name, &name_span);
    if (found == 0) {
        found = default_keyword(statement, &name, &name_span);
    }
    if (found <= 0) {
        return found;
    }
    NewSymbol symbol = {
        .name = name,
        .name_span = name_span,
        .kind = SK_FUNCTION,
        .outer = statement,
        .header_end = start_or_none(field(value, fields->body)),
        .exported = true,
        .is_default = true,
        .is_async = has_async(value),
        .doc_start = -1,
        .hinted = value,
    };
    int status = add_symbol(file, &symbol);
    Py_DECREF(name);
    return status;
}

static const char *const MEMBER_CONTAINERS[] = {"class_body", "interface_body", "object_type", NULL};

/* Where a class member starts and its span: TypeScript puts a member's decorators before it, as siblings in
   the class body; they belong to the member. Decorators are sorted by start. */
static uint32_t class_member_outer(const FileCaptures *file, TSNode node, Span *span) {
    uint32_t start = ts_node_start_byte(node);
    size_t index = file->decorators.count;
    /* the last decorator ending at or before ``start`` (decorators do not nest, so ends are sorted too) */
    size_t low = 0, high = file->decorators.count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (start < ts_node_end_byte(file->decorators.items[middle])) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    index = low;
    bool found = false;
    size_t first = 0;
    while (index > 0) {
        TSNode decorator = file->decorators.items[index - 1];
        uint32_t gap_start = ts_node_end_byte(decorator);
        if (gap_start < start && start - gap_start > MAX_DOC_GAP) {
            break;
        }
        bool blank = true;
        for (uint32_t position = gap_start; blank && position < start; position++) {
            blank = is_ascii_blank(file->text[position]);
        }
        if (!blank) {
            break;
        }
        found = true;
        first = index - 1;
        start = ts_node_start_byte(decorator);
        index--;
    }
    *span = node_span(node);
    if (found) {
        TSPoint begin = ts_node_start_point(file->decorators.items[first]);
        span->start_line = begin.row + 1;
        span->start_column = begin.column;
        span->start_byte = start;
    }
    return start;
}

static int method(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    TSNode container = ancestors->above[0];
    if (ts_node_is_null(container) || !is_one_of(container, MEMBER_CONTAINERS)) {
        return 0; /* object literal methods are not declarations of the index */
    }
    const Fields *fields = &file->plan->fields;
    PyObject *name;
    Span name_span;
    int found = simple_name(file, field(node, fields->name), &name, &name_span);
    if (found <= 0) {
        return found;
    }
    uint8_t kind = SK_METHOD;
    uint32_t count = ts_node_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_child(node, index);
        if (ts_node_start_byte(child) >= name_span.start_byte) {
            break;
        }
        if (is_type(child, "get")) {
            kind = SK_GETTER;
        } else if (is_type(child, "set")) {
            kind = SK_SETTER;
        }
    }
    if (PyUnicode_CompareWithASCIIString(name, "constructor") == 0 && is_type(container, "class_body")) {
        kind = SK_CONSTRUCTOR;
    }
    Span span;
    uint32_t doc_start = class_member_outer(file, node, &span);
    NewSymbol symbol = {
        .name = name,
        .name_span = name_span,
        .kind = kind,
        .outer = node,
        .header_end = start_or_none(field(node, fields->body)),
        .is_async = has_async(node),
        .doc_start = doc_start,
        .span = &span,
        .hinted = node,
    };
    int status = add_symbol(file, &symbol);
    Py_DECREF(name);
    return status;
}

static int property(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    TSNode container = ancestors->above[0];
    if (ts_node_is_null(container) || !is_one_of(container, MEMBER_CONTAINERS)) {
        return 0;
    }
    const Fields *fields = &file->plan->fields;
    TSNode name_node = field(node, fields->name);
    if (ts_node_is_null(name_node)) {
        name_node = field(node, fields->property);
    }
    Span span;
    uint32_t doc_start = class_member_outer(file, node, &span);
    NewSymbol symbol = {
        .kind = SK_PROPERTY,
        .outer = node,
        .header_end = start_or_none(field(node, fields->value)),
        .doc_start = doc_start,
        .span = &span,
        .hinted = node,
    };
    return add_named_symbol(file, name_node, symbol);
}

static bool text_equals(const FileCaptures *file, TSNode node, const char *text) {
    uint32_t start = ts_node_start_byte(node), end = ts_node_end_byte(node);
    size_t length = strlen(text);
    return end - start == length && end <= file->length && memcmp(file->text + start, text, length) == 0;
}

static int parameter_property(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    const Fields *fields = &file->plan->fields;
    TSNode owner = ancestors->above[1]; /* above the formal parameters */
    if (ts_node_is_null(owner) || !is_type(owner, "method_definition")) {
        return 0;
    }
    TSNode method_name = field(owner, fields->name);
    if (ts_node_is_null(method_name) || !text_equals(file, method_name, "constructor")) {
        return 0;
    }
    TSNode pattern = field(node, fields->pattern);
    if (ts_node_is_null(pattern) || !is_type(pattern, "identifier")) {
        return 0;
    }
    NewSymbol symbol = {
        .kind = SK_PROPERTY,
        .outer = node,
        .header_end = start_or_none(field(node, fields->value)),
        .doc_start = -1,
        .constructor_member = true,
        .hinted = node,
    };
    return add_named_symbol(file, pattern, symbol);
}

static int enum_member(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    (void)ancestors;
    TSNode name_node = is_type(node, "enum_assignment") ? field(node, file->plan->fields.name) : node;
    NewSymbol symbol = {.kind = SK_ENUM_MEMBER, .outer = node, .header_end = -1, .doc_start = -1};
    return add_named_symbol(file, name_node, symbol);
}

/* The named leaves under ``node`` in source order (iterative: names can nest deeper than the C stack). */
static int named_leaves(TSNode node, NodeArray *leaves) {
    NodeArray pending = {NULL, 0, 0};
    int status = PUSH(pending, node);
    while (status == 0 && pending.count > 0) {
        TSNode current = pending.items[--pending.count];
        uint32_t count = ts_node_child_count(current);
        if (count == 0) {
            if (ts_node_is_named(current)) {
                status = PUSH(*leaves, current);
            }
            continue;
        }
        for (uint32_t index = count; status == 0 && index > 0; index--) {
            status = PUSH(pending, ts_node_child(current, index - 1));
        }
    }
    PyMem_Free(pending.items);
    return status;
}

/* ``namespace A.B {}`` declares ``A`` and, inside it, ``B`` (as the compiler does). */
static int namespace(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    const Fields *fields = &file->plan->fields;
    TSNode name_node = field(node, fields->name);
    if (ts_node_is_null(name_node)) {
        return 0;
    }
    ExportWrapper wrapper = export_wrapper(node, ancestors->above);
    int64_t header_end = start_or_none(field(node, fields->body));
    if (is_type(name_node, "nested_identifier")) {
        NodeArray pieces = {NULL, 0, 0};
        int status = named_leaves(name_node, &pieces);
        TSPoint end = ts_node_end_point(node);
        for (size_t index = 0; status == 0 && index < pieces.count; index++) {
            TSNode piece = pieces.items[index];
            PyObject *name = text_of(file, ts_node_start_byte(piece), ts_node_end_byte(piece));
            if (name == NULL) {
                status = -1;
                break;
            }
            Span piece_span = node_span(piece);
            Span span = {piece_span.start_line, piece_span.start_column, end.row + 1, end.column,
                         piece_span.start_byte, ts_node_end_byte(node)};
            NewSymbol symbol = {
                .name = name,
                .name_span = piece_span,
                .kind = SK_NAMESPACE,
                .outer = wrapper.outer,
                .header_end = header_end,
                .exported = index == 0 ? wrapper.exported : true,
                .doc_start = -1,
                .span = index == 0 ? NULL : &span,
            };
            status = add_symbol(file, &symbol);
            Py_DECREF(name);
        }
        PyMem_Free(pieces.items);
        return status;
    }
    NewSymbol symbol = {
        .kind = is_type(name_node, "string") ? SK_MODULE : SK_NAMESPACE,
        .outer = wrapper.outer,
        .header_end = header_end,
        .exported = wrapper.exported,
        .is_default = wrapper.is_default,
        .doc_start = -1,
    };
    return add_named_symbol(file, name_node, symbol);
}

static int global_augmentation(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    TSNode keyword = child_of_type(node, "global");
    if (ts_node_is_null(keyword)) {
        return 0;
    }
    ExportWrapper wrapper = export_wrapper(node, ancestors->above);
    NewSymbol symbol = {
        .name = global_string,
        .name_span = node_span(keyword),
        .kind = SK_NAMESPACE,
        .outer = wrapper.outer,
        .header_end = start_or_none(child_of_type(node, "statement_block")),
        .exported = wrapper.exported,
        .doc_start = -1,
    };
    return add_symbol(file, &symbol);
}

/* Whether a byte offset lies in the body (or parameters) of any function, method or static block (the
   outermost ranges, sorted). */
static bool inside_function(const FileCaptures *file, uint32_t position) {
    size_t low = 0, high = file->function_scopes.count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (position < file->function_scopes.items[middle].start) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    return low > 0 && position < file->function_scopes.items[low - 1].end;
}

static const char *const FUNCTION_VALUES[] = {"function_expression", "function", "generator_function",
                                              "arrow_function", NULL};

static const char *const TYPE_WRAPPERS[] = {"as_expression", "satisfies_expression", "non_null_expression", NULL};

/* A variable's value without parentheses, type assertions (``<T>x``, ``x as T``, ``x satisfies T``) and ``!``, as
   the compiler's ``skipOuterExpressions`` sees it; ``<A>(x) => …`` read as a type assertion of an arrow function
   (the grammar's reading next to a syntax error) is the generic arrow function the compiler sees, and so is
   ``x as A.B`` read as ``(x as A).B`` (a member of an unparenthesised ``as`` is that reading). */
static TSNode unwrapped(TSNode value) {
    for (;;) {
        if (is_type(value, "parenthesized_expression") && ts_node_named_child_count(value) == 1) {
            value = ts_node_named_child(value, 0);
        } else if (is_type(value, "type_assertion") && ts_node_named_child_count(value) == 2) {
            value = ts_node_named_child(value, 1);
        } else if (is_one_of(value, TYPE_WRAPPERS) && ts_node_named_child_count(value) >= 1) {
            value = ts_node_named_child(value, 0);
        } else if (is_type(value, "member_expression") && ts_node_named_child_count(value) >= 1 &&
                   is_one_of(ts_node_named_child(value, 0), TYPE_WRAPPERS)) {
            value = ts_node_named_child(value, 0);
        } else {
            return value;
        }
    }
}

/* The identifiers a destructuring pattern binds, in source order (iterative, for deep patterns). */
static int pattern_bindings(const FileCaptures *file, TSNode pattern, NodeArray *bindings) {
    const Fields *fields = &file->plan->fields;
    NodeArray pending = {NULL, 0, 0};
    int status = PUSH(pending, pattern);
    while (status == 0 && pending.count > 0) {
        TSNode node = pending.items[--pending.count];
        if (is_type(node, "identifier") || is_type(node, "shorthand_property_identifier_pattern")) {
            status = PUSH(*bindings, node);
        } else if (is_type(node, "object_pattern") || is_type(node, "array_pattern") || is_type(node, "rest_pattern")) {
            for (uint32_t index = ts_node_named_child_count(node); status == 0 && index > 0; index--) {
                status = PUSH(pending, ts_node_named_child(node, index - 1));
            }
        } else if (is_type(node, "pair_pattern")) {
            TSNode value = field(node, fields->value);
            if (!ts_node_is_null(value)) {
                status = PUSH(pending, value);
            }
        } else if (is_type(node, "assignment_pattern") || is_type(node, "object_assignment_pattern")) {
            TSNode left = ts_node_child_by_field_name(node, "left", 4);
            if (!ts_node_is_null(left)) {
                status = PUSH(pending, left);
            }
        }
    }
    PyMem_Free(pending.items);
    return status;
}

/* A variable: a function or class when initialised by one (at any depth), else a constant or variable when
   outside every function. Loop variables are not symbols. */
static int variable(FileCaptures *file, TSNode node, const Ancestors *ancestors) {
    const Fields *fields = &file->plan->fields;
    TSNode value = field(node, fields->value);
    bool is_function = false, is_class = false;
    if (!ts_node_is_null(value)) {
        if (is_type(value, "parenthesized_expression") || is_type(value, "type_assertion") ||
            is_one_of(value, TYPE_WRAPPERS) || is_type(value, "member_expression")) {
            value = unwrapped(value);
        }
        is_function = is_one_of(value, FUNCTION_VALUES);
        is_class = is_type(value, "class");
    }
    if (!is_function && !is_class && inside_function(file, ts_node_start_byte(node))) {
        return 0; /* a local variable: the common case, rejected before any other node access */
    }
    TSNode declaration = ancestors->above[0];
    if (ts_node_is_null(declaration)) {
        return 0;
    }
    TSNode container = ancestors->above[1];
    if (ts_node_is_null(container) || is_type(container, "for_statement")) {
        return 0;
    }
    const char *keyword = "var";
    if (is_type(declaration, "lexical_declaration")) {
        TSNode kind_node = field(declaration, fields->kind);
        keyword = ts_node_is_null(kind_node) ? "let" : ts_node_type(kind_node);
    }
    TSNode name_node = field(node, fields->name);
    if (ts_node_is_null(name_node)) {
        return 0;
    }
    bool plain_name = is_type(name_node, "identifier");
    uint8_t kind;
    if (is_function && plain_name) {
        kind = SK_FUNCTION;
    } else if (is_class && plain_name) {
        kind = SK_CLASS;
    } else if (inside_function(file, ts_node_start_byte(node))) {
        return 0; /* a destructured local bound to a function or class value */
    } else {
        kind = strcmp(keyword, "const") == 0 ? SK_CONSTANT : SK_VARIABLE;
    }
    ExportWrapper wrapper = export_wrapper(declaration, &ancestors->above[1]);
    int64_t header_end = -1;
    if (!ts_node_is_null(value)) {
        TSNode body = kind == SK_FUNCTION || kind == SK_CLASS ? field(value, fields->body) : (TSNode){0};
        header_end = ts_node_is_null(body) ? ts_node_start_byte(value) : ts_node_start_byte(body);
    }
    bool is_async = !ts_node_is_null(value) && kind == SK_FUNCTION && has_async(value);
    NodeArray bindings = {NULL, 0, 0};
    int status = plain_name ? PUSH(bindings, name_node) : pattern_bindings(file, name_node, &bindings);
    for (size_t index = 0; status == 0 && index < bindings.count; index++) {
        PyObject *name;
        Span name_span;
        int found = simple_name(file, bindings.items[index], &name, &name_span);
        if (found <= 0) {
            status = found;
            continue;
        }
        NewSymbol symbol = {
            .name = name,
            .name_span = name_span,
            .kind = kind,
            .outer = node,
            .header_end = header_end,
            .exported = wrapper.exported,
            .is_async = is_async,
            .signature_prefix = keyword,
            .doc_start = ts_node_start_byte(wrapper.outer),
            .span = plain_name ? NULL : &name_span,
            .hinted = node,
        };
        status = add_symbol(file, &symbol);
        Py_DECREF(name);
    }
    PyMem_Free(bindings.items);
    return status;
}

/* Declares the type variable named by ``name_node`` (its position is no reference) in scope over ``scope``. */
static int declare_type_variable(FileCaptures *file, TSNode name_node, TSNode scope) {
    uint32_t start = ts_node_start_byte(name_node), end = ts_node_end_byte(name_node);
    if (ts_node_is_null(scope) || end > file->length || start >= end) {
        return 0;
    }
    NamedScope named = {file->text + start, (Py_ssize_t)(end - start), ts_node_start_byte(scope),
                        ts_node_end_byte(scope)};
    return declare(file, start) < 0 || PUSH(file->scopes, named) < 0 ? -1 : 0;
}

/* ``[K in keyof T]: T[K]``: the key ``K`` is a type variable of the mapped type's member. */
static int mapped_type_key(FileCaptures *file, const Captured *clause) {
    TSNode name_node = field(clause->node, file->plan->fields.name);
    if (ts_node_is_null(name_node) || !is_type(name_node, "type_identifier")) {
        return 0;
    }
    return declare_type_variable(file, name_node, clause->ancestors.above[0]);
}

/* ``T extends Array<infer U> ? U : never``: each ``infer`` of the extends clause declares a type variable in scope
   in the true branch. Nested conditional types are their own captures, so their extends clauses are skipped here;
   the walk is iterative and takes a step per node. */
static int infer_types(FileCaptures *file, TSNode conditional) {
    TSNode clause = ts_node_child_by_field_name(conditional, "right", 5);
    TSNode branch = ts_node_child_by_field_name(conditional, "consequence", 11);
    if (ts_node_is_null(clause) || ts_node_is_null(branch)) {
        return 0;
    }
    NodeArray pending = {NULL, 0, 0};
    int status = PUSH(pending, clause);
    while (status == 0 && pending.count > 0) {
        TSNode node = pending.items[--pending.count];
        if (take_step(&file->budget) < 0) {
            status = -1;
        } else if (is_type(node, "infer_type")) {
            TSNode name_node = ts_node_named_child_count(node) > 0 ? ts_node_named_child(node, 0) : (TSNode){0};
            if (!ts_node_is_null(name_node) && is_type(name_node, "type_identifier")) {
                status = declare_type_variable(file, name_node, branch);
            }
        } else if (!is_type(node, "conditional_type")) {
            for (uint32_t index = ts_node_named_child_count(node); status == 0 && index > 0; index--) {
                status = PUSH(pending, ts_node_named_child(node, index - 1));
            }
        }
    }
    PyMem_Free(pending.items);
    return status;
}

/* Record each type parameter's name as a declaration and its owner's range as its scope (and the type variables
   of mapped types and ``infer``). */
static int type_parameters(FileCaptures *file, const Captured *list) {
    TSNode node = list->node;
    if (is_type(node, "mapped_type_clause")) {
        return mapped_type_key(file, list);
    }
    if (is_type(node, "conditional_type")) {
        return infer_types(file, node);
    }
    TSNode owner = list->ancestors.above[0];
    if (ts_node_is_null(owner)) {
        return 0;
    }
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode parameter = ts_node_named_child(node, index);
        if (!is_type(parameter, "type_parameter")) {
            continue;
        }
        TSNode name_node = field(parameter, file->plan->fields.name);
        if (ts_node_is_null(name_node)) {
            continue;
        }
        uint32_t start = ts_node_start_byte(name_node), end = ts_node_end_byte(name_node);
        if (end > file->length || start > end) {
            continue;
        }
        NamedScope scope = {file->text + start, (Py_ssize_t)(end - start), ts_node_start_byte(owner),
                            ts_node_end_byte(owner)};
        if (declare(file, start) < 0 || PUSH(file->scopes, scope) < 0) {
            return -1;
        }
    }
    return 0;
}

static int compare_scopes(const void *left, const void *right) {
    const NamedScope *a = left, *b = right;
    if (a->length != b->length) {
        return a->length < b->length ? -1 : 1;
    }
    int order = memcmp(a->name, b->name, (size_t)a->length);
    if (order != 0) {
        return order;
    }
    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    return a->end < b->end ? -1 : (a->end > b->end);
}

static bool same_name(const NamedScope *a, const NamedScope *b) {
    return a->length == b->length && memcmp(a->name, b->name, (size_t)a->length) == 0;
}

/* Sort each name's scopes and merge overlaps, so a type parameter lookup is one bisection. */
static void merge_scopes(FileCaptures *file) {
    NamedScope *scopes = file->scopes.items;
    sort_items(scopes, file->scopes.count, sizeof(NamedScope), compare_scopes);
    size_t kept = 0;
    for (size_t index = 0; index < file->scopes.count; index++) {
        if (kept > 0 && same_name(&scopes[kept - 1], &scopes[index]) && scopes[index].start <= scopes[kept - 1].end) {
            if (scopes[index].end > scopes[kept - 1].end) {
                scopes[kept - 1].end = scopes[index].end;
            }
        } else {
            scopes[kept++] = scopes[index];
        }
    }
    file->scopes.count = kept;
}

/* Whether ``name`` at ``position`` is in the scope of a type parameter of that name. */
static bool is_type_parameter(const FileCaptures *file, const char *name, Py_ssize_t length, uint32_t position) {
    const NamedScope *scopes = file->scopes.items;
    NamedScope key = {name, length, position, UINT32_MAX};
    /* the last scope of this name starting at or before ``position`` */
    size_t low = 0, high = file->scopes.count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (compare_scopes(&key, &scopes[middle]) < 0) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    return low > 0 && same_name(&scopes[low - 1], &key) && position < scopes[low - 1].end;
}

/* The ``@definition.<suffix>`` handlers before FIRST_MAPPED_DEFINITION; the rest are named declarations. */
static int (*const DEFINITION_HANDLERS[FIRST_MAPPED_DEFINITION])(FileCaptures *file, TSNode node,
                                                                  const Ancestors *ancestors) = {
    [DEF_CLASS] = class_definition,
    [DEF_DEFAULT_FUNCTION] = default_function,
    [DEF_METHOD] = method,
    [DEF_PROPERTY] = property,
    [DEF_PARAMETER_PROPERTY] = parameter_property,
    [DEF_ENUM_MEMBER] = enum_member,
    [DEF_NAMESPACE] = namespace,
    [DEF_GLOBAL] = global_augmentation,
    [DEF_VARIABLE] = variable,
};

static int compare_definitions(const void *left, const void *right) {
    const DefinitionCapture *a = left, *b = right;
    if (a->order != b->order) {
        return a->order < b->order ? -1 : 1;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

static int compare_ranges_by_end(const void *left, const void *right) {
    const Range *a = left, *b = right;
    if (a->end != b->end) {
        return a->end < b->end ? -1 : 1;
    }
    return a->start < b->start ? -1 : (a->start > b->start);
}

static int compare_ranges_by_start(const void *left, const void *right) {
    const Range *a = left, *b = right;
    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    return a->end < b->end ? -1 : (a->end > b->end);
}

static int compare_nodes_by_start(const void *left, const void *right) {
    uint32_t a = ts_node_start_byte(*(const TSNode *)left), b = ts_node_start_byte(*(const TSNode *)right);
    return a < b ? -1 : (a > b);
}

static int compare_pending(const void *left, const void *right) {
    const PendingSymbol *a = left, *b = right;
    if (a->span.start_byte != b->span.start_byte) {
        return a->span.start_byte < b->span.start_byte ? -1 : 1;
    }
    if (a->span.end_byte != b->span.end_byte) {
        return a->span.end_byte > b->span.end_byte ? -1 : 1;
    }
    return a->name_span.start_byte < b->name_span.start_byte ? -1 : (a->name_span.start_byte > b->name_span.start_byte);
}

/* Whether a captured assignment is a statement of its own directly in the program (the module's top level). */
static bool top_level_statement(const Captured *captured) {
    TSNode statement = captured->ancestors.above[0], program = captured->ancestors.above[1];
    return !ts_node_is_null(statement) && !ts_node_is_null(program) && is_type(statement, "expression_statement") &&
           is_type(program, "program");
}

/* The names the program's statements declare (functions, classes, variables with a plain name; exported or
   ``declare``d too), each mapped to the start of its first declaration's name. */
static PyObject *top_level_names(FileCaptures *file, TSNode program) {
    const Fields *fields = &file->plan->fields;
    PyObject *names = PyDict_New();
    uint32_t count = ts_node_named_child_count(program);
    for (uint32_t index = 0; names != NULL && index < count; index++) {
        TSNode statement = ts_node_named_child(program, index);
        if (take_step(&file->budget) < 0) {
            Py_CLEAR(names);
            break;
        }
        if (is_type(statement, "export_statement")) {
            statement = ts_node_child_by_field_name(statement, "declaration", 11);
        }
        if (!ts_node_is_null(statement) && is_type(statement, "ambient_declaration") &&
            ts_node_named_child_count(statement) > 0) {
            statement = ts_node_named_child(statement, 0);
        }
        if (ts_node_is_null(statement)) {
            continue;
        }
        NodeArray found = {NULL, 0, 0};
        int status = 0;
        if (is_type(statement, "lexical_declaration") || is_type(statement, "variable_declaration")) {
            for (uint32_t position = 0; status == 0 && position < ts_node_named_child_count(statement); position++) {
                TSNode declarator = ts_node_named_child(statement, position);
                TSNode name =
                    is_type(declarator, "variable_declarator") ? field(declarator, fields->name) : (TSNode){0};
                if (!ts_node_is_null(name) && is_type(name, "identifier")) {
                    status = PUSH(found, name);
                }
            }
        } else if (is_type(statement, "function_declaration") || is_type(statement, "generator_function_declaration") ||
                   is_type(statement, "class_declaration") || is_type(statement, "abstract_class_declaration") ||
                   is_type(statement, "function_signature")) {
            TSNode name = field(statement, fields->name);
            if (!ts_node_is_null(name)) {
                status = PUSH(found, name);
            }
        }
        for (size_t position = 0; status == 0 && position < found.count; position++) {
            TSNode name_node = found.items[position];
            PyObject *name = text_of(file, ts_node_start_byte(name_node), ts_node_end_byte(name_node));
            PyObject *start = name == NULL ? NULL : PyLong_FromUnsignedLong(ts_node_start_byte(name_node));
            status = start == NULL ? -1 : PyDict_SetDefault(names, name, start) == NULL ? -1 : 0;
            Py_XDECREF(name);
            Py_XDECREF(start);
        }
        PyMem_Free(found.items);
        if (status < 0) {
            Py_CLEAR(names);
        }
    }
    return names;
}

/* CommonJS definitions, statements of the module's top level: ``exports.x = …`` and ``module.exports.x = …``
   declare ``x`` (a function or class for such a value, else a constant; not for ``= name``, which only exports
   ``name``), exported; ``X.prototype.y = function …`` and ``obj.y = function …`` declare the method ``y`` of ``X``
   or ``obj`` when the module declares that name before the statement (see build_symbols for its parent). */
static int commonjs_definitions(FileCaptures *file) {
    const Fields *fields = &file->plan->fields;
    PyObject *names = NULL;
    int status = 0;
    for (size_t index = 0; status == 0 && index < file->module_captures.count; index++) {
        const ModuleCapture *capture = &file->module_captures.items[index];
        if (capture->kind != MODULE_EXPORT_COMMONJS || !top_level_statement(&capture->captured)) {
            continue;
        }
        if (take_step(&file->budget) < 0) {
            status = -1;
            break;
        }
        TSNode node = capture->captured.node;
        TSNode left = ts_node_child_by_field_name(node, "left", 4);
        TSNode right = ts_node_child_by_field_name(node, "right", 5);
        TSNode target = ts_node_is_null(left) ? (TSNode){0} : field(left, fields->object);
        TSNode name_node = ts_node_is_null(left) ? (TSNode){0} : field(left, fields->property);
        if (ts_node_is_null(right) || ts_node_is_null(target) || ts_node_is_null(name_node) ||
            !is_type(name_node, "property_identifier")) {
            continue;
        }
        TSNode value = unwrapped(right);
        bool is_function = is_one_of(value, FUNCTION_VALUES);
        TSNode body = is_function || is_type(value, "class") ? field(value, fields->body) : (TSNode){0};
        NewSymbol symbol = {
            .outer = node,
            .header_end = ts_node_is_null(body) ? ts_node_start_byte(value) : ts_node_start_byte(body),
            .is_async = is_function && has_async(value),
            .doc_start = -1,
        };
        if (text_equals(file, target, "exports") || text_equals(file, target, "module.exports")) {
            if (is_type(right, "identifier")) {
                continue;
            }
            symbol.kind = is_function ? SK_FUNCTION : is_type(value, "class") ? SK_CLASS : SK_CONSTANT;
            status = add_named_symbol(file, name_node, symbol);
            continue;
        }
        TSNode owner = target;
        if (is_type(target, "member_expression")) {
            TSNode prototype = field(target, fields->property);
            owner = field(target, fields->object);
            if (ts_node_is_null(prototype) || !text_equals(file, prototype, "prototype")) {
                continue;
            }
        }
        if (!is_function || ts_node_is_null(owner) || !is_type(owner, "identifier")) {
            continue;
        }
        if (names == NULL && (names = top_level_names(file, capture->captured.ancestors.above[1])) == NULL) {
            status = -1;
            break;
        }
        PyObject *owner_name = text_of(file, ts_node_start_byte(owner), ts_node_end_byte(owner));
        PyObject *declared = owner_name == NULL ? NULL : PyDict_GetItemWithError(names, owner_name);
        Py_XDECREF(owner_name);
        if (declared == NULL) {
            status = PyErr_Occurred() ? -1 : 0;
            continue;
        }
        unsigned long declared_start = PyLong_AsUnsignedLong(declared);
        if (declared_start >= ts_node_start_byte(node)) {
            continue;
        }
        symbol.kind = SK_METHOD;
        symbol.owner = (uint32_t)declared_start + 1;
        status = add_named_symbol(file, name_node, symbol);
    }
    Py_XDECREF(names);
    return status;
}

static int declare_symbols(FileCaptures *file) {
    sort_items(file->comments.items, file->comments.count, sizeof(Range), compare_ranges_by_end);
    sort_items(file->decorators.items, file->decorators.count, sizeof(TSNode), compare_nodes_by_start);
    Range *scopes = file->function_scopes.items;
    sort_items(scopes, file->function_scopes.count, sizeof(Range), compare_ranges_by_start);
    size_t kept = 0;
    for (size_t index = 0; index < file->function_scopes.count; index++) {
        if (kept == 0 || scopes[index].start >= scopes[kept - 1].end) {
            scopes[kept++] = scopes[index]; /* the outermost ranges only */
        }
    }
    file->function_scopes.count = kept;
    file->declared_set = PyMem_Calloc(64, sizeof(uint32_t));
    if (file->declared_set == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    file->declared_mask = 63;
    sort_items(file->definitions.items, file->definitions.count, sizeof(DefinitionCapture), compare_definitions);
    for (size_t index = 0; index < file->definitions.count; index++) {
        const Captured *captured = &file->definitions.items[index].captured;
        uint8_t definition = file->definitions.items[index].definition;
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        int status = definition < FIRST_MAPPED_DEFINITION
                         ? DEFINITION_HANDLERS[definition](file, captured->node, &captured->ancestors)
                         : named_declaration(file, captured->node, &captured->ancestors,
                                             file->plan->mapped_kinds[definition]);
        if (status < 0) {
            return -1;
        }
    }
    if (commonjs_definitions(file) < 0) {
        return -1;
    }
    for (size_t index = 0; index < file->type_parameter_lists.count; index++) {
        if (take_step(&file->budget) < 0 || type_parameters(file, &file->type_parameter_lists.items[index]) < 0) {
            return -1;
        }
    }
    merge_scopes(file);
    return 0;
}

/* ---- type hints (docs/index-contract.md, "Type hints") -------------------------------------------- */

#define HINT_MAX_CHARS 200             /* a longer hint is omitted */
#define HINT_MAX_BYTES (HINT_MAX_CHARS * 4)
#define HINT_MAX_DEPTH 32              /* nodes of one expression or type walked before giving up */
#define HINT_MAX_SUBSTITUTIONS 8       /* locals substituted into one local's hint */

typedef struct {
    TSFieldId type, return_type, value, object, property, function, constructor, arguments, name, module, left,
        right, pattern, kind, type_arguments;
} HintFields;

/* The field ids of the few languages seen, by language (the dialects alternate from file to file). */
static struct {
    const TSLanguage *language;
    HintFields fields;
} hint_field_cache[4];

static TSFieldId field_id(const TSLanguage *language, const char *name) {
    return ts_language_field_id_for_name(language, name, (uint32_t)strlen(name));
}

static const HintFields *hint_fields(const TSLanguage *language) {
    size_t slot = 0;
    for (; slot < 4 && hint_field_cache[slot].language != NULL; slot++) {
        if (hint_field_cache[slot].language == language) {
            return &hint_field_cache[slot].fields;
        }
    }
    slot = slot < 4 ? slot : 0;
    hint_field_cache[slot].language = language;
    hint_field_cache[slot].fields = (HintFields){
        .type = field_id(language, "type"),
        .return_type = field_id(language, "return_type"),
        .value = field_id(language, "value"),
        .object = field_id(language, "object"),
        .property = field_id(language, "property"),
        .function = field_id(language, "function"),
        .constructor = field_id(language, "constructor"),
        .arguments = field_id(language, "arguments"),
        .name = field_id(language, "name"),
        .module = field_id(language, "module"),
        .left = field_id(language, "left"),
        .right = field_id(language, "right"),
        .pattern = field_id(language, "pattern"),
        .kind = field_id(language, "kind"),
        .type_arguments = field_id(language, "type_arguments"),
    };
    return &hint_field_cache[slot].fields;
}

/* A hint being written: UTF-8 bytes, counted in characters; ``failed`` once it cannot be a hint (a part that
   gives none, or ``too_long``). */
typedef struct {
    char bytes[HINT_MAX_BYTES];
    uint32_t length;
    uint32_t chars;
    bool failed;
    bool too_long;
} HintText;

typedef struct {
    uint32_t length;
    uint32_t chars;
} HintMark;

static void hint_clear(HintText *hint) {
    hint->length = hint->chars = 0;
    hint->failed = hint->too_long = false;
}

static HintMark hint_mark(const HintText *hint) { return (HintMark){hint->length, hint->chars}; }

/* Back to ``mark``, to try another reading; a hint grown too long stays failed. */
static void hint_reset(HintText *hint, HintMark mark) {
    hint->length = mark.length;
    hint->chars = mark.chars;
    hint->failed = hint->too_long;
}

static void hint_append(HintText *hint, const char *text, uint32_t length) {
    if (hint->failed) {
        return;
    }
    if (length > HINT_MAX_BYTES - hint->length) {
        hint->failed = hint->too_long = true;
        return;
    }
    uint32_t chars = hint->chars;
    for (uint32_t index = 0; index < length; index++) {
        chars += ((unsigned char)text[index] & 0xC0) != 0x80;
    }
    if (chars > HINT_MAX_CHARS) {
        hint->failed = hint->too_long = true;
        return;
    }
    memcpy(hint->bytes + hint->length, text, length);
    hint->length += length;
    hint->chars = chars;
}

static void hint_append_node(const FileCaptures *file, HintText *hint, TSNode node) {
    uint32_t start = ts_node_start_byte(node), end = ts_node_end_byte(node);
    if (start >= end || end > file->length) {
        hint->failed = true; /* a MISSING node inserted by error recovery */
        return;
    }
    hint_append(hint, file->text + start, end - start);
}

/* The first named child that is not a comment, or a null node. */
static TSNode first_operand(TSNode node) {
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_named_child(node, index);
        if (!is_type(child, "comment")) {
            return child;
        }
    }
    return (TSNode){0};
}

/* The last named child that is not a comment, or a null node. */
static TSNode last_operand(TSNode node) {
    for (uint32_t index = ts_node_named_child_count(node); index > 0; index--) {
        TSNode child = ts_node_named_child(node, index - 1);
        if (!is_type(child, "comment")) {
            return child;
        }
    }
    return (TSNode){0};
}

/* Appends ``a.b.C``: a name, or a dotted name of identifiers (member expression, nested identifier, nested type
   identifier); fails on anything else. */
static void hint_append_dotted(const FileCaptures *file, const HintFields *fields, TSNode node, HintText *hint) {
    TSNode parts[HINT_MAX_DEPTH];
    uint32_t count = 0;
    while (!ts_node_is_null(node) && count < HINT_MAX_DEPTH) {
        if (is_type(node, "identifier") || is_type(node, "type_identifier")) {
            parts[count++] = node;
            for (uint32_t index = count; index > 0; index--) {
                hint_append_node(file, hint, parts[index - 1]);
                if (index > 1) {
                    hint_append(hint, ".", 1);
                }
            }
            return;
        }
        TSNode last;
        if (is_type(node, "member_expression") || is_type(node, "nested_identifier")) {
            last = field(node, fields->property);
            node = field(node, fields->object);
        } else if (is_type(node, "nested_type_identifier")) {
            last = field(node, fields->name);
            node = field(node, fields->module);
        } else {
            break;
        }
        if (ts_node_is_null(last) || !(is_type(last, "property_identifier") || is_type(last, "type_identifier"))) {
            break;
        }
        parts[count++] = last;
    }
    hint->failed = true;
}

/* Appends ``{Name}`` of a type name, dotted type name or generic type's name; fails on any other type, and on a
   type parameter in scope (it names no declaration). */
static void hint_append_named_type(const FileCaptures *file, const HintFields *fields, TSNode type, HintText *hint) {
    if (!ts_node_is_null(type) && is_type(type, "generic_type")) {
        type = field(type, fields->name);
    }
    if (ts_node_is_null(type) || !(is_type(type, "type_identifier") || is_type(type, "nested_type_identifier"))) {
        hint->failed = true;
        return;
    }
    uint32_t start = ts_node_start_byte(type), end = ts_node_end_byte(type);
    if (is_type(type, "type_identifier") && file->scopes.count > 0 && end <= file->length &&
        is_type_parameter(file, file->text + start, (Py_ssize_t)(end - start), start)) {
        hint->failed = true;
        return;
    }
    hint_append(hint, "{", 1);
    hint_append_dotted(file, fields, type, hint);
    hint_append(hint, "}", 1);
}

static bool is_nullish_type(const FileCaptures *file, TSNode type) {
    return (is_type(type, "literal_type") || is_type(type, "predefined_type")) &&
           (text_equals(file, type, "null") || text_equals(file, type, "undefined") || text_equals(file, type, "void"));
}

/* The only member of a union that is not null, undefined or void; a null node when there are more, or none. */
static TSNode union_member(const FileCaptures *file, TSNode type) {
    TSNode pending[HINT_MAX_DEPTH];
    uint32_t count = 0;
    TSNode chosen = {0};
    pending[count++] = type;
    for (int visited = 0; count > 0; visited++) {
        if (visited == HINT_MAX_DEPTH) {
            return (TSNode){0}; /* a union this long is no optional named type */
        }
        TSNode node = pending[--count];
        uint32_t children = ts_node_named_child_count(node);
        for (uint32_t index = 0; index < children; index++) {
            TSNode child = ts_node_named_child(node, index);
            if (is_type(child, "union_type")) {
                if (count == HINT_MAX_DEPTH) {
                    return (TSNode){0};
                }
                pending[count++] = child;
            } else if (!is_type(child, "comment") && !is_nullish_type(file, child)) {
                if (!ts_node_is_null(chosen)) {
                    return (TSNode){0};
                }
                chosen = child;
            }
        }
    }
    return chosen;
}

/* Appends the hint of a type (or of a type annotation): a named type's, through parentheses, unions with
   null/undefined/void and ``Promise<X>``/``PromiseLike<X>``; fails on any other type. */
static void hint_append_type(const FileCaptures *file, const HintFields *fields, TSNode type, HintText *hint) {
    for (int depth = 0; depth < HINT_MAX_DEPTH && !ts_node_is_null(type); depth++) {
        if (is_type(type, "type_annotation") || is_type(type, "parenthesized_type")) {
            type = first_operand(type);
        } else if (is_type(type, "union_type")) {
            type = union_member(file, type);
        } else if (is_type(type, "generic_type")) {
            TSNode name = field(type, fields->name);
            TSNode arguments = field(type, fields->type_arguments);
            if (ts_node_is_null(name) || ts_node_is_null(arguments) ||
                !(text_equals(file, name, "Promise") || text_equals(file, name, "PromiseLike")) ||
                ts_node_named_child_count(arguments) != 1) {
                hint_append_named_type(file, fields, type, hint);
                return;
            }
            type = ts_node_named_child(arguments, 0);
        } else {
            hint_append_named_type(file, fields, type, hint);
            return;
        }
    }
    hint->failed = true;
}

/* Where an expression's hint starts: an identifier, ``this`` or ``super``, or a ``new`` expression, ``e as T`` or
   ``<T>e`` (whose hint is a type's), with the property names and calls (null nodes) applied to it in
   ``segments``, outermost first; a null node when the expression has no hint. ``await``, parentheses, ``!``,
   ``satisfies`` and ``as const`` are looked through. */
static TSNode expression_root(const HintFields *fields, TSNode node, TSNode segments[HINT_MAX_DEPTH], uint32_t *count) {
    *count = 0;
    for (int depth = 0; depth < HINT_MAX_DEPTH && !ts_node_is_null(node); depth++) {
        if (is_type(node, "parenthesized_expression") || is_type(node, "non_null_expression") ||
            is_type(node, "await_expression") || is_type(node, "satisfies_expression")) {
            node = first_operand(node);
        } else if (is_type(node, "as_expression")) {
            uint32_t children = ts_node_child_count(node);
            if (children > 0 && is_type(ts_node_child(node, children - 1), "const")) {
                node = first_operand(node);
                continue;
            }
            return node;
        } else if (is_type(node, "type_assertion")) {
            TSNode arguments = first_operand(node);
            if (ts_node_is_null(arguments) || !is_type(arguments, "type_arguments") ||
                ts_node_named_child_count(arguments) != 1) {
                break;
            }
            return node;
        } else if (is_type(node, "new_expression") || is_type(node, "identifier") || is_type(node, "this") ||
                   is_type(node, "super")) {
            return node;
        } else if (is_type(node, "call_expression")) {
            TSNode arguments = field(node, fields->arguments);
            node = field(node, fields->function);
            if (ts_node_is_null(arguments) || !is_type(arguments, "arguments") || ts_node_is_null(node) ||
                is_type(node, "super") || is_type(node, "import")) {
                break;
            }
            segments[(*count)++] = (TSNode){0};
        } else if (is_type(node, "member_expression")) {
            TSNode property = field(node, fields->property);
            if (ts_node_is_null(property) ||
                !(is_type(property, "property_identifier") || is_type(property, "private_property_identifier"))) {
                break;
            }
            segments[(*count)++] = property;
            node = field(node, fields->object);
        } else {
            break;
        }
    }
    return (TSNode){0};
}

/* Appends the hint of an expression: ``new C()`` is ``{C}``, a chain of names and calls is itself with the
   arguments dropped, ``e as T`` and ``<T>e`` are T's hint (see ``expression_root``); fails on anything else. */
static void hint_append_expression(const FileCaptures *file, const HintFields *fields, TSNode node, HintText *hint) {
    TSNode segments[HINT_MAX_DEPTH];
    uint32_t count = 0;
    TSNode root = expression_root(fields, node, segments, &count);
    if (ts_node_is_null(root)) {
        hint->failed = true;
        return;
    }
    if (is_type(root, "as_expression")) {
        hint_append_type(file, fields, last_operand(root), hint);
    } else if (is_type(root, "type_assertion")) {
        hint_append_type(file, fields, ts_node_named_child(first_operand(root), 0), hint);
    } else if (is_type(root, "new_expression")) {
        hint_append(hint, "{", 1);
        hint_append_dotted(file, fields, field(root, fields->constructor), hint);
        hint_append(hint, "}", 1);
    } else {
        hint_append_node(file, hint, root);
    }
    for (uint32_t index = count; index > 0; index--) {
        if (ts_node_is_null(segments[index - 1])) {
            hint_append(hint, "()", 2);
        } else {
            hint_append(hint, ".", 1);
            hint_append_node(file, hint, segments[index - 1]);
        }
    }
}

/* Appends the hint of what a declaration with an annotation and an initialiser holds: the annotation's hint,
   else the initialiser's; fails when neither gives one. */
static void hint_append_value(const FileCaptures *file, const HintFields *fields, TSNode annotation, TSNode value,
                              HintText *hint) {
    HintMark start = hint_mark(hint);
    if (!ts_node_is_null(annotation)) {
        hint_append_type(file, fields, annotation, hint);
        if (!hint->failed) {
            return;
        }
        hint_reset(hint, start);
    }
    if (ts_node_is_null(value)) {
        hint->failed = true;
        return;
    }
    hint_append_expression(file, fields, value, hint);
}

/* Appends ``{A},{B}``: the named types among ``types``' named children (a part that is none is left out);
   fails when there is none. */
static void hint_append_bases(const FileCaptures *file, const HintFields *fields, TSNode types, HintText *hint) {
    uint32_t count = ts_node_named_child_count(types);
    bool any = false;
    for (uint32_t index = 0; index < count && !hint->failed; index++) {
        HintMark before = hint_mark(hint);
        if (any) {
            hint_append(hint, ",", 1);
        }
        hint_append_named_type(file, fields, ts_node_named_child(types, index), hint);
        if (hint->failed && !hint->too_long) {
            hint_reset(hint, before); /* not a named type: left out */
        } else {
            any = true;
        }
    }
    hint->failed = hint->failed || !any;
}

/* A type alias's bases: the right side when it is a named type, or an intersection's named parts in order. */
static void hint_append_alias(const FileCaptures *file, const HintFields *fields, TSNode value, HintText *hint) {
    while (!ts_node_is_null(value) && is_type(value, "parenthesized_type")) {
        value = first_operand(value);
    }
    if (ts_node_is_null(value) || !is_type(value, "intersection_type")) {
        hint_append_named_type(file, fields, value, hint);
        return;
    }
    TSNode pending[HINT_MAX_DEPTH];
    uint32_t count = 0;
    bool any = false;
    pending[count++] = value;
    for (int visited = 0; count > 0 && !hint->failed; visited++) {
        if (visited == 2 * HINT_MAX_DEPTH) {
            hint->failed = true; /* more parts than a hint holds */
            return;
        }
        TSNode node = pending[--count];
        if (is_type(node, "intersection_type")) {
            uint32_t children = ts_node_named_child_count(node);
            if (children > HINT_MAX_DEPTH - count) {
                hint->failed = true;
                return;
            }
            for (uint32_t index = children; index > 0; index--) {
                pending[count++] = ts_node_named_child(node, index - 1);
            }
            continue;
        }
        if (!(is_type(node, "type_identifier") || is_type(node, "nested_type_identifier") ||
              is_type(node, "generic_type"))) {
            continue;
        }
        HintMark before = hint_mark(hint);
        if (any) {
            hint_append(hint, ",", 1);
        }
        hint_append_named_type(file, fields, node, hint);
        if (hint->failed && !hint->too_long) {
            hint_reset(hint, before); /* a type parameter: left out */
        } else {
            any = true;
        }
    }
    hint->failed = hint->failed || !any;
}

/* The hint of a class's ``extends`` value when it is a name or dotted name. */
static void hint_append_class_base(const FileCaptures *file, const HintFields *fields, TSNode node, HintText *hint) {
    TSNode heritage = child_of_type(node, "class_heritage");
    TSNode value = {0};
    if (!ts_node_is_null(heritage)) {
        TSNode clause = child_of_type(heritage, "extends_clause");
        value = ts_node_is_null(clause) ? first_operand(heritage) : field(clause, fields->value);
    }
    if (ts_node_is_null(value) || !(is_type(value, "identifier") || is_type(value, "member_expression"))) {
        hint->failed = true;
        return;
    }
    hint_append(hint, "{", 1);
    hint_append_dotted(file, fields, value, hint);
    hint_append(hint, "}", 1);
}

/* A symbol's type hint by its kind (see the contract): a new str, None, or NULL with an error set. */
static PyObject *symbol_type_hint(const FileCaptures *file, const HintFields *fields, const PendingSymbol *symbol) {
    TSNode node = symbol->hinted;
    if (ts_node_is_null(node)) {
        return Py_NewRef(Py_None);
    }
    HintText hint;
    hint_clear(&hint);
    bool declarator = is_type(node, "variable_declarator");
    if (declarator) {
        TSNode name = field(node, fields->name);
        if (ts_node_is_null(name) || !is_type(name, "identifier")) {
            return Py_NewRef(Py_None); /* a destructuring pattern: its names hold parts of the value */
        }
    }
    bool valued = declarator && (symbol->kind == SK_FUNCTION || symbol->kind == SK_CLASS);
    TSNode value = valued ? field(node, fields->value) : (TSNode){0};
    if (!ts_node_is_null(value)) {
        value = unwrapped(value);
    }
    switch (symbol->kind) {
    case SK_PROPERTY:
    case SK_VARIABLE:
    case SK_CONSTANT: {
        TSNode annotation = field(node, fields->type);
        TSNode initialiser = field(node, fields->value);
        if (ts_node_is_null(annotation) && ts_node_is_null(initialiser)) {
            return Py_NewRef(Py_None);
        }
        hint_append_value(file, fields, annotation, initialiser, &hint);
        break;
    }
    case SK_FUNCTION:
    case SK_METHOD:
    case SK_GETTER: {
        if (declarator && ts_node_is_null(value)) {
            return Py_NewRef(Py_None);
        }
        TSNode annotation = field(declarator ? value : node, fields->return_type);
        if (ts_node_is_null(annotation)) {
            return Py_NewRef(Py_None);
        }
        hint_append_type(file, fields, annotation, &hint);
        break;
    }
    case SK_CLASS:
        if (declarator && (ts_node_is_null(value) || !is_type(value, "class"))) {
            return Py_NewRef(Py_None);
        }
        hint_append_class_base(file, fields, declarator ? value : node, &hint);
        break;
    case SK_INTERFACE: {
        TSNode clause = child_of_type(node, "extends_type_clause");
        if (ts_node_is_null(clause)) {
            return Py_NewRef(Py_None);
        }
        hint_append_bases(file, fields, clause, &hint);
        break;
    }
    case SK_TYPE_ALIAS:
        hint_append_alias(file, fields, field(node, fields->value), &hint);
        break;
    default:
        return Py_NewRef(Py_None);
    }
    if (hint.failed) {
        return Py_NewRef(Py_None);
    }
    return PyUnicode_DecodeUTF8(hint.bytes, (Py_ssize_t)hint.length, "replace");
}

/* Every pending symbol's type hint, read once the type parameter scopes are known. */
static int symbol_hints(FileCaptures *file) {
    const HintFields *fields = hint_fields(file->plan->language);
    for (size_t index = 0; index < file->pending.count; index++) {
        PendingSymbol *symbol = &file->pending.items[index];
        if (ts_node_is_null(symbol->hinted)) {
            continue;
        }
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        PyObject *hint = symbol_type_hint(file, fields, symbol);
        if (hint == NULL) {
            return -1;
        }
        if (hint == Py_None) {
            Py_DECREF(hint);
        } else {
            symbol->type_hint = hint;
        }
    }
    return 0;
}

static PyObject *span_object(const Span *span) {
    PyObject *values[6] = {
        PyLong_FromUnsignedLong(span->start_line), PyLong_FromUnsignedLong(span->start_column),
        PyLong_FromUnsignedLong(span->end_line),   PyLong_FromUnsignedLong(span->end_column),
        PyLong_FromUnsignedLong(span->start_byte), PyLong_FromUnsignedLong(span->end_byte),
    };
    PyObject *result = NULL;
    if (values[0] && values[1] && values[2] && values[3] && values[4] && values[5]) {
        result = PyObject_Vectorcall(span_type, values, 0, span_kwnames);
    }
    for (int index = 0; index < 6; index++) {
        Py_XDECREF(values[index]);
    }
    return result;
}

static PyObject *symbol_object(const PendingSymbol *symbol, Py_ssize_t parent, bool exported, bool is_default) {
    PyObject *span = span_object(&symbol->span);
    PyObject *name_span = span_object(&symbol->name_span);
    PyObject *parent_object = parent < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(parent);
    PyObject *result = NULL;
    if (span != NULL && name_span != NULL && parent_object != NULL) {
        PyObject *values[11] = {
            symbol->name,       symbol_kind_strings[symbol->kind],
            span,               name_span,
            parent_object,      exported ? Py_True : Py_False,
            is_default ? Py_True : Py_False, symbol->is_async ? Py_True : Py_False,
            symbol->signature,  symbol->doc != NULL ? symbol->doc : Py_None,
            symbol->type_hint != NULL ? symbol->type_hint : Py_None,
        };
        result = PyObject_Vectorcall(symbol_type, values, 0, symbol_kwnames);
    }
    Py_XDECREF(span);
    Py_XDECREF(name_span);
    Py_XDECREF(parent_object);
    return result;
}

/* Texts here are shorter than 2**32 characters, so a bound beyond this cuts (or not) exactly as Python's
   unbounded int would; clamping keeps the arithmetic on bounds (``bound - 1``, minus a prefix) from overflowing. */
#define BOUND_LIMIT ((long long)1 << 40)

/* A text bound given by Python: any int, clamped to +-BOUND_LIMIT. */
static int read_bound(PyObject *value, Py_ssize_t *bound) {
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow != 0 || number > BOUND_LIMIT || number < -BOUND_LIMIT) {
        number = (overflow > 0 || number > 0) ? BOUND_LIMIT : -BOUND_LIMIT;
    }
    *bound = (Py_ssize_t)number;
    return 0;
}

static int contains(PyObject *names, PyObject *name) {
    return PySet_GET_SIZE(names) > 0 ? PySet_Contains(names, name) : 0;
}

static int compare_name_starts(const void *left, const void *right) {
    const uint32_t *a = left, *b = right;
    return a[0] < b[0] ? -1 : (a[0] > b[0]);
}

/* A CommonJS member's parent is its owner (``X`` of ``X.prototype.y = …``), a top-level symbol declared before
   it, found by the start of its name among the top-level symbols' (pairs of name start and index, sorted). */
static int resolve_owners(const PendingSymbol *pending, size_t count, Py_ssize_t *parents) {
    size_t owned = 0;
    for (size_t index = 0; index < count; index++) {
        owned += pending[index].owner != 0;
    }
    if (owned == 0) {
        return 0;
    }
    uint32_t *starts = PyMem_Malloc(count * 2 * sizeof(uint32_t));
    if (starts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t top = 0;
    for (size_t index = 0; index < count; index++) {
        if (parents[index] < 0) {
            starts[top * 2] = pending[index].name_span.start_byte;
            starts[top * 2 + 1] = (uint32_t)index;
            top++;
        }
    }
    sort_items(starts, top, 2 * sizeof(uint32_t), compare_name_starts);
    for (size_t index = 0; index < count; index++) {
        uint32_t key[2] = {pending[index].owner - 1, 0};
        const uint32_t *found = pending[index].owner == 0 ? NULL
                                : bsearch(key, starts, top, 2 * sizeof(uint32_t), compare_name_starts);
        if (found != NULL && found[1] < index) {
            parents[index] = (Py_ssize_t)found[1];
        }
    }
    PyMem_Free(starts);
    return 0;
}

/* Whether the symbol ``index`` (whose parent is ``parent``) is named by an ``export default`` or ``export =`` of
   its parent's ambient module body; 1 (setting ``*is_default`` for a default export), 0, or -1. */
static int scoped_export(const FileCaptures *file, const PendingSymbol *pending, Py_ssize_t parent, size_t index,
                         bool *is_default) {
    const Span *owner = &pending[parent].span, *own = &pending[index].span;
    int found = 0;
    for (size_t position = 0; position < file->scoped_exports.count; position++) {
        const ScopedExport *export = &file->scoped_exports.items[position];
        if (export->start < owner->start_byte || export->end > owner->end_byte || own->start_byte < export->start ||
            own->end_byte > export->end) {
            continue;
        }
        int same = PyUnicode_Compare(export->name, pending[index].name);
        if (same == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (same == 0) {
            found = 1;
            *is_default = *is_default || export->is_default;
        }
    }
    return found;
}

/* The file's symbols in pre-order (by start, longest first), each with its parent; the top-level ones that
   carry ``export`` themselves go to ``declared``. Needs read_modules() first (names exported later). */
static PyObject *build_symbols(FileCaptures *self, DeclaredExportArray *declared) {
    if (declare_symbols(self) < 0 || symbol_hints(self) < 0) {
        return NULL;
    }
    PendingSymbol *pending = self->pending.items;
    size_t count = self->pending.count;
    sort_items(pending, count, sizeof(PendingSymbol), compare_pending);
    Py_ssize_t *parents = PyMem_Malloc((count ? count : 1) * sizeof(Py_ssize_t));
    size_t *stack = PyMem_Malloc((count ? count : 1) * sizeof(size_t));
    PyObject *symbols = PyTuple_New((Py_ssize_t)count);
    PyObject *result = NULL;
    if (parents == NULL || stack == NULL || symbols == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        goto done;
    }
    size_t depth = 0;
    for (size_t index = 0; index < count; index++) {
        while (depth > 0 && pending[stack[depth - 1]].span.end_byte < pending[index].span.end_byte) {
            depth--;
        }
        while (depth > 0 && pending[stack[depth - 1]].span.end_byte <= pending[index].span.start_byte) {
            depth--;
        }
        Py_ssize_t parent = depth > 0 ? (Py_ssize_t)stack[depth - 1] : -1;
        if (pending[index].constructor_member && parent >= 0) {
            parent = parents[parent];
        }
        parents[index] = parent;
        stack[depth++] = index;
    }
    if (resolve_owners(pending, count, parents) < 0) {
        goto done;
    }
    for (size_t index = 0; index < count; index++) {
        const PendingSymbol *symbol = &pending[index];
        bool top_level = parents[index] < 0;
        if (take_step(&self->budget) < 0) {
            goto done;
        }
        int later_exported = top_level ? contains(self->later_exported, symbol->name) : 0;
        int later_default = top_level ? contains(self->later_default, symbol->name) : 0;
        if (later_exported < 0 || later_default < 0) {
            goto done;
        }
        bool is_default = symbol->is_default || later_default;
        bool exported = symbol->exported || later_exported || is_default;
        if (symbol->owner != 0 && parents[index] >= 0) {
            PyObject *owner_exported = PyObject_GetAttrString(PyTuple_GET_ITEM(symbols, parents[index]), "exported");
            if (owner_exported == NULL) {
                goto done;
            }
            exported = owner_exported == Py_True;
            Py_DECREF(owner_exported);
        }
        if (!top_level && self->scoped_exports.count > 0) {
            int scoped = scoped_export(self, pending, parents[index], index, &is_default);
            if (scoped < 0) {
                goto done;
            }
            exported = exported || scoped;
        }
        PyObject *object = symbol_object(symbol, parents[index], exported, is_default);
        if (object == NULL) {
            goto done;
        }
        PyTuple_SET_ITEM(symbols, (Py_ssize_t)index, object);
        if (top_level && symbol->exported) {
            DeclaredExport export = {index, symbol->is_default};
            if (PUSH(*declared, export) < 0) {
                goto done;
            }
        }
        Range range = {symbol->span.start_byte, symbol->span.end_byte};
        if (PUSH(self->symbol_ranges, range) < 0) {
            goto done;
        }
    }
    result = Py_NewRef(symbols);

done:
    PyMem_Free(parents);
    PyMem_Free(stack);
    Py_XDECREF(symbols);
    return result;
}

/* ---- references ----------------------------------------------------------------------------------- */

static int compare_processing_order(const void *left, const void *right) {
    const Candidate *a = left, *b = right;
    if (a->order != b->order) {
        return a->order < b->order ? -1 : 1;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

static int compare_start(const void *left, const void *right) {
    const Candidate *a = left, *b = right;
    return a->start < b->start ? -1 : (a->start > b->start);
}

/* The qualifier of a qualified reference: the text before the last ``.`` (or ``?.``), whitespace-normalised
   and bounded; ``a.b.`` before the name is ``a.b`` directly when it is plain text. */
static PyObject *qualifier_of(const FileCaptures *file, const Candidate *candidate, Py_ssize_t max_chars) {
    uint32_t start = (uint32_t)candidate->qualifier_start;
    const char *raw = file->text + start;
    /* the name is a child of the qualified node, so it starts inside it */
    uint32_t length = candidate->start > start ? candidate->start - start : 0;
    bool plain = length >= 2 && (Py_ssize_t)length - 1 <= max_chars && raw[length - 1] == '.';
    for (uint32_t index = 0; plain && index < length - 1; index++) {
        plain = !is_ascii_blank(raw[index]) && raw[index] != '/' && raw[index] != '?';
    }
    if (plain) {
        return PyUnicode_DecodeUTF8(raw, (Py_ssize_t)(length - 1), "replace");
    }
    while (length > 0 && is_ascii_blank(raw[length - 1])) {
        length--;
    }
    int64_t end;
    if (memchr(raw, '/', length) != NULL) {
        /* a comment between the parts: ask the tree where the qualifier ends */
        TSNode member = candidate->qualified;
        TSNode qualifier = {0};
        if (!ts_node_is_null(member)) {
            qualifier = field(member, file->plan->fields.object);
            if (ts_node_is_null(qualifier)) {
                qualifier = field(member, file->plan->fields.module);
            }
        }
        end = ts_node_is_null(qualifier) ? start : ts_node_end_byte(qualifier);
    } else {
        if (length > 0 && raw[length - 1] == '.') {
            length--;
        }
        if (length > 0 && raw[length - 1] == '?') {
            length--;
        }
        while (length > 0 && is_ascii_blank(raw[length - 1])) {
            length--;
        }
        end = start + length;
    }
    return normalised(file, start, end, max_chars);
}

/* ---- locals and reference root hints ------------------------------------------------------------- */

/* A parameter or local variable of a function-like node (or a catch or loop binding), or a function- or
   class-valued declarator inside one (a symbol: it hides the locals of its name but is none). */
typedef struct {
    uint32_t name_start, name_end;
    uint32_t scope_start, scope_end; /* where the name is visible */
    uint32_t position;               /* the declaration: the locals its hint is made from are those visible here */
    TSNode annotation, value;        /* where its hint comes from (null: nowhere) */
    bool parameter;                  /* ``annotation`` is the parameter: its fields are read when its hint is */
    uint32_t name_id;
    int32_t below;                   /* the entry of the same name it hides while visible, or -1 */
    int32_t inner;                   /* the local its initialiser starts with, as of its declaration, or -1 */
    uint32_t hint_start, hint_length; /* its hint's bytes in LocalTable.text */
    uint8_t substitutions;           /* locals substituted into its hint */
    bool hinted;                     /* its hint is read */
    bool symbol;
    bool function_scoped;            /* ``var``: visible in its whole function (scope set once that is known) */
    PyObject *object;                /* its hint as str, made on first use */
} Local;

typedef struct {
    uint32_t position;
    uint32_t index;
} LocalEvent;

/* The locals of a file and the walk over them in source order: each name's visible entries form a stack
   (innermost on top), entries come in at their scope's start and leave once a position is past their end. */
typedef struct {
    ARRAY(Local) locals;       /* sorted by scope start */
    ARRAY(LocalEvent) declarations; /* by position: where each local's hint is read */
    ARRAY(char) text;          /* the hints' bytes */
    uint32_t *names;           /* open addressing over names: a local's index + 1 per distinct name; 0 is empty */
    int32_t *tops;             /* per name id: the innermost visible entry, or -1 */
    int32_t *roots;            /* per reference: the local its root names where it is, or -1 */
    size_t mask;
    size_t next_scope, next_declaration;
    const HintFields *fields;
} LocalTable;

static void local_table_free(LocalTable *table) {
    for (size_t index = 0; index < table->locals.count; index++) {
        Py_XDECREF(table->locals.items[index].object);
    }
    PyMem_Free(table->locals.items);
    PyMem_Free(table->declarations.items);
    PyMem_Free(table->text.items);
    PyMem_Free(table->names);
    PyMem_Free(table->tops);
    PyMem_Free(table->roots);
}

static int add_local(LocalTable *table, TSNode name, TSNode scope, TSNode annotation, TSNode value) {
    if (ts_node_is_null(name) || ts_node_is_null(scope)) {
        return 0;
    }
    uint32_t start = ts_node_start_byte(name), end = ts_node_end_byte(name);
    if (start >= end) {
        return 0;
    }
    Local local = {
        .name_start = start,
        .name_end = end,
        .scope_start = ts_node_start_byte(scope),
        .scope_end = ts_node_end_byte(scope),
        .position = start,
        .annotation = annotation,
        .value = value,
        .below = -1,
        .inner = -1,
    };
    return PUSH(table->locals, local);
}

/* Each name a pattern binds, as a local with no hint. */
static int add_pattern_locals(const FileCaptures *file, LocalTable *table, TSNode pattern, TSNode scope) {
    NodeArray bindings = {NULL, 0, 0};
    int status = pattern_bindings(file, pattern, &bindings);
    for (size_t index = 0; status == 0 && index < bindings.count; index++) {
        status = add_local(table, bindings.items[index], scope, (TSNode){0}, (TSNode){0});
    }
    PyMem_Free(bindings.items);
    return status;
}

static int add_parameters(const FileCaptures *file, LocalTable *table, TSNode parameters, TSNode owner) {
    const HintFields *fields = table->fields;
    uint32_t count = ts_node_named_child_count(parameters);
    for (uint32_t index = 0; index < count; index++) {
        TSNode parameter = ts_node_named_child(parameters, index);
        int status = 0;
        if (is_type(parameter, "required_parameter") || is_type(parameter, "optional_parameter")) {
            TSNode pattern = field(parameter, fields->pattern);
            if (!ts_node_is_null(pattern) && is_type(pattern, "identifier")) {
                status = add_local(table, pattern, owner, parameter, (TSNode){0});
                if (status == 0) {
                    table->locals.items[table->locals.count - 1].parameter = true;
                }
            } else if (!ts_node_is_null(pattern)) {
                status = add_pattern_locals(file, table, pattern, owner);
            }
        } else if (is_type(parameter, "assignment_pattern")) {
            TSNode left = field(parameter, fields->left);
            if (!ts_node_is_null(left) && is_type(left, "identifier")) {
                status = add_local(table, left, owner, (TSNode){0}, field(parameter, fields->right));
            } else {
                status = add_pattern_locals(file, table, parameter, owner);
            }
        } else {
            status = add_pattern_locals(file, table, parameter, owner);
        }
        if (status < 0) {
            return -1;
        }
    }
    return 0;
}

/* A variable declarator inside a function: a local (each name of a destructuring pattern one with no hint),
   or a symbol when the extractor makes it one (see ``variable``). Its scope is its block for let and const;
   for var it is marked to be set to its function's. */
static int add_declarator(const FileCaptures *file, LocalTable *table, const Captured *captured) {
    const HintFields *fields = table->fields;
    TSNode node = captured->node;
    TSNode declaration = captured->ancestors.above[0];
    TSNode container = captured->ancestors.above[1];
    TSNode name = field(node, fields->name);
    if (ts_node_is_null(declaration) || ts_node_is_null(container) || ts_node_is_null(name)) {
        return 0;
    }
    size_t first = table->locals.count;
    TSNode value = field(node, fields->value);
    TSNode inner = ts_node_is_null(value) ? value : unwrapped(value);
    bool plain_name = is_type(name, "identifier");
    int status;
    if (plain_name) {
        status = add_local(table, name, container, field(node, fields->type), value);
        if (status == 0 && table->locals.count > first && !ts_node_is_null(inner) &&
            (is_one_of(inner, FUNCTION_VALUES) || is_type(inner, "class"))) {
            table->locals.items[first].symbol = true;
        }
    } else {
        status = add_pattern_locals(file, table, name, container);
    }
    if (!is_type(declaration, "lexical_declaration")) {
        for (size_t index = first; index < table->locals.count; index++) {
            table->locals.items[index].function_scoped = true;
        }
    }
    return status;
}

static int compare_local_events(const void *left, const void *right) {
    const LocalEvent *a = left, *b = right;
    if (a->position != b->position) {
        return a->position < b->position ? -1 : 1;
    }
    return a->index < b->index ? -1 : (a->index > b->index);
}

/* var declarations: their scope becomes their innermost function's (a sweep over both in source order). */
static int scope_var_locals(FileCaptures *file, LocalTable *table) {
    ARRAY(LocalEvent) functions = {NULL, 0, 0}; /* position: start; index: end */
    ARRAY(LocalEvent) vars = {NULL, 0, 0};
    int status = 0;
    for (size_t index = 0; status == 0 && index < file->local_captures.count; index++) {
        const LocalCapture *capture = &file->local_captures.items[index];
        if (capture->kind == LC_PARAMETERS || capture->kind == LC_PARAMETER) {
            LocalEvent function = {ts_node_start_byte(capture->owner), ts_node_end_byte(capture->owner)};
            status = PUSH(functions, function);
        }
    }
    for (size_t index = 0; status == 0 && index < table->locals.count; index++) {
        if (table->locals.items[index].function_scoped) {
            LocalEvent var = {table->locals.items[index].position, (uint32_t)index};
            status = PUSH(vars, var);
        }
    }
    if (status == 0 && vars.count > 0) {
        /* by start, then the longest first: an enclosing function comes before those it holds */
        for (size_t index = 0; index < functions.count; index++) {
            functions.items[index].index = UINT32_MAX - functions.items[index].index;
        }
        sort_items(functions.items, functions.count, sizeof(LocalEvent), compare_local_events);
        sort_items(vars.items, vars.count, sizeof(LocalEvent), compare_local_events);
        uint32_t *stack = PyMem_Malloc((functions.count ? functions.count : 1) * sizeof(uint32_t));
        if (stack == NULL) {
            PyErr_NoMemory();
            status = -1;
        }
        size_t depth = 0, cursor = 0;
        for (size_t index = 0; status == 0 && index < vars.count; index++) {
            uint32_t position = vars.items[index].position;
            if (take_step(&file->budget) < 0) {
                status = -1;
                break;
            }
            while (cursor < functions.count && functions.items[cursor].position <= position) {
                stack[depth++] = (uint32_t)cursor++;
            }
            while (depth > 0 && UINT32_MAX - functions.items[stack[depth - 1]].index <= position) {
                depth--;
            }
            if (depth > 0) {
                Local *local = &table->locals.items[vars.items[index].index];
                local->scope_start = functions.items[stack[depth - 1]].position;
                local->scope_end = UINT32_MAX - functions.items[stack[depth - 1]].index;
            }
        }
        PyMem_Free(stack);
    }
    PyMem_Free(functions.items);
    PyMem_Free(vars.items);
    return status;
}

/* The slot of a name (``length`` bytes at ``name``) in the table's open addressing: its entry, or the empty
   slot where it would go. */
static size_t name_slot(const LocalTable *table, const char *text, const char *name, uint32_t length) {
    uint32_t hash = 2166136261u;
    for (uint32_t index = 0; index < length; index++) {
        hash = (hash ^ (unsigned char)name[index]) * 16777619u;
    }
    size_t position = hash & table->mask;
    while (table->names[position] != 0) {
        const Local *local = &table->locals.items[table->names[position] - 1];
        if (local->name_end - local->name_start == length && memcmp(text + local->name_start, name, length) == 0) {
            break;
        }
        position = (position + 1) & table->mask;
    }
    return position;
}

static int compare_locals(const void *left, const void *right) {
    const Local *a = left, *b = right;
    if (a->scope_start != b->scope_start) {
        return a->scope_start < b->scope_start ? -1 : 1;
    }
    return a->position < b->position ? -1 : (a->position > b->position);
}

/* The file's locals, ready for the walk: parameters, catch and loop bindings, and the declarators inside
   functions (needs build_symbols() first: the outermost function ranges). */
static int build_locals(FileCaptures *file, LocalTable *table) {
    table->fields = hint_fields(file->plan->language);
    for (size_t index = 0; index < file->local_captures.count; index++) {
        const LocalCapture *capture = &file->local_captures.items[index];
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        int status = 0;
        if (capture->kind == LC_PARAMETERS) {
            status = add_parameters(file, table, capture->node, capture->owner);
        } else if (capture->kind == LC_PARAMETER) {
            status = add_local(table, capture->node, capture->owner, (TSNode){0}, (TSNode){0});
        } else if (capture->kind == LC_CATCH ||
                   (!ts_node_is_null(capture->owner) && !ts_node_is_null(field(capture->owner, table->fields->kind)))) {
            status = add_pattern_locals(file, table, capture->node, capture->owner); /* a loop that declares */
        }
        if (status < 0) {
            return -1;
        }
    }
    for (size_t index = 0; index < file->definitions.count; index++) {
        const DefinitionCapture *definition = &file->definitions.items[index];
        if (definition->definition != DEF_VARIABLE ||
            !inside_function(file, ts_node_start_byte(definition->captured.node))) {
            continue;
        }
        if (take_step(&file->budget) < 0 || add_declarator(file, table, &definition->captured) < 0) {
            return -1;
        }
    }
    size_t count = table->locals.count;
    if (count == 0) {
        return 0;
    }
    if (scope_var_locals(file, table) < 0) {
        return -1;
    }
    sort_items(table->locals.items, count, sizeof(Local), compare_locals);
    size_t size = 16;
    while (size < count * 2) {
        size <<= 1;
    }
    table->mask = size - 1;
    table->names = PyMem_Calloc(size, sizeof(uint32_t));
    table->tops = PyMem_Malloc(count * sizeof(int32_t));
    if (table->names == NULL || table->tops == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uint32_t name_count = 0;
    for (size_t index = 0; index < count; index++) {
        Local *local = &table->locals.items[index];
        size_t slot = name_slot(table, file->text, file->text + local->name_start, local->name_end - local->name_start);
        if (table->names[slot] == 0) {
            table->names[slot] = (uint32_t)index + 1;
            table->tops[name_count] = -1;
            local->name_id = name_count++;
        } else {
            local->name_id = table->locals.items[table->names[slot] - 1].name_id;
        }
        LocalEvent declaration = {local->position, (uint32_t)index};
        if (PUSH(table->declarations, declaration) < 0) {
            return -1;
        }
    }
    sort_items(table->declarations.items, table->declarations.count, sizeof(LocalEvent), compare_local_events);
    return 0;
}

/* The innermost local named ``name`` visible at the walk's position, or -1. */
static int32_t find_local(const FileCaptures *file, LocalTable *table, const char *name, uint32_t length,
                          uint32_t position) {
    uint32_t slot_value = table->names[name_slot(table, file->text, name, length)];
    if (slot_value == 0) {
        return -1;
    }
    uint32_t name_id = table->locals.items[slot_value - 1].name_id;
    int32_t top = table->tops[name_id];
    while (top >= 0 && table->locals.items[top].scope_end <= position) {
        top = table->locals.items[top].below; /* past its end: the walk never comes back */
    }
    table->tops[name_id] = top;
    return top;
}

/* The local an initialiser's hint would start with: the one its leading identifier names at the walk's
   position (the local's declaration), or -1. Read for every local as the walk passes its declaration, so that
   its hint, read later and only when needed, is made from the locals visible where it is declared. */
static int32_t initialiser_local(const FileCaptures *file, LocalTable *table, const Local *local, uint32_t position) {
    TSNode value = local->parameter ? field(local->annotation, table->fields->value) : local->value;
    if (local->symbol || ts_node_is_null(value)) {
        return -1;
    }
    TSNode segments[HINT_MAX_DEPTH];
    uint32_t count = 0;
    TSNode root = expression_root(table->fields, value, segments, &count);
    if (ts_node_is_null(root) || !is_type(root, "identifier")) {
        return -1;
    }
    uint32_t start = ts_node_start_byte(root), end = ts_node_end_byte(root);
    return start < end && end <= file->length ? find_local(file, table, file->text + start, end - start, position)
                                              : -1;
}

/* A local's hint before substitution: its annotation's, else its initialiser's, and the length of its leading
   identifier (a ``{type}`` root has none), which names the local ``inner`` found at its declaration. */
typedef struct {
    HintText hint;
    uint32_t root;
    int32_t inner;
    bool found; /* false: the code does not say */
} LocalSource;

static void local_source(const FileCaptures *file, const LocalTable *table, int32_t index, LocalSource *source) {
    const Local *local = &table->locals.items[index];
    source->inner = -1;
    source->root = 0;
    source->found = false;
    if (local->symbol || (ts_node_is_null(local->annotation) && ts_node_is_null(local->value))) {
        return;
    }
    HintText *hint = &source->hint;
    hint_clear(hint);
    if (local->parameter) {
        hint_append_value(file, table->fields, field(local->annotation, table->fields->type),
                          field(local->annotation, table->fields->value), hint);
    } else {
        hint_append_value(file, table->fields, local->annotation, local->value, hint);
    }
    if (hint->failed) {
        return;
    }
    uint32_t length = 0;
    while (length < hint->length && hint->bytes[length] != '.' && hint->bytes[length] != '(' &&
           hint->bytes[length] != '{') {
        length++;
    }
    bool keyword = (length == 4 && memcmp(hint->bytes, "this", 4) == 0) ||
                   (length == 5 && memcmp(hint->bytes, "super", 5) == 0);
    source->root = length;
    source->found = true;
    if (length > 0 && !keyword) {
        source->inner = local->inner; /* the initialiser's leading identifier (an annotation's hint has none) */
    }
}

/* Stores a local's hint: its source with a leading local replaced by that local's hint (none when that one
   has none or is unread: a cycle); "" when the code does not say. */
static int store_local_hint(LocalTable *table, int32_t index, const LocalSource *source) {
    table->locals.items[index].hinted = true;
    if (!source->found) {
        return 0;
    }
    const HintText *hint = &source->hint;
    HintText whole;
    hint_clear(&whole);
    uint8_t substitutions = 0;
    int32_t inner = source->inner;
    if (inner >= 0 && !table->locals.items[inner].symbol) {
        const Local *named = &table->locals.items[inner];
        if (inner == index || !named->hinted || named->hint_length == 0 ||
            named->substitutions >= HINT_MAX_SUBSTITUTIONS) {
            return 0;
        }
        substitutions = named->substitutions + 1;
        hint_append(&whole, table->text.items + named->hint_start, named->hint_length);
        hint_append(&whole, hint->bytes + source->root, hint->length - source->root);
    } else {
        hint_append(&whole, hint->bytes, hint->length);
    }
    if (whole.failed) {
        return 0;
    }
    size_t start = table->text.count;
    for (uint32_t offset = 0; offset < whole.length; offset++) {
        if (PUSH(table->text, whole.bytes[offset]) < 0) {
            return -1;
        }
    }
    Local *local = &table->locals.items[index];
    local->hint_start = (uint32_t)start;
    local->hint_length = whole.length;
    local->substitutions = substitutions;
    return 0;
}

/* Reads a local's hint, first reading the unread locals it is made from: the chain is followed to at most
   HINT_MAX_SUBSTITUTIONS locals, then stored from its far end. A chain that goes on has too many
   substitutions: only the local asked for is stored, as "" (the others are read when asked, from nearer their
   ends). Each local's ``inner`` is fixed at its declaration, so the hint does not depend on where it is asked. */
static int read_local_hint(const FileCaptures *file, LocalTable *table, int32_t index) {
    LocalSource sources[HINT_MAX_SUBSTITUTIONS + 1];
    int32_t chain[HINT_MAX_SUBSTITUTIONS + 1];
    int count = 0;
    int32_t next = index;
    while (next >= 0) {
        if (count > HINT_MAX_SUBSTITUTIONS) {
            table->locals.items[index].hinted = true; /* hint_length 0: "" */
            return 0;
        }
        chain[count] = next;
        local_source(file, table, next, &sources[count]);
        int32_t inner = sources[count++].inner;
        next = -1;
        if (inner >= 0 && !table->locals.items[inner].hinted && !table->locals.items[inner].symbol) {
            next = inner;
            for (int seen = 0; seen < count; seen++) {
                next = chain[seen] == inner ? -1 : next; /* a cycle: stored as "" from its far end */
            }
        }
    }
    for (int remaining = count; remaining > 0; remaining--) {
        if (store_local_hint(table, chain[remaining - 1], &sources[remaining - 1]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Moves the walk to ``position``: every local whose scope starts there or before is visible (innermost on
   top of its name's stack), and every local declared there or before has the local its initialiser starts
   with found. */
static int advance_locals(FileCaptures *file, LocalTable *table, uint32_t position) {
    for (;;) {
        Local *entering = table->next_scope < table->locals.count ? &table->locals.items[table->next_scope] : NULL;
        const LocalEvent *declared = table->next_declaration < table->declarations.count
                                         ? &table->declarations.items[table->next_declaration]
                                         : NULL;
        bool enter = entering != NULL && entering->scope_start <= position &&
                     (declared == NULL || entering->scope_start <= declared->position);
        if (!enter && (declared == NULL || declared->position > position)) {
            return 0;
        }
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        if (enter) {
            int32_t top = table->tops[entering->name_id];
            while (top >= 0 && table->locals.items[top].scope_end <= entering->scope_start) {
                top = table->locals.items[top].below;
            }
            entering->below = top;
            table->tops[entering->name_id] = (int32_t)table->next_scope++;
        } else {
            table->next_declaration++;
            Local *local = &table->locals.items[declared->index];
            local->inner = initialiser_local(file, table, local, declared->position);
        }
    }
}

/* A reference's root (see the contract): the name of a bare call, new or JSX tag, or the identifier a qualified
   one's qualifier starts with; an empty range for none. */
static Range reference_root(const LocalTable *table, const Candidate *candidate) {
    Range none = {0, 0};
    if (!(candidate->kind == REF_CALL || candidate->kind == REF_NEW || candidate->kind == REF_JSX)) {
        return none;
    }
    if (candidate->qualifier_start < 0) {
        return (Range){candidate->start, candidate->end};
    }
    /* down the qualifier's left edge, a bounded number of steps (a chain's every call is a reference) */
    TSNode root = ts_node_is_null(candidate->qualified) ? candidate->qualified
                                                        : field(candidate->qualified, table->fields->object);
    for (int depth = 0; depth < HINT_MAX_DEPTH && !ts_node_is_null(root) && !is_type(root, "identifier"); depth++) {
        if (is_type(root, "member_expression") || is_type(root, "subscript_expression")) {
            root = field(root, table->fields->object);
        } else if (is_type(root, "call_expression")) {
            root = field(root, table->fields->function);
        } else if (is_type(root, "non_null_expression")) {
            root = first_operand(root);
        } else {
            return none;
        }
    }
    if (ts_node_is_null(root) || !is_type(root, "identifier")) {
        return none;
    }
    Range range = {ts_node_start_byte(root), ts_node_end_byte(root)};
    return range.start < range.end && range.end <= candidate->start ? range : none;
}

/* One walk over the file in source order: the local each reference's root names where the reference is, and,
   for every local, the local its initialiser starts with where it is declared. Hints are read after it, when
   asked (``root_hint``), from declarations alone. */
static int find_roots(FileCaptures *file, LocalTable *table, const Candidate *chosen, size_t count) {
    if (table->locals.count == 0) {
        return 0;
    }
    table->roots = PyMem_Malloc((count ? count : 1) * sizeof(int32_t));
    if (table->roots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t index = 0; index < count; index++) {
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        Range root = reference_root(table, &chosen[index]);
        table->roots[index] = -1;
        if (root.start < root.end) {
            if (advance_locals(file, table, chosen[index].start) < 0) {
                return -1;
            }
            table->roots[index] =
                find_local(file, table, file->text + root.start, root.end - root.start, chosen[index].start);
        }
    }
    return advance_locals(file, table, UINT32_MAX);
}

/* The root hint of the reference ``chosen`` (its index in source order): a new str, None, or NULL with an
   error set. */
static PyObject *root_hint(FileCaptures *file, LocalTable *table, size_t chosen) {
    int32_t index = table->locals.count == 0 ? -1 : table->roots[chosen];
    if (index < 0 || table->locals.items[index].symbol) {
        return Py_NewRef(Py_None);
    }
    if (!table->locals.items[index].hinted && read_local_hint(file, table, index) < 0) {
        return NULL;
    }
    Local *local = &table->locals.items[index];
    if (local->object == NULL) {
        local->object = PyUnicode_DecodeUTF8(table->text.items + local->hint_start, (Py_ssize_t)local->hint_length,
                                             "replace");
        if (local->object == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(local->object);
}

/* The file's references in source order, one per name position, each with its innermost enclosing symbol.
   Needs build_symbols() first (declared names, type parameter scopes, symbol ranges). */
static PyObject *build_references(FileCaptures *self, Py_ssize_t max_qualifier_chars) {
    Candidate *candidates = self->candidates.items;
    size_t count = self->candidates.count;
    sort_items(candidates, count, sizeof(Candidate), compare_processing_order);
    /* The chosen reference per name position, through open addressing from the start byte to its slot. */
    size_t size = 16;
    while (size < count * 2) {
        size <<= 1;
    }
    uint32_t *keys = PyMem_Calloc(size, sizeof(uint32_t));
    uint32_t *slots = PyMem_Malloc(size * sizeof(uint32_t));
    Candidate *chosen = PyMem_Malloc((count ? count : 1) * sizeof(Candidate));
    size_t *stack = PyMem_Malloc((self->symbol_ranges.count ? self->symbol_ranges.count : 1) * sizeof(size_t));
    PyObject *result = NULL;
    LocalTable locals = {0};
    if (keys == NULL || slots == NULL || chosen == NULL || stack == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (build_locals(self, &locals) < 0) {
        goto done;
    }
    size_t chosen_count = 0;
    for (size_t index = 0; index < count; index++) {
        const Candidate *candidate = &candidates[index];
        if (take_step(&self->budget) < 0) {
            goto done;
        }
        size_t position = ((size_t)candidate->start * 2654435761u) & (size - 1);
        while (keys[position] != 0 && keys[position] != candidate->start + 1) {
            position = (position + 1) & (size - 1);
        }
        Candidate *existing = keys[position] ? &chosen[slots[position]] : NULL;
        int rank = REFERENCE_RANKS[candidate->kind];
        if (candidate->qualifier_start >= 0) {
            if (existing != NULL && REFERENCE_RANKS[existing->kind] >= rank && existing->qualifier_start >= 0) {
                continue;
            }
        } else if (candidate->kind == REF_TYPE) {
            if (existing != NULL || declared_contains(self, candidate->start) ||
                (self->scopes.count > 0 &&
                 is_type_parameter(self, self->text + candidate->start,
                                   (Py_ssize_t)(candidate->end - candidate->start), candidate->start))) {
                continue;
            }
        } else if (existing != NULL && REFERENCE_RANKS[existing->kind] >= rank) {
            continue;
        }
        if (existing != NULL) {
            *existing = *candidate;
        } else {
            keys[position] = candidate->start + 1;
            slots[position] = (uint32_t)chosen_count;
            chosen[chosen_count++] = *candidate;
        }
    }
    sort_items(chosen, chosen_count, sizeof(Candidate), compare_start);
    if (find_roots(self, &locals, chosen, chosen_count) < 0) {
        goto done;
    }
    result = PyTuple_New((Py_ssize_t)chosen_count);
    if (result == NULL) {
        goto done;
    }
    const Range *ranges = self->symbol_ranges.items;
    size_t symbol_count = self->symbol_ranges.count;
    size_t depth = 0, cursor = 0;
    for (size_t index = 0; index < chosen_count; index++) {
        const Candidate *candidate = &chosen[index];
        uint32_t position = candidate->start;
        if (take_step(&self->budget) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        while (cursor < symbol_count && ranges[cursor].start <= position) {
            while (depth > 0 && ranges[stack[depth - 1]].end < ranges[cursor].end) {
                depth--;
            }
            stack[depth++] = cursor++;
        }
        while (depth > 0 && ranges[stack[depth - 1]].end <= position) {
            depth--;
        }
        PyObject *name = text_of(self, candidate->start, candidate->end);
        PyObject *qualifier = candidate->qualifier_start < 0 ? Py_NewRef(Py_None)
                                                             : qualifier_of(self, candidate, max_qualifier_chars);
        Span bounds = {candidate->row + 1,
                       candidate->column,
                       candidate->row + 1,
                       candidate->column + (candidate->end - candidate->start),
                       candidate->start,
                       candidate->end};
        PyObject *span = span_object(&bounds);
        PyObject *enclosing = depth > 0 ? PyLong_FromSize_t(stack[depth - 1]) : Py_NewRef(Py_None);
        PyObject *hint = root_hint(self, &locals, index);
        PyObject *reference = NULL;
        if (name != NULL && qualifier != NULL && span != NULL && enclosing != NULL && hint != NULL) {
            PyObject *values[6] = {name, qualifier, reference_kind_strings[candidate->kind], span, enclosing, hint};
            reference = PyObject_Vectorcall(reference_type, values, 0, reference_kwnames);
        }
        Py_XDECREF(name);
        Py_XDECREF(qualifier);
        Py_XDECREF(span);
        Py_XDECREF(enclosing);
        Py_XDECREF(hint);
        if (reference == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)index, reference);
    }

done:
    PyMem_Free(keys);
    PyMem_Free(slots);
    PyMem_Free(chosen);
    PyMem_Free(stack);
    local_table_free(&locals);
    return result;
}

/* ---- imports and exports -------------------------------------------------------------------------- */

/* Where a string literal's text lies: inside its quotes. Error recovery can end a string after a line break,
   its closing quote missing: the text then ends at that break, on the line before. */
static Span inner_span(const FileCaptures *file, TSNode node) {
    Span span = node_span(node);
    span.start_byte += 1;
    span.end_byte -= 1;
    span.start_column += 1;
    if (span.end_column > 0) {
        span.end_column -= 1;
    } else {
        span.end_line -= 1;
        span.end_column = column_of(file, span.end_byte);
    }
    return span;
}

/* A module specifier or export name written as a string (``"x"``, or a template without substitutions):
   1 with ``*text`` (a new reference) and ``*span`` (inside the quotes) set, 0 when the node is no such string. */
static int string_value(const FileCaptures *file, TSNode node, PyObject **text, Span *span) {
    if (ts_node_is_null(node)) {
        return 0;
    }
    bool plain = is_type(node, "string") ||
                 (is_type(node, "template_string") && ts_node_is_null(child_of_type(node, "template_substitution")));
    if (!plain || ts_node_end_byte(node) - ts_node_start_byte(node) < 2) {
        return 0;
    }
    *span = inner_span(file, node);
    *text = text_of(file, span->start_byte, span->end_byte);
    return *text == NULL ? -1 : 1;
}

static PyObject *node_text(const FileCaptures *file, TSNode node) {
    return text_of(file, ts_node_start_byte(node), ts_node_end_byte(node));
}

/* An export or import name: an identifier's text, or a string's (``export { a as "b c" }``); 1 with ``*name``
   set, 0 when there is none. */
static int module_export_name(const FileCaptures *file, TSNode node, PyObject **name) {
    if (ts_node_is_null(node)) {
        return 0;
    }
    if (is_type(node, "string")) {
        Span span;
        return string_value(file, node, name, &span);
    }
    *name = node_text(file, node);
    return *name == NULL ? -1 : 1;
}

static bool has_child_of_type(TSNode node, const char *type) { return !ts_node_is_null(child_of_type(node, type)); }

/* The first named child of ``node`` of the given type, or a null node. */
static TSNode named_child_of_type(TSNode node, const char *type) {
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_named_child(node, index);
        if (is_type(child, type)) {
            return child;
        }
    }
    return (TSNode){0};
}

/* Appends ``ImportBinding(imported, local, is_type_only, span)`` to ``bindings``; borrows the names. */
static int add_binding(PyObject *bindings, PyObject *imported, PyObject *local, bool type_only, const Span *span) {
    PyObject *span_value = span_object(span);
    if (span_value == NULL) {
        return -1;
    }
    PyObject *values[4] = {imported, local, type_only ? Py_True : Py_False, span_value};
    PyObject *binding = PyObject_Vectorcall(binding_type, values, 0, binding_kwnames);
    Py_DECREF(span_value);
    int status = binding == NULL ? -1 : PyList_Append(bindings, binding);
    Py_XDECREF(binding);
    return status;
}

/* Records an import; steals ``specifier`` and ``bindings`` (a list). */
static int add_import(FileCaptures *file, PyObject *specifier, uint8_t kind, bool type_only, const Span *span,
                      const Span *specifier_span, PyObject *bindings) {
    PyObject *tuple = PyList_AsTuple(bindings);
    Py_DECREF(bindings);
    if (tuple == NULL) {
        Py_DECREF(specifier);
        return -1;
    }
    PendingImport pending = {specifier, kind, type_only, *span, *specifier_span, tuple, (uint32_t)file->imports.count};
    if (PUSH(file->imports, pending) < 0) {
        Py_DECREF(specifier);
        Py_DECREF(tuple);
        return -1;
    }
    return 0;
}

/* Records an export row; steals ``exported`` and ``local`` (NULL for none). */
static int add_export(FileCaptures *file, PyObject *exported, PyObject *local, uint8_t kind, bool type_only,
                      const Span *span, int64_t import_key) {
    PendingExport pending = {exported, local, kind, type_only, *span, import_key, (uint32_t)file->exports.count};
    if (PUSH(file->exports, pending) < 0) {
        Py_DECREF(exported);
        Py_XDECREF(local);
        return -1;
    }
    return 0;
}

/* ``const {a, b: c} = require("x")`` binds ``a`` and ``c``; ``const m = require("x")`` binds the module. */
static int require_bindings(FileCaptures *file, TSNode pattern, PyObject *bindings) {
    const Fields *fields = &file->plan->fields;
    if (ts_node_is_null(pattern)) {
        return 0;
    }
    if (is_type(pattern, "identifier")) {
        PyObject *local = node_text(file, pattern);
        Span span = node_span(pattern);
        int status = local == NULL ? -1 : add_binding(bindings, star_string, local, false, &span);
        Py_XDECREF(local);
        return status;
    }
    if (!is_type(pattern, "object_pattern")) {
        return 0;
    }
    uint32_t count = ts_node_named_child_count(pattern);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_named_child(pattern, index);
        Span span = node_span(child);
        int status = 0;
        if (is_type(child, "shorthand_property_identifier_pattern")) {
            PyObject *name = node_text(file, child);
            status = name == NULL ? -1 : add_binding(bindings, name, name, false, &span);
            Py_XDECREF(name);
        } else if (is_type(child, "pair_pattern")) {
            PyObject *key;
            Span key_span;
            int found = simple_name(file, ts_node_child_by_field_name(child, "key", 3), &key, &key_span);
            TSNode value = field(child, fields->value);
            if (found > 0 && !ts_node_is_null(value) && is_type(value, "identifier")) {
                PyObject *local = node_text(file, value);
                status = local == NULL ? -1 : add_binding(bindings, key, local, false, &span);
                Py_XDECREF(local);
            }
            if (found > 0) {
                Py_DECREF(key);
            }
            status = found < 0 ? -1 : status;
        }
        if (status < 0) {
            return -1;
        }
    }
    return 0;
}

/* ``import("x")`` (also with an options argument, ``import("x", { with: … })``) and ``require("x")`` with one
   string literal argument. */
static int call_import(FileCaptures *file, const Captured *captured, uint8_t kind) {
    TSNode call = captured->node;
    TSNode arguments = ts_node_child_by_field_name(call, "arguments", 9);
    uint32_t most = kind == IK_DYNAMIC ? 2 : 1;
    if (ts_node_is_null(arguments) || ts_node_named_child_count(arguments) < 1 ||
        ts_node_named_child_count(arguments) > most) {
        return 0;
    }
    PyObject *specifier;
    Span specifier_span;
    int found = string_value(file, ts_node_named_child(arguments, 0), &specifier, &specifier_span);
    if (found <= 0) {
        return found;
    }
    PyObject *bindings = PyList_New(0);
    TSNode parent = captured->ancestors.above[0];
    if (bindings == NULL ||
        (kind == IK_REQUIRE && !ts_node_is_null(parent) && is_type(parent, "variable_declarator") &&
         require_bindings(file, field(parent, file->plan->fields.name), bindings) < 0)) {
        Py_XDECREF(bindings);
        Py_DECREF(specifier);
        return -1;
    }
    Span span = node_span(call);
    return add_import(file, specifier, kind, false, &span, &specifier_span, bindings);
}

static int import_clause(FileCaptures *file, TSNode clause, bool type_only, PyObject *bindings) {
    uint32_t count = ts_node_named_child_count(clause);
    for (uint32_t index = 0; index < count; index++) {
        TSNode part = ts_node_named_child(clause, index);
        int status = 0;
        if (is_type(part, "identifier")) {
            PyObject *local = node_text(file, part);
            Span span = node_span(part);
            status = local == NULL ? -1 : add_binding(bindings, default_string, local, type_only, &span);
            Py_XDECREF(local);
        } else if (is_type(part, "namespace_import")) {
            TSNode local_node = named_child_of_type(part, "identifier");
            if (!ts_node_is_null(local_node)) {
                PyObject *local = node_text(file, local_node);
                Span span = node_span(part);
                status = local == NULL ? -1 : add_binding(bindings, star_string, local, type_only, &span);
                Py_XDECREF(local);
            }
        } else if (is_type(part, "named_imports")) {
            uint32_t specifiers = ts_node_named_child_count(part);
            for (uint32_t position = 0; status == 0 && position < specifiers; position++) {
                TSNode specifier = ts_node_named_child(part, position);
                if (!is_type(specifier, "import_specifier")) {
                    continue;
                }
                PyObject *imported;
                int found = module_export_name(file, field(specifier, file->plan->fields.name), &imported);
                if (found <= 0) {
                    status = found;
                    continue;
                }
                TSNode alias = ts_node_child_by_field_name(specifier, "alias", 5);
                PyObject *local = ts_node_is_null(alias) ? Py_NewRef(imported) : node_text(file, alias);
                Span span = node_span(specifier);
                bool specifier_type_only = type_only || has_child_of_type(specifier, "type");
                status = local == NULL ? -1 : add_binding(bindings, imported, local, specifier_type_only, &span);
                Py_DECREF(imported);
                Py_XDECREF(local);
            }
        }
        if (status < 0) {
            return -1;
        }
    }
    return 0;
}

static int import_statement(FileCaptures *file, TSNode node) {
    bool type_only = has_child_of_type(node, "type");
    PyObject *bindings = PyList_New(0);
    if (bindings == NULL) {
        return -1;
    }
    TSNode source_node = ts_node_child_by_field_name(node, "source", 6);
    uint8_t kind = IK_SIDE_EFFECT;
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_named_child(node, index);
        int status = 0;
        if (is_type(child, "import_clause")) {
            kind = IK_IMPORT;
            status = import_clause(file, child, type_only, bindings);
        } else if (is_type(child, "import_require_clause")) {
            kind = IK_IMPORT_EQUALS;
            source_node = ts_node_child_by_field_name(child, "source", 6);
            TSNode local_node = named_child_of_type(child, "identifier");
            if (!ts_node_is_null(local_node)) {
                PyObject *local = node_text(file, local_node);
                Span span = node_span(local_node);
                status = local == NULL ? -1 : add_binding(bindings, star_string, local, type_only, &span);
                Py_XDECREF(local);
            }
        }
        if (status < 0) {
            Py_DECREF(bindings);
            return -1;
        }
    }
    PyObject *specifier;
    Span specifier_span;
    int found = string_value(file, source_node, &specifier, &specifier_span);
    if (found <= 0) {
        Py_DECREF(bindings);
        return found;
    }
    Span span = node_span(node);
    return add_import(file, specifier, kind, type_only, &span, &specifier_span, bindings);
}

/* ``alias or name``: an alias written as an empty string falls back to the name, as Python's ``or`` does. */
static PyObject *alias_or(PyObject *alias, PyObject *name) {
    return alias != NULL && PyUnicode_GET_LENGTH(alias) > 0 ? alias : name;
}

/* ``export … from "x"``: an import of kind ``reexport`` and, at the top level, its export rows. */
static int reexport(FileCaptures *file, TSNode node, TSNode source_node, bool type_only, const Span *span,
                    bool top_level) {
    PyObject *specifier;
    Span specifier_span;
    int found = string_value(file, source_node, &specifier, &specifier_span);
    if (found <= 0) {
        return found;
    }
    uint32_t key = ts_node_start_byte(node);
    PyObject *bindings = PyList_New(0);
    if (bindings == NULL) {
        Py_DECREF(specifier);
        return -1;
    }
    /* The export rows wait until the import is recorded, and only a top-level statement keeps them. */
    size_t first_export = file->exports.count;
    TSNode clause = {0};
    uint32_t children = ts_node_named_child_count(node);
    for (uint32_t index = 0; index < children && ts_node_is_null(clause); index++) {
        TSNode child = ts_node_named_child(node, index);
        if (is_type(child, "export_clause") || is_type(child, "namespace_export")) {
            clause = child;
        }
    }
    int status = 0;
    if (ts_node_is_null(clause)) {
        status = add_export(file, Py_NewRef(star_string), NULL, EK_REEXPORT_ALL, type_only, span, key);
    } else if (is_type(clause, "namespace_export")) {
        PyObject *name = NULL;
        int named = ts_node_named_child_count(clause) > 0
                        ? module_export_name(file, ts_node_named_child(clause, 0), &name)
                        : 0;
        if (named > 0) {
            Span clause_span = node_span(clause);
            status = add_binding(bindings, star_string, name, type_only, &clause_span);
            status = status < 0 ? -1
                                : add_export(file, Py_NewRef(name), Py_NewRef(star_string), EK_REEXPORT_NAMESPACE,
                                             type_only, span, key);
            Py_DECREF(name);
        }
        status = named < 0 ? -1 : status;
    } else {
        uint32_t count = ts_node_named_child_count(clause);
        for (uint32_t index = 0; status == 0 && index < count; index++) {
            TSNode specifier_node = ts_node_named_child(clause, index);
            if (!is_type(specifier_node, "export_specifier")) {
                continue;
            }
            PyObject *imported, *alias = NULL;
            int has_name = module_export_name(file, field(specifier_node, file->plan->fields.name), &imported);
            if (has_name <= 0) {
                status = has_name;
                continue;
            }
            int has_alias =
                module_export_name(file, ts_node_child_by_field_name(specifier_node, "alias", 5), &alias);
            if (has_alias < 0) {
                Py_DECREF(imported);
                status = -1;
                continue;
            }
            bool specifier_type_only = type_only || has_child_of_type(specifier_node, "type");
            Span specifier_node_span = node_span(specifier_node);
            PyObject *exported = alias_or(has_alias > 0 ? alias : NULL, imported);
            status = add_binding(bindings, imported, exported, specifier_type_only, &specifier_node_span);
            status = status < 0 ? -1
                                : add_export(file, Py_NewRef(exported), Py_NewRef(imported), EK_REEXPORT,
                                             specifier_type_only, span, key);
            Py_DECREF(imported);
            Py_XDECREF(alias);
        }
    }
    if (status < 0) {
        Py_DECREF(bindings);
        Py_DECREF(specifier);
        return -1;
    }
    if (!top_level) {
        for (size_t index = first_export; index < file->exports.count; index++) {
            Py_DECREF(file->exports.items[index].exported);
            Py_XDECREF(file->exports.items[index].local);
        }
        file->exports.count = first_export;
    }
    /* Recorded after the exports, as the Python extractor did; the import's place does not depend on it. */
    return add_import(file, specifier, IK_REEXPORT, type_only, span, &specifier_span, bindings);
}

/* ``export type * from "x"``, which the grammar lacks and the parse stage's recovery read as ``export * from "x"``
   (``type`` made spaces): the original bytes between ``export`` and what follows are ``type``. */
static bool type_star_rewritten(const FileCaptures *file, TSNode statement) {
    if (ts_node_child_count(statement) < 2) {
        return false;
    }
    uint32_t position = ts_node_end_byte(ts_node_child(statement, 0));
    uint32_t end = ts_node_start_byte(ts_node_child(statement, 1));
    while (position < end && is_ascii_blank(file->text[position])) {
        position++;
    }
    if (end - position < 5 || memcmp(file->text + position, "type", 4) != 0 ||
        !is_ascii_blank(file->text[position + 4])) {
        return false;
    }
    for (position += 4; position < end; position++) {
        if (!is_ascii_blank(file->text[position])) {
            return false;
        }
    }
    return true;
}

/* ``export default x`` and ``export = x`` in the body of ``declare module "m" {}`` export the module's ``x``. */
static int ambient_module_export(FileCaptures *file, const Captured *captured) {
    TSNode node = captured->node;
    TSNode body = captured->ancestors.above[0], module = captured->ancestors.above[1];
    if (ts_node_is_null(body) || ts_node_is_null(module) || !is_type(body, "statement_block") ||
        !is_type(module, "module")) {
        return 0;
    }
    TSNode module_name = field(module, file->plan->fields.name);
    if (ts_node_is_null(module_name) || !is_type(module_name, "string")) {
        return 0;
    }
    bool is_default = has_child_of_type(node, "default");
    if (!is_default && !has_child_of_type(node, "=")) {
        return 0;
    }
    TSNode value = is_default ? field(node, file->plan->fields.value) : named_child_of_type(node, "identifier");
    if (ts_node_is_null(value) || !is_type(value, "identifier")) {
        return 0;
    }
    PyObject *name = node_text(file, value);
    if (name == NULL) {
        return -1;
    }
    ScopedExport export = {name, ts_node_start_byte(body), ts_node_end_byte(body), is_default};
    if (PUSH(file->scoped_exports, export) < 0) {
        Py_DECREF(name);
        return -1;
    }
    return 0;
}

static int export_statement(FileCaptures *file, const Captured *captured) {
    TSNode node = captured->node;
    TSNode parent = captured->ancestors.above[0];
    bool top_level = !ts_node_is_null(parent) && is_type(parent, "program");
    bool type_only = has_child_of_type(node, "type");
    TSNode source_node = ts_node_child_by_field_name(node, "source", 6);
    Span statement_span = node_span(node);
    if (!ts_node_is_null(source_node)) {
        type_only = type_only || type_star_rewritten(file, node);
        return reexport(file, node, source_node, type_only, &statement_span, top_level);
    }
    if (!top_level) {
        return ambient_module_export(file, captured);
    }
    bool has_default = false, has_equals = false;
    uint32_t count = ts_node_child_count(node);
    for (uint32_t index = 0; index < count; index++) {
        TSNode child = ts_node_child(node, index);
        if (is_type(child, "default")) {
            has_default = true;
        } else if (is_type(child, "=")) {
            has_equals = true;
        } else if (is_type(child, "export_clause")) {
            uint32_t specifiers = ts_node_named_child_count(child);
            for (uint32_t position = 0; position < specifiers; position++) {
                TSNode specifier = ts_node_named_child(child, position);
                if (!is_type(specifier, "export_specifier")) {
                    continue;
                }
                PyObject *name, *alias = NULL;
                int has_name = module_export_name(file, field(specifier, file->plan->fields.name), &name);
                if (has_name <= 0) {
                    if (has_name < 0) {
                        return -1;
                    }
                    continue;
                }
                int has_alias = module_export_name(file, ts_node_child_by_field_name(specifier, "alias", 5), &alias);
                PyObject *exported = alias_or(has_alias > 0 ? alias : NULL, name);
                bool specifier_type_only = type_only || has_child_of_type(specifier, "type");
                int status = has_alias < 0 ? -1
                                           : add_export(file, Py_NewRef(exported), Py_NewRef(name), EK_LOCAL,
                                                        specifier_type_only, &statement_span, -1);
                if (status == 0) {
                    status = PySet_Add(file->later_exported, name);
                }
                if (status == 0 && PyUnicode_CompareWithASCIIString(exported, "default") == 0) {
                    status = PySet_Add(file->later_default, name);
                }
                Py_DECREF(name);
                Py_XDECREF(alias);
                if (status < 0) {
                    return -1;
                }
            }
        }
    }
    const Fields *fields = &file->plan->fields;
    if (has_default && ts_node_is_null(ts_node_child_by_field_name(node, "declaration", 11))) {
        TSNode value = field(node, fields->value);
        PyObject *local = NULL;
        if (!ts_node_is_null(value) && is_type(value, "identifier")) {
            local = node_text(file, value);
            if (local == NULL || PySet_Add(file->later_default, local) < 0) {
                Py_XDECREF(local);
                return -1;
            }
        } else if (!ts_node_is_null(value) &&
                   (is_type(value, "class") || is_type(value, "function_expression") ||
                    is_type(value, "generator_function"))) {
            return 0; /* named by the declaration's own export row */
        }
        return add_export(file, Py_NewRef(default_string), local, EK_LOCAL, false, &statement_span, -1);
    }
    if (has_equals) {
        TSNode value = {0};
        uint32_t named = ts_node_named_child_count(node);
        for (uint32_t index = 0; index < named; index++) {
            TSNode child = ts_node_named_child(node, index);
            if (!is_type(child, "comment")) {
                value = child;
                break;
            }
        }
        PyObject *local = NULL;
        if (!ts_node_is_null(value) && is_type(value, "identifier")) {
            local = node_text(file, value);
            if (local == NULL || PySet_Add(file->later_exported, local) < 0) {
                Py_XDECREF(local);
                return -1;
            }
        }
        return add_export(file, Py_NewRef(export_equals_string), local, EK_ASSIGNMENT, false, &statement_span, -1);
    }
    return 0;
}

/* A CommonJS export row; ``local`` (borrowed, may be NULL) is then exported by name too. */
static int commonjs_row(FileCaptures *file, PyObject *exported, PyObject *local, const Span *span) {
    if (local != NULL && PySet_Add(file->later_exported, local) < 0) {
        return -1;
    }
    return add_export(file, Py_NewRef(exported), local == NULL ? NULL : Py_NewRef(local), EK_COMMONJS, false, span,
                      -1);
}

/* ``module.exports = { a, b: c, d() {} }`` exports ``a``, ``b`` (the local ``c``) and ``d``. */
static int commonjs_object(FileCaptures *file, TSNode value, const Span *span) {
    const Fields *fields = &file->plan->fields;
    uint32_t count = ts_node_named_child_count(value);
    for (uint32_t index = 0; index < count; index++) {
        TSNode member = ts_node_named_child(value, index);
        PyObject *exported = NULL, *local = NULL;
        Span name_span;
        int found = 0;
        if (is_type(member, "shorthand_property_identifier")) {
            exported = node_text(file, member);
            local = exported == NULL ? NULL : Py_NewRef(exported);
            found = exported == NULL ? -1 : 1;
        } else if (is_type(member, "pair")) {
            found = simple_name(file, ts_node_child_by_field_name(member, "key", 3), &exported, &name_span);
            TSNode pair_value = field(member, fields->value);
            if (found > 0 && !ts_node_is_null(pair_value) && is_type(pair_value, "identifier")) {
                local = node_text(file, pair_value);
                if (local == NULL) {
                    Py_DECREF(exported);
                    return -1;
                }
            }
        } else if (is_type(member, "method_definition")) {
            found = simple_name(file, field(member, fields->name), &exported, &name_span);
        }
        int status = found <= 0 ? found : commonjs_row(file, exported, local, span);
        if (found > 0) {
            Py_XDECREF(exported);
        }
        Py_XDECREF(local);
        if (status < 0) {
            return -1;
        }
    }
    return 0;
}

static bool text_is(PyObject *text, const char *value) { return PyUnicode_CompareWithASCIIString(text, value) == 0; }

/* ``module.exports = x``, ``module.exports.a = x``, ``exports.a = x`` (``this.x = …`` and the like export
   nothing). At the top level, ``exports.a = <not a name>`` declares ``a`` (commonjs_definitions), its local. */
static int commonjs_export(FileCaptures *file, const Captured *captured) {
    TSNode node = captured->node;
    const Fields *fields = &file->plan->fields;
    TSNode left = ts_node_child_by_field_name(node, "left", 4);
    TSNode right = ts_node_child_by_field_name(node, "right", 5);
    if (ts_node_is_null(left) || ts_node_is_null(right)) {
        return 0;
    }
    TSNode target = field(left, fields->object);
    TSNode property_node = field(left, fields->property);
    if (ts_node_is_null(target) || ts_node_is_null(property_node)) {
        return 0;
    }
    bool is_module = text_equals(file, target, "module");
    bool is_exports = text_equals(file, target, "exports") || text_equals(file, target, "module.exports");
    if (!is_module && !is_exports) {
        return 0;
    }
    PyObject *property_text = node_text(file, property_node);
    if (property_text == NULL) {
        return -1;
    }
    Span span = node_span(node);
    int status = 0;
    bool whole_module = is_module && text_is(property_text, "exports");
    if (whole_module && is_type(right, "object")) {
        status = commonjs_object(file, right, &span);
    } else if (whole_module || is_exports) {
        PyObject *local = is_type(right, "identifier") ? node_text(file, right) : NULL;
        if (local == NULL && !whole_module && is_type(property_node, "property_identifier") &&
            top_level_statement(captured)) {
            local = Py_NewRef(property_text);
        }
        if (is_type(right, "identifier") && local == NULL) {
            status = -1;
        } else {
            status = commonjs_row(file, whole_module ? export_equals_string : property_text, local, &span);
        }
        Py_XDECREF(local);
    }
    Py_DECREF(property_text);
    return status;
}

static int compare_module_captures(const void *left, const void *right) {
    const ModuleCapture *a = left, *b = right;
    if (a->order != b->order) {
        return a->order < b->order ? -1 : 1;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

/* Reads every import and export statement, by capture name in sorted order, then the ``require`` calls. */
static int read_modules(FileCaptures *file) {
    file->later_exported = PySet_New(NULL);
    file->later_default = PySet_New(NULL);
    if (file->later_exported == NULL || file->later_default == NULL) {
        return -1;
    }
    sort_items(file->module_captures.items, file->module_captures.count, sizeof(ModuleCapture),
               compare_module_captures);
    for (size_t index = 0; index < file->module_captures.count; index++) {
        const ModuleCapture *capture = &file->module_captures.items[index];
        if (take_step(&file->budget) < 0) {
            return -1;
        }
        int status;
        switch (capture->kind) {
        case MODULE_IMPORT_STATIC:
            status = import_statement(file, capture->captured.node);
            break;
        case MODULE_IMPORT_DYNAMIC:
            status = call_import(file, &capture->captured, IK_DYNAMIC);
            break;
        case MODULE_EXPORT_STATEMENT:
            status = export_statement(file, &capture->captured);
            break;
        default:
            status = commonjs_export(file, &capture->captured);
            break;
        }
        if (status < 0) {
            return -1;
        }
    }
    for (size_t index = 0; index < file->requires.count; index++) {
        if (take_step(&file->budget) < 0 || call_import(file, &file->requires.items[index], IK_REQUIRE) < 0) {
            return -1;
        }
    }
    return 0;
}

static int compare_imports(const void *left, const void *right) {
    const PendingImport *a = left, *b = right;
    if (a->span.start_byte != b->span.start_byte) {
        return a->span.start_byte < b->span.start_byte ? -1 : 1;
    }
    if (a->specifier_span.start_byte != b->specifier_span.start_byte) {
        return a->specifier_span.start_byte < b->specifier_span.start_byte ? -1 : 1;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

/* The imports in source order as ``Import`` Structs (sorted in place, which import_index_of relies on). */
static PyObject *build_imports(FileCaptures *file) {
    PendingImport *imports = file->imports.items;
    size_t count = file->imports.count;
    sort_items(imports, count, sizeof(PendingImport), compare_imports);
    PyObject *result = PyTuple_New((Py_ssize_t)count);
    for (size_t index = 0; result != NULL && index < count; index++) {
        const PendingImport *pending = &imports[index];
        if (take_step(&file->budget) < 0) {
            Py_CLEAR(result);
            break;
        }
        PyObject *span = span_object(&pending->span);
        PyObject *specifier_span = span_object(&pending->specifier_span);
        PyObject *value = NULL;
        if (span != NULL && specifier_span != NULL) {
            PyObject *values[6] = {
                pending->specifier, import_kind_strings[pending->kind], pending->type_only ? Py_True : Py_False,
                span,               specifier_span,                     pending->bindings,
            };
            value = PyObject_Vectorcall(import_type, values, 0, import_kwnames);
        }
        Py_XDECREF(span);
        Py_XDECREF(specifier_span);
        if (value == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)index, value);
    }
    return result;
}

/* The index of the (last) import whose span starts at ``key`` among the sorted imports, or -1: a bisection
   (a scan per export row made 100,000 re-exports quadratic). */
static Py_ssize_t import_index_of(const FileCaptures *file, int64_t key) {
    if (key < 0) {
        return -1;
    }
    const PendingImport *imports = file->imports.items;
    size_t low = 0, high = file->imports.count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (imports[middle].span.start_byte < (uint32_t)key) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Py_ssize_t found = -1;
    for (size_t index = low; index < file->imports.count && imports[index].span.start_byte == (uint32_t)key; index++) {
        found = (Py_ssize_t)index;
    }
    return found;
}

static int compare_exports(const void *left, const void *right) {
    const PendingExport *a = left, *b = right;
    if (a->span.start_byte != b->span.start_byte) {
        return a->span.start_byte < b->span.start_byte ? -1 : 1;
    }
    int order = PyUnicode_Compare(a->exported, b->exported);
    if (order != 0) {
        return order;
    }
    return a->sequence < b->sequence ? -1 : (a->sequence > b->sequence);
}

/* The exports in source order as ``Export`` Structs: the statements' rows and one row per top-level declaration
   that carries ``export`` itself; a local or CommonJS name exported twice keeps its first row. */
static PyObject *build_exports(FileCaptures *file, const DeclaredExportArray *declared) {
    for (size_t index = 0; index < declared->count; index++) {
        const PendingSymbol *source = &file->pending.items[declared->items[index].symbol];
        PyObject *exported = declared->items[index].is_default ? default_string : source->name;
        if (add_export(file, Py_NewRef(exported), Py_NewRef(source->name), EK_LOCAL, false, &source->span, -1) < 0) {
            return NULL;
        }
    }
    PendingExport *exports = file->exports.items;
    size_t count = file->exports.count;
    sort_items(exports, count, sizeof(PendingExport), compare_exports);
    PyObject *seen[EK_COUNT] = {NULL};
    PyObject *rows = PyList_New(0);
    for (int kind = 0; kind < EK_COUNT; kind++) {
        seen[kind] = PySet_New(NULL);
        if (seen[kind] == NULL) {
            Py_CLEAR(rows);
        }
    }
    for (size_t index = 0; rows != NULL && index < count; index++) {
        const PendingExport *pending = &exports[index];
        if (take_step(&file->budget) < 0) {
            Py_CLEAR(rows);
            break;
        }
        if (pending->kind == EK_LOCAL || pending->kind == EK_COMMONJS) {
            int duplicate = PySet_Contains(seen[pending->kind], pending->exported);
            if (duplicate != 0) {
                if (duplicate < 0) {
                    Py_CLEAR(rows);
                }
                continue;
            }
            if (PySet_Add(seen[pending->kind], pending->exported) < 0) {
                Py_CLEAR(rows);
                break;
            }
        }
        Py_ssize_t import_index = import_index_of(file, pending->import_key);
        PyObject *span = span_object(&pending->span);
        PyObject *import_value = import_index < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(import_index);
        PyObject *value = NULL;
        if (span != NULL && import_value != NULL) {
            PyObject *values[6] = {
                pending->exported, pending->local != NULL ? pending->local : Py_None,
                export_kind_strings[pending->kind], pending->type_only ? Py_True : Py_False,
                span, import_value,
            };
            value = PyObject_Vectorcall(export_type, values, 0, export_kwnames);
        }
        Py_XDECREF(span);
        Py_XDECREF(import_value);
        if (value == NULL || PyList_Append(rows, value) < 0) {
            Py_XDECREF(value);
            Py_CLEAR(rows);
            break;
        }
        Py_DECREF(value);
    }
    for (int kind = 0; kind < EK_COUNT; kind++) {
        Py_XDECREF(seen[kind]);
    }
    if (rows == NULL) {
        return NULL;
    }
    PyObject *result = PyList_AsTuple(rows);
    Py_DECREF(rows);
    return result;
}

PyDoc_STRVAR(file_captures_rows_doc,
             "rows(max_signature_chars, max_doc_chars, max_qualifier_chars, /)\n--\n\n"
             "The file's ``(symbols, imports, exports, references)``, each a tuple of Structs in source order "
             "(symbols in pre-order). Called once per file.");

static PyObject *file_captures_rows(FileCaptures *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "rows() takes the signature, doc and qualifier bounds");
        return NULL;
    }
    Py_ssize_t max_qualifier_chars;
    if (read_bound(args[0], &self->max_signature_chars) < 0 || read_bound(args[1], &self->max_doc_chars) < 0 ||
        read_bound(args[2], &max_qualifier_chars) < 0) {
        return NULL;
    }
    if (self->rows_state != ROWS_PENDING) {
        PyErr_SetString(PyExc_RuntimeError, "rows() was called already");
        return NULL;
    }
    self->rows_state = ROWS_STARTED;
    DeclaredExportArray declared = {NULL, 0, 0};
    PyObject *symbols = NULL, *imports = NULL, *exports = NULL, *references = NULL, *result = NULL;
    if (read_modules(self) == 0 && (symbols = build_symbols(self, &declared)) != NULL &&
        (imports = build_imports(self)) != NULL && (exports = build_exports(self, &declared)) != NULL &&
        (references = build_references(self, max_qualifier_chars)) != NULL) {
        result = PyTuple_Pack(4, symbols, imports, exports, references);
    }
    PyMem_Free(declared.items);
    Py_XDECREF(symbols);
    Py_XDECREF(imports);
    Py_XDECREF(exports);
    Py_XDECREF(references);
    return result;
}

static PyMethodDef file_captures_methods[] = {
    {"rows", (PyCFunction)(void (*)(void))file_captures_rows, METH_FASTCALL, file_captures_rows_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *file_captures_steps(FileCaptures *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->budget.steps);
}

static PyGetSetDef file_captures_getset[] = {
    {"steps", (getter)file_captures_steps, NULL,
     "The work done on this file so far: one step per node walked and per capture handled (what the deadline "
     "is checked against; tests read it to see that the work grows linearly with the file).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot file_captures_slots[] = {
    {Py_tp_dealloc, file_captures_dealloc},
    {Py_tp_methods, file_captures_methods},
    {Py_tp_getset, file_captures_getset},
    {Py_tp_doc, "One file's captures, kept in C until ``rows`` builds the file's Structs from them."},
    {0, NULL},
};

static PyType_Spec file_captures_spec = {
    .name = "stages._native.FileCaptures",
    .basicsize = sizeof(FileCaptures),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = file_captures_slots,
};

/* ---- parse --------------------------------------------------------------------------------------- */

/* The runtime's allocators: PyMem's, except that running out of memory stops the process with a message.
   tree-sitter never checks for NULL, so returning it would crash somewhere later without saying why. */
static void *runtime_malloc(size_t size) {
    void *memory = PyMem_Malloc(size);
    if (memory == NULL) {
        Py_FatalError("tree-sitter ran out of memory");
    }
    return memory;
}

static void *runtime_calloc(size_t count, size_t size) {
    void *memory = PyMem_Calloc(count, size);
    if (memory == NULL) {
        Py_FatalError("tree-sitter ran out of memory");
    }
    return memory;
}

static void *runtime_realloc(void *memory, size_t size) {
    void *grown = PyMem_Realloc(memory, size);
    if (grown == NULL) {
        Py_FatalError("tree-sitter ran out of memory");
    }
    return grown;
}

static TSParser *shared_parser; /* used with the GIL held, like everything here */

typedef struct {
    const char *text;
    uint32_t length;
} Buffer;

static const char *read_buffer(void *payload, uint32_t byte_index, TSPoint position, uint32_t *bytes_read) {
    (void)position;
    const Buffer *buffer = payload;
    *bytes_read = byte_index < buffer->length ? buffer->length - byte_index : 0;
    return buffer->text + (byte_index < buffer->length ? byte_index : buffer->length);
}

static bool past_deadline(TSParseState *state) { return monotonic_seconds() > *(const double *)state->payload; }

PyDoc_STRVAR(parse_doc,
             "parse(language, source, old_tree, deadline, /)\n--\n\n"
             "Parse ``source`` (UTF-8) with ``language`` (a grammar wheel's ``language()`` capsule) into a Tree, "
             "reusing ``old_tree`` (edited to match) when given; ``None`` when ``time.monotonic()`` passes "
             "``deadline`` first.");

static PyObject *parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4 || !PyBytes_Check(args[1]) || (args[2] != Py_None && !PyObject_TypeCheck(args[2], tree_object_type))) {
        PyErr_SetString(PyExc_TypeError, "parse() takes a language() capsule, source bytes, a Tree or None, and a "
                                         "deadline");
        return NULL;
    }
    const TSLanguage *language = language_of_capsule(args[0]);
    if (language == NULL) {
        return NULL;
    }
    double deadline = PyFloat_AsDouble(args[3]);
    if (deadline == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyBytes_GET_SIZE(args[1]) > UINT32_MAX - 1) {
        PyErr_SetString(PyExc_ValueError, "source is too large");
        return NULL;
    }
    if (!ts_parser_set_language(shared_parser, language)) {
        PyErr_SetString(PyExc_ValueError, "the language's ABI version is not supported by this runtime");
        return NULL;
    }
    Buffer buffer = {PyBytes_AS_STRING(args[1]), (uint32_t)PyBytes_GET_SIZE(args[1])};
    TSInput input = {.payload = &buffer, .read = read_buffer, .encoding = TSInputEncodingUTF8, .decode = NULL};
    TSParseOptions options = {.payload = &deadline, .progress_callback = past_deadline};
    const TSTree *old_tree = args[2] == Py_None ? NULL : ((TreeObject *)args[2])->tree;
    if (old_tree != NULL && ts_tree_language(old_tree) != language) {
        /* its subtrees would be reused with another grammar's symbols, which index past this one's tables */
        PyErr_SetString(PyExc_ValueError, "old_tree was parsed with another language");
        return NULL;
    }
    TSTree *tree = ts_parser_parse_with_options(shared_parser, old_tree, input, options);
    if (tree == NULL) {
        ts_parser_reset(shared_parser);
        Py_RETURN_NONE;
    }
    return tree_object_new(tree, args[0]);
}

static PyMethodDef module_methods[] = {
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL, parse_doc},
    {NULL, NULL, 0, NULL},
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

static PyObject *interned_tuple(const char *const *names, Py_ssize_t count) {
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

static int intern_all(PyObject **strings, const char *const *names, int count) {
    for (int index = 0; index < count; index++) {
        strings[index] = PyUnicode_InternFromString(names[index]);
        if (strings[index] == NULL) {
            return -1;
        }
    }
    return 0;
}

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stages._native",
    .m_doc = "The extract stage's per-file work in C (see stages/native/extract.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    static const char *const span_fields[] = {"start_line", "start_column", "end_line",
                                              "end_column", "start_byte",   "end_byte"};
    static const char *const symbol_fields[] = {"name",     "kind",     "span",    "name_span",         "parent",
                                                "exported", "is_default_export", "is_async", "signature", "doc",
                                                "type_hint"};
    static const char *const reference_fields[] = {"name", "qualifier", "kind", "span", "enclosing", "root_hint"};
    static const char *const binding_fields[] = {"imported", "local", "is_type_only", "span"};
    static const char *const import_fields[] = {"specifier",      "kind", "is_type_only",
                                                "span",           "specifier_span", "bindings"};
    static const char *const export_fields[] = {"exported", "local", "kind", "is_type_only", "span", "import_index"};
    span_type = attribute_of("stages.models", "Span");
    symbol_type = attribute_of("stages.models", "Symbol");
    reference_type = attribute_of("stages.models", "Reference");
    binding_type = attribute_of("stages.models", "ImportBinding");
    import_type = attribute_of("stages.models", "Import");
    export_type = attribute_of("stages.models", "Export");
    span_kwnames = interned_tuple(span_fields, 6);
    symbol_kwnames = interned_tuple(symbol_fields, 11);
    reference_kwnames = interned_tuple(reference_fields, 6);
    binding_kwnames = interned_tuple(binding_fields, 4);
    import_kwnames = interned_tuple(import_fields, 6);
    export_kwnames = interned_tuple(export_fields, 6);
    star_string = PyUnicode_InternFromString("*");
    export_equals_string = PyUnicode_InternFromString("export=");
    ellipsis_string = PyUnicode_FromString("\xe2\x80\xa6");
    default_string = PyUnicode_InternFromString("default");
    global_string = PyUnicode_InternFromString("global");
    if (span_type == NULL ||
        symbol_type == NULL || reference_type == NULL || binding_type == NULL || import_type == NULL ||
        export_type == NULL || span_kwnames == NULL || symbol_kwnames == NULL || reference_kwnames == NULL ||
        binding_kwnames == NULL || import_kwnames == NULL || export_kwnames == NULL || ellipsis_string == NULL ||
        default_string == NULL || global_string == NULL || star_string == NULL || export_equals_string == NULL ||
        intern_all(reference_kind_strings, REFERENCE_KIND_NAMES, REF_COUNT) < 0 ||
        intern_all(symbol_kind_strings, SYMBOL_KIND_NAMES, SK_COUNT) < 0 ||
        intern_all(import_kind_strings, IMPORT_KIND_NAMES, IK_COUNT) < 0 ||
        intern_all(export_kind_strings, EXPORT_KIND_NAMES, EK_COUNT) < 0) {
        return NULL;
    }
    /* The runtime allocates with PyMem (tracemalloc sees a tree's memory). */
    ts_set_allocator(runtime_malloc, runtime_calloc, runtime_realloc, PyMem_Free);
    shared_parser = ts_parser_new();
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    PyObject *plan_type = PyType_FromSpec(&query_plan_spec);
    file_captures_type = (PyTypeObject *)PyType_FromSpec(&file_captures_spec);
    deadline_exceeded = PyErr_NewExceptionWithDoc(
        "stages._native.DeadlineExceeded",
        "The extraction of a file passed the deadline given to QueryPlan.run (its parse's deadline) and stopped.",
        NULL, NULL);
    if (plan_type == NULL || file_captures_type == NULL || deadline_exceeded == NULL || syntax_types_add(module) < 0 ||
        PyModule_AddObject(module, "QueryPlan", plan_type) < 0 ||
        PyModule_AddObject(module, "FileCaptures", Py_NewRef(file_captures_type)) < 0 ||
        PyModule_AddObject(module, "DeadlineExceeded", Py_NewRef(deadline_exceeded)) < 0 ||
        PyModule_AddStringConstant(module, "TREE_SITTER_VERSION", TREE_SITTER_VERSION) < 0) {
        Py_XDECREF(plan_type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
