; JSX component usage, shared by the dialects whose grammar parses JSX.

(jsx_opening_element name: (identifier) @reference.jsx)
(jsx_opening_element name: (member_expression property: (property_identifier)) @qualified.jsx)
(jsx_self_closing_element name: (identifier) @reference.jsx)
(jsx_self_closing_element name: (member_expression property: (property_identifier)) @qualified.jsx)
