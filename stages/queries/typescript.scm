; inherits: ecmascript
; TypeScript declarations, type references and heritage clauses.

(function_signature) @definition.function
(abstract_class_declaration) @definition.class
(method_signature) @definition.method
(abstract_method_signature) @definition.method
(public_field_definition) @definition.property
(property_signature) @definition.property
(required_parameter (accessibility_modifier)) @definition.parameter_property
(optional_parameter (accessibility_modifier)) @definition.parameter_property
(required_parameter (override_modifier)) @definition.parameter_property
(optional_parameter (override_modifier)) @definition.parameter_property
(required_parameter "readonly") @definition.parameter_property
(optional_parameter "readonly") @definition.parameter_property
(interface_declaration) @definition.interface
(type_alias_declaration) @definition.type_alias
(enum_declaration) @definition.enum
(enum_body name: (_) @definition.enum_member)
(enum_assignment) @definition.enum_member
(internal_module) @definition.namespace
(module) @definition.namespace
(ambient_declaration "global") @definition.global

(extends_clause value: (identifier) @reference.extends)
(extends_clause value: (member_expression property: (property_identifier)) @qualified.extends)
(extends_type_clause type: (type_identifier) @reference.extends)
(extends_type_clause type: (nested_type_identifier) @qualified.extends)
(extends_type_clause type: (generic_type name: (type_identifier) @reference.extends))
(extends_type_clause type: (generic_type name: (nested_type_identifier) @qualified.extends))
(implements_clause (type_identifier) @reference.implements)
(implements_clause (nested_type_identifier) @qualified.implements)
(implements_clause (generic_type name: (type_identifier) @reference.implements))
(implements_clause (generic_type name: (nested_type_identifier) @qualified.implements))
(type_identifier) @reference.type
(nested_type_identifier) @qualified.type

(type_parameters) @scope.type_parameters
(mapped_type_clause) @scope.type_parameters
(conditional_type) @scope.type_parameters

; A class member's decorators are its siblings in the class body (JavaScript nests them in the member).
(class_body (decorator) @decorator)
