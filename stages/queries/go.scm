; Go (tree-sitter-go). The row builder is stages/lang/go.py; these captures are its input.
;
; @file               the source file: its direct children are the package clause, imports and top-level
;                     declarations (read in Python, which walks only below them: fields, interface methods)
; @call.name          `f()`: the callee identifier
; @call.selector      `a.b.f()`: the callee selector (operand and field)
; @new.name           `Foo{}`, `Foo[T]{}`: the literal's type (a name, or the generic type around it)
; @new.qualified      `pkg.Foo{}`, `pkg.Foo[T]{}`: the literal's type (qualified, or the generic type around it)
; @type.name          every type name (declared names, literal types and predeclared types are dropped in Python)
; @type.qualified     every `pkg.Type`
; @local.parameter    parameters and receivers (`(s *Server)`, `xs ...T`)
; @local.short        `a, b := …`
; @local.var          `var a T = …` (top-level ones are symbols, dropped in Python)
; @local.range        `for k, v := range …`
; @local.switch       `switch v := x.(type)`
; @type_parameter     `[T any]`: a name that is no type of the package inside its declaration
; @comment            every comment: doc comments are found by the line they end on

(source_file) @file

(call_expression function: (identifier) @call.name)
(call_expression function: (selector_expression) @call.selector)

(composite_literal type: [(type_identifier) (generic_type type: (type_identifier))] @new.name)
(composite_literal type: [(qualified_type) (generic_type type: (qualified_type))] @new.qualified)

(type_identifier) @type.name
(qualified_type) @type.qualified

[(parameter_declaration) (variadic_parameter_declaration)] @local.parameter
(short_var_declaration) @local.short
(var_spec) @local.var
(range_clause) @local.range
(type_switch_statement) @local.switch

(type_parameter_declaration) @type_parameter

(comment) @comment
