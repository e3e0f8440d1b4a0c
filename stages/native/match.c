/* The query files' patterns, matched in one walk of a tree.
 *
 * tree-sitter's query cursor costs about 0.9 s over the 2,488-file corpus where a plain cursor walk costs 0.4 s,
 * and the query files only use a small part of the query language (stages/patterns.py compiles and checks
 * them): a node of one of some types, or any named node; at most one child pattern, optionally at a field;
 * captures on any of them. Matching that needs no state across nodes: for each node, the patterns rooted at its
 * type are tried against its children, and each full match reports its captures.
 *
 * The semantics are tree-sitter's for this subset: children are the visible children (a TSTreeCursor's), a
 * field is the child's field as the query cursor sees it (query_field_id), ``(_)`` is any named node but an
 * ERROR, a ``(_ child)`` pattern matches at any node but an ERROR (tree-sitter starts it at the child and only
 * asks for a parent), and a node with several matching children yields one match per child.
 */
#include "match.h"

#include <stdbool.h>
#include <string.h>

#include "language.h"
#include "tree.h"
#include "tree_cursor.h"

#define MAX_DEPTH 8 /* steps per pattern; the query files use three at most */

typedef struct Step {
    TSSymbol *symbols; /* none: any named node */
    uint16_t symbol_count;
    TSFieldId field; /* 0: any child position */
    uint16_t *captures;
    uint16_t capture_count;
    struct Step *child;
} Step;

struct Matcher {
    Step *roots;
    size_t root_count;
    uint32_t symbol_limit;  /* one more than the largest root symbol */
    uint32_t *first_by_symbol; /* patterns rooted at symbol s: by_symbol[first_by_symbol[s] .. first_by_symbol[s + 1]] */
    uint32_t *by_symbol;
    uint32_t *any_named; /* patterns rooted at ``(_)`` */
    size_t any_named_count;
};

static void step_clear(Step *step) {
    PyMem_Free(step->symbols);
    PyMem_Free(step->captures);
    if (step->child != NULL) {
        step_clear(step->child);
        PyMem_Free(step->child);
    }
    memset(step, 0, sizeof(Step));
}

static int read_u16_tuple(PyObject *tuple, const char *what, uint32_t limit, uint16_t **items, uint16_t *count) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > UINT16_MAX) {
        PyErr_Format(PyExc_TypeError, "pattern step %s must be a tuple of integers", what);
        return -1;
    }
    *count = (uint16_t)PyTuple_GET_SIZE(tuple);
    *items = PyMem_Calloc(*count ? *count : 1, sizeof(uint16_t));
    if (*items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint16_t index = 0; index < *count; index++) {
        long value = PyLong_AsLong(PyTuple_GET_ITEM(tuple, index));
        if (value == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (value < 0 || (uint32_t)value >= limit) {
            PyErr_Format(PyExc_ValueError, "pattern step %s %ld is out of range", what, value);
            return -1;
        }
        (*items)[index] = (uint16_t)value;
    }
    return 0;
}

/* A step from ``(symbols, field, captures, child)``. */
static int step_read(PyObject *object, Step *step, uint32_t capture_count, int depth) {
    if (depth >= MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "pattern nests deeper than the matcher allows");
        return -1;
    }
    if (!PyTuple_Check(object) || PyTuple_GET_SIZE(object) != 4) {
        PyErr_SetString(PyExc_TypeError, "pattern step must be (symbols, field, captures, child)");
        return -1;
    }
    long field = PyLong_AsLong(PyTuple_GET_ITEM(object, 1));
    if (field == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (field < 0 || field > UINT16_MAX) {
        PyErr_Format(PyExc_ValueError, "pattern field %ld is out of range", field);
        return -1;
    }
    step->field = (TSFieldId)field;
    if (read_u16_tuple(PyTuple_GET_ITEM(object, 0), "symbol", UINT16_MAX + 1u, &step->symbols,
                       &step->symbol_count) < 0 ||
        read_u16_tuple(PyTuple_GET_ITEM(object, 2), "capture", capture_count, &step->captures,
                       &step->capture_count) < 0) {
        return -1;
    }
    PyObject *child = PyTuple_GET_ITEM(object, 3);
    if (child == Py_None) {
        return 0;
    }
    step->child = PyMem_Calloc(1, sizeof(Step));
    if (step->child == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return step_read(child, step->child, capture_count, depth + 1);
}

void matcher_free(Matcher *matcher) {
    if (matcher == NULL) {
        return;
    }
    for (size_t index = 0; index < matcher->root_count; index++) {
        step_clear(&matcher->roots[index]);
    }
    PyMem_Free(matcher->roots);
    PyMem_Free(matcher->first_by_symbol);
    PyMem_Free(matcher->by_symbol);
    PyMem_Free(matcher->any_named);
    PyMem_Free(matcher);
}

Matcher *matcher_new(PyObject *patterns, uint32_t capture_count) {
    PyObject *fast = PySequence_Fast(patterns, "patterns must be a sequence of steps");
    if (fast == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    Matcher *matcher = PyMem_Calloc(1, sizeof(Matcher));
    if (matcher == NULL || (matcher->roots = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Step))) == NULL) {
        PyMem_Free(matcher);
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        matcher->root_count = (size_t)index + 1;
        if (step_read(PySequence_Fast_GET_ITEM(fast, index), &matcher->roots[index], capture_count, 0) < 0) {
            Py_DECREF(fast);
            matcher_free(matcher);
            return NULL;
        }
    }
    Py_DECREF(fast);
    /* Index the patterns by root symbol (counting sort), keeping file order within a symbol. */
    size_t entries = 0;
    for (size_t index = 0; index < matcher->root_count; index++) {
        const Step *root = &matcher->roots[index];
        if (root->symbol_count == 0) {
            matcher->any_named_count++;
        }
        for (uint16_t symbol = 0; symbol < root->symbol_count; symbol++) {
            if ((uint32_t)root->symbols[symbol] + 1 > matcher->symbol_limit) {
                matcher->symbol_limit = (uint32_t)root->symbols[symbol] + 1;
            }
            entries++;
        }
    }
    matcher->first_by_symbol = PyMem_Calloc(matcher->symbol_limit + 1, sizeof(uint32_t));
    matcher->by_symbol = PyMem_Calloc(entries ? entries : 1, sizeof(uint32_t));
    matcher->any_named = PyMem_Calloc(matcher->any_named_count ? matcher->any_named_count : 1, sizeof(uint32_t));
    if (matcher->first_by_symbol == NULL || matcher->by_symbol == NULL || matcher->any_named == NULL) {
        matcher_free(matcher);
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t index = 0; index < matcher->root_count; index++) {
        const Step *root = &matcher->roots[index];
        for (uint16_t symbol = 0; symbol < root->symbol_count; symbol++) {
            matcher->first_by_symbol[root->symbols[symbol] + 1]++;
        }
    }
    for (uint32_t symbol = 0; symbol < matcher->symbol_limit; symbol++) {
        matcher->first_by_symbol[symbol + 1] += matcher->first_by_symbol[symbol];
    }
    uint32_t *next = PyMem_Calloc(matcher->symbol_limit ? matcher->symbol_limit : 1, sizeof(uint32_t));
    if (next == NULL) {
        matcher_free(matcher);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(next, matcher->first_by_symbol, matcher->symbol_limit * sizeof(uint32_t));
    size_t any_named = 0;
    for (size_t index = 0; index < matcher->root_count; index++) {
        const Step *root = &matcher->roots[index];
        if (root->symbol_count == 0) {
            matcher->any_named[any_named++] = (uint32_t)index;
        }
        for (uint16_t symbol = 0; symbol < root->symbol_count; symbol++) {
            matcher->by_symbol[next[root->symbols[symbol]]++] = (uint32_t)index;
        }
    }
    PyMem_Free(next);
    return matcher;
}

/* The field of the cursor's node as tree-sitter's query cursor sees it (ts_tree_cursor_current_status): the
   first field found walking up through the node's hidden ancestors. Unlike ts_tree_cursor_current_field_id, an
   extra node (a comment) in a hidden child at a field takes that field, and an ancestor's visibility counts its
   alias. */
static TSFieldId query_field_id(const TSTreeCursor *cursor) {
    const TreeCursor *self = (const TreeCursor *)cursor;
    const TSLanguage *language = self->tree->language;
    for (uint32_t index = self->stack.size - 1; index > 0; index--) {
        const TreeCursorEntry *entry = array_get(&self->stack, index);
        const TreeCursorEntry *parent = array_get(&self->stack, index - 1);
        bool extra = ts_subtree_extra(*entry->subtree);
        if (index != self->stack.size - 1) {
            const TSSymbol *aliases = ts_language_alias_sequence(language, parent->subtree->ptr->production_id);
            TSSymbol symbol = !extra && aliases != NULL && aliases[entry->structural_child_index]
                                  ? aliases[entry->structural_child_index]
                                  : ts_subtree_symbol(*entry->subtree);
            if (ts_language_symbol_metadata(language, symbol).visible) {
                break;
            }
        }
        if (extra) {
            continue;
        }
        const TSFieldMapEntry *map, *map_end;
        ts_language_field_map(language, parent->subtree->ptr->production_id, &map, &map_end);
        for (; map < map_end; map++) {
            if (!map->inherited && map->child_index == entry->structural_child_index) {
                return map->field_id;
            }
        }
    }
    return 0;
}

static bool step_accepts(const Step *step, TSNode node) {
    TSSymbol symbol = ts_node_symbol(node);
    if (step->symbol_count == 0) {
        return symbol != ts_builtin_sym_error && ts_node_is_named(node);
    }
    for (uint16_t index = 0; index < step->symbol_count; index++) {
        if (step->symbols[index] == symbol) {
            return true;
        }
    }
    return false;
}

typedef struct {
    const Step *steps[MAX_DEPTH];
    TSNode nodes[MAX_DEPTH];
    TSTreeCursor cursors[MAX_DEPTH]; /* one per depth, reused: a cursor allocates its stack once */
    bool cursor_ready[MAX_DEPTH];
    TSNode *path; /* the visible ancestors of the node the main walk is at, root first */
    uint32_t path_length;
    uint32_t path_capacity;
    CaptureCallback callback;
    void *context;
} Walk;

/* The ``up``-th visible ancestor (1: the parent) of the node matched at ``depth`` of the current match: the nodes
   matched above it, then the main walk's path. */
static TSNode ancestor(const Walk *walk, int depth, int up) {
    if (depth - up >= 0) {
        return walk->nodes[depth - up];
    }
    uint32_t above = (uint32_t)(up - depth);
    return above <= walk->path_length ? walk->path[walk->path_length - above] : (TSNode){0};
}

static int report(Walk *walk, int length) {
    for (int depth = 0; depth < length; depth++) {
        const Step *step = walk->steps[depth];
        Ancestors ancestors;
        for (int up = 0; up < ANCESTORS; up++) {
            ancestors.above[up] = ancestor(walk, depth, up + 1);
        }
        for (uint16_t index = 0; index < step->capture_count; index++) {
            int status = walk->callback(walk->context, step->captures[index], walk->nodes[depth], &ancestors);
            if (status < 0) {
                return status;
            }
        }
    }
    return 0;
}

/* Every way the path ``steps[0..length)`` (matched so far) extends to a full match. */
static int extend(Walk *walk, int length) {
    const Step *step = walk->steps[length - 1];
    if (step->child == NULL) {
        return report(walk, length);
    }
    const Step *child = step->child;
    int depth = length - 1;
    TSTreeCursor *cursor = &walk->cursors[depth];
    if (walk->cursor_ready[depth]) {
        ts_tree_cursor_reset(cursor, walk->nodes[depth]);
    } else {
        *cursor = ts_tree_cursor_new(walk->nodes[depth]);
        walk->cursor_ready[depth] = true;
    }
    if (!ts_tree_cursor_goto_first_child(cursor)) {
        return 0;
    }
    do {
        if (child->field != 0 && query_field_id(cursor) != child->field) {
            continue;
        }
        TSNode node = ts_tree_cursor_current_node(cursor);
        if (!step_accepts(child, node)) {
            continue;
        }
        walk->steps[length] = child;
        walk->nodes[length] = node;
        /* the deeper search resets deeper cursors only, so this one keeps its place */
        int status = extend(walk, length + 1);
        if (status < 0) {
            return status;
        }
    } while (ts_tree_cursor_goto_next_sibling(cursor));
    return 0;
}

static int try_patterns(const Matcher *matcher, Walk *walk, const uint32_t *patterns, size_t count, TSNode node) {
    for (size_t index = 0; index < count; index++) {
        const Step *root = &matcher->roots[patterns[index]];
        if (root->symbol_count == 0 &&
            (ts_node_symbol(node) == ts_builtin_sym_error ||
             (!ts_node_is_named(node) && (root->child == NULL || root->child->symbol_count == 0)))) {
            continue;
        }
        walk->steps[0] = root;
        walk->nodes[0] = node;
        int status = extend(walk, 1);
        if (status < 0) {
            return status;
        }
    }
    return 0;
}

static int path_push(Walk *walk, TSNode node) {
    if (walk->path_length == walk->path_capacity) {
        uint32_t capacity = walk->path_capacity ? walk->path_capacity * 2 : 64;
        TSNode *grown = PyMem_Realloc(walk->path, capacity * sizeof(TSNode));
        if (grown == NULL) {
            return -1;
        }
        walk->path = grown;
        walk->path_capacity = capacity;
    }
    walk->path[walk->path_length++] = node;
    return 0;
}

int matcher_run(const Matcher *matcher, TSNode root, CaptureCallback callback, StepCallback step, void *context) {
    Walk walk;
    memset(&walk, 0, sizeof(Walk));
    walk.callback = callback;
    walk.context = context;
    TSTreeCursor cursor = ts_tree_cursor_new(root);
    int status = 0;
    for (;;) {
        TSNode node = ts_tree_cursor_current_node(&cursor);
        status = step(context);
        TSSymbol symbol = ts_node_symbol(node);
        if (status == 0 && symbol < matcher->symbol_limit) {
            uint32_t first = matcher->first_by_symbol[symbol];
            status = try_patterns(matcher, &walk, matcher->by_symbol + first, matcher->first_by_symbol[symbol + 1] - first,
                                  node);
        }
        if (status == 0 && matcher->any_named_count > 0) {
            status = try_patterns(matcher, &walk, matcher->any_named, matcher->any_named_count, node);
        }
        if (status < 0) {
            break;
        }
        if (ts_tree_cursor_goto_first_child(&cursor)) {
            if (path_push(&walk, node) < 0) {
                status = -1;
                break;
            }
            continue;
        }
        bool done = false;
        while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
            if (!ts_tree_cursor_goto_parent(&cursor)) {
                done = true;
                break;
            }
            walk.path_length--;
        }
        if (done) {
            break;
        }
    }
    ts_tree_cursor_delete(&cursor);
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        if (walk.cursor_ready[depth]) {
            ts_tree_cursor_delete(&walk.cursors[depth]);
        }
    }
    PyMem_Free(walk.path);
    return status;
}
