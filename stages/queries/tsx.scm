; inherits: typescript, jsx
; TSX is TypeScript plus JSX; it adds no patterns of its own.
