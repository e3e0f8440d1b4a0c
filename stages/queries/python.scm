; Python: the nodes stages/lang/python.py builds rows from. Declarations, scopes and bindings are captured
; wherever they are; the row builder decides from their nesting (byte ranges) which ones are module- or
; class-level declarations and which ones are locals of a function.

; declarations and scopes
(function_definition) @function
(class_definition) @class
(decorated_definition) @decorated
(type_alias_statement) @type_alias
(expression_statement [(assignment) (augmented_assignment)]) @assignment
(expression_statement [(string) (concatenated_string)]) @string_statement
(lambda) @lambda
[(list_comprehension) (set_comprehension) (dictionary_comprehension) (generator_expression)] @comprehension

; other bindings of locals
(for_statement left: (_) @bind.loop)
(for_in_clause left: (_) @bind.loop)
(with_item value: (as_pattern) @bind.as)
(except_clause (as_pattern) @bind.except)
(named_expression) @bind.walrus
(global_statement) @bind.global
(nonlocal_statement) @bind.nonlocal

; imports (`if TYPE_CHECKING:` blocks make them type-only)
[(import_statement) (import_from_statement) (future_import_statement)] @import
(if_statement condition: [(identifier) (attribute)]) @type_checking

; references
(call) @call
(decorator) @decorator
(typed_parameter type: (type) @annotation)
(typed_default_parameter type: (type) @annotation)
(function_definition return_type: (type) @annotation)
(assignment type: (type) @annotation)
(type_alias_statement right: (type) @annotation)

; Python 2, which the grammar still reads and Python 3 rejects: the file is marked `had_syntax_errors`
(print_statement) @syntax_error
(exec_statement) @syntax_error
(comparison_operator operators: "<>" @syntax_error)
(raise_statement (expression_list) @syntax_error)
