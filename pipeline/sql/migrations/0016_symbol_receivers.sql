-- A method whose type is declared in another file of its package (Go: `func (s *Server) Handle()` in handlers.go,
-- `type Server struct` in server.go) has no parent: `receiver` names that type, so linking finds the method among
-- the type's members. Read back when an incremental job relinks with the declarations of files it did not parse.
ALTER TABLE symbols ADD COLUMN receiver text;
