; Patterns shared by every ECMAScript dialect (JavaScript, TypeScript, TSX).
;
; Capture names are the contract with stages/extract.py:
;   @definition.<kind>  a declaration node; the registry maps <kind> to a symbol kind
;   @reference.<kind>   the name of a reference (the callee / type / tag is a plain identifier)
;   @qualified.<kind>   a qualified callee / type / tag (`a.b`, `ns.T`): member_expression or
;                       nested_type_identifier, whose last identifier is the name
;   @import.<kind>      a statement or call that names a module specifier (`require` calls come
;                       from @reference.call: a text predicate here would cost as much as the rest)
;   @export.<kind>      a statement that exports names (@export.commonjs: a member assignment, which at the
;                       module's top level may also be a CommonJS definition, `exports.x = function …`)
;   @scope.type_parameters  a type parameter list (references to its names inside its owner are not recorded),
;                       a mapped type's `[K in …]` (K, inside the mapped type) or a conditional type (its
;                       `infer X` names, inside the true branch)
;   @scope.function     a function-like node (variables inside are locals, not symbols)
;   @local.<kind>       a binding of a local that is no variable declarator: a function's formal parameters,
;                       an arrow function's one parameter, a catch clause's or declaring for-in/of loop's binding
;   @comment            a comment (JSDoc is the block comment right before a declaration)
;   @decorator          a decorator that precedes a class member as its sibling

(function_declaration) @definition.function
(generator_function_declaration) @definition.function
(class_declaration) @definition.class
(class) @definition.class
(method_definition) @definition.method
(export_statement value: [(function_expression) (generator_function)]) @definition.default_function

(variable_declarator) @definition.variable

[(function_declaration) (generator_function_declaration) (function_expression) (generator_function)
 (arrow_function) (method_definition) (class_static_block)] @scope.function

(call_expression function: (identifier) @reference.call)
(call_expression
  function: (member_expression property: [(property_identifier) (private_property_identifier)]) @qualified.call)
(new_expression constructor: (identifier) @reference.new)
(new_expression constructor: (member_expression property: (property_identifier)) @qualified.new)
(decorator (identifier) @reference.call)
(decorator (member_expression property: (property_identifier)) @qualified.call)

(comment) @comment

(import_statement) @import.static
(export_statement) @export.statement
(call_expression function: (import)) @import.dynamic
(assignment_expression left: (member_expression)) @export.commonjs

(formal_parameters) @local.parameters
(arrow_function parameter: (identifier) @local.parameter)
(catch_clause parameter: (_) @local.catch)
(for_in_statement left: (_) @local.loop)
