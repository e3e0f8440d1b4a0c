; inherits: ecmascript, jsx
; JavaScript: class fields and the untyped `extends <expression>` heritage.

(field_definition) @definition.property
(class_heritage [(identifier) (member_expression)] @reference.extends)
