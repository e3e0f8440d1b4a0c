; inherits: ecmascript, jsx
; JavaScript: class fields and the untyped `extends <expression>` heritage.

(field_definition) @definition.property
(class_heritage (identifier) @reference.extends)
(class_heritage (member_expression property: (property_identifier)) @qualified.extends)
