// Command astdump prints the declarations and imports of every .go file under a directory, as go/parser and
// go/ast read them, one JSON object per file: the oracle of bench/gocheck.py.
//
// Declarations are the file's package clause and top-level declarations, with the fields of struct types and the
// methods of interface types, named and kinded as the index names them (docs/index-contract.md, "Go"): module,
// function, method, class (struct), interface, type_alias (every other type), property (a field; an embedded one
// is named by its type), constant, variable. A method's parent is its receiver type when that type is declared
// earlier in the same file; a field's or interface method's parent is its type.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type declaration struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Parent string `json:"parent"`
}

type importSpec struct {
	Path  string `json:"path"`
	Alias string `json:"alias"`
	Line  int    `json:"line"`
}

type fileResult struct {
	Path         string        `json:"path"`
	Package      string        `json:"package"`
	Error        string        `json:"error,omitempty"`
	Declarations []declaration `json:"declarations"`
	Imports      []importSpec  `json:"imports"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: astdump DIRECTORY")
		os.Exit(2)
	}
	root := os.Args[1]
	var paths []string
	err := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !entry.IsDir() && strings.HasSuffix(path, ".go") && entry.Type().IsRegular() {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sort.Strings(paths)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	for _, path := range paths {
		relative, _ := filepath.Rel(root, path)
		result := dump(path)
		result.Path = filepath.ToSlash(relative)
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func dump(path string) fileResult {
	fileSet := token.NewFileSet()
	file, err := parser.ParseFile(fileSet, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	result := fileResult{Declarations: []declaration{}, Imports: []importSpec{}}
	if err != nil {
		result.Error = err.Error()
		return result
	}
	line := func(position token.Pos) int { return fileSet.Position(position).Line }
	add := func(name, kind string, position token.Pos, parent string) {
		result.Declarations = append(result.Declarations, declaration{name, kind, line(position), parent})
	}
	result.Package = file.Name.Name
	add(file.Name.Name, "module", file.Name.Pos(), "")
	for _, spec := range file.Imports {
		alias := ""
		if spec.Name != nil {
			alias = spec.Name.Name
		}
		path := strings.Trim(spec.Path.Value, "\"`")
		result.Imports = append(result.Imports, importSpec{path, alias, line(spec.Path.Pos())})
	}
	declaredTypes := map[string]bool{}
	for _, decl := range file.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if decl.Recv == nil {
				add(decl.Name.Name, "function", decl.Name.Pos(), "")
				continue
			}
			parent := ""
			if len(decl.Recv.List) == 1 {
				if receiver := receiverName(decl.Recv.List[0].Type); declaredTypes[receiver] {
					parent = receiver
				}
			}
			add(decl.Name.Name, "method", decl.Name.Pos(), parent)
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.ValueSpec:
					kind := "variable"
					if decl.Tok == token.CONST {
						kind = "constant"
					}
					for _, name := range spec.Names {
						add(name.Name, kind, name.Pos(), "")
					}
				case *ast.TypeSpec:
					typeDeclaration(spec, add)
					declaredTypes[spec.Name.Name] = true
				}
			}
		}
	}
	return result
}

func typeDeclaration(spec *ast.TypeSpec, add func(string, string, token.Pos, string)) {
	name := spec.Name.Name
	switch definition := spec.Type.(type) {
	case *ast.StructType:
		if spec.Assign.IsValid() {
			add(name, "type_alias", spec.Name.Pos(), "")
			return
		}
		add(name, "class", spec.Name.Pos(), "")
		for _, field := range definition.Fields.List {
			if len(field.Names) == 0 {
				if embedded := embeddedName(field.Type); embedded != nil {
					add(embedded.Name, "property", embedded.Pos(), name)
				}
			}
			for _, fieldName := range field.Names {
				add(fieldName.Name, "property", fieldName.Pos(), name)
			}
		}
	case *ast.InterfaceType:
		if spec.Assign.IsValid() {
			add(name, "type_alias", spec.Name.Pos(), "")
			return
		}
		add(name, "interface", spec.Name.Pos(), "")
		for _, method := range definition.Methods.List {
			if _, isFunction := method.Type.(*ast.FuncType); isFunction {
				for _, methodName := range method.Names {
					add(methodName.Name, "method", methodName.Pos(), name)
				}
			}
		}
	default:
		add(name, "type_alias", spec.Name.Pos(), "")
	}
}

// receiverName is T of T, *T, T[K], *T[K, V] and parenthesised forms.
func receiverName(expression ast.Expr) string {
	for {
		switch node := expression.(type) {
		case *ast.Ident:
			return node.Name
		case *ast.StarExpr:
			expression = node.X
		case *ast.ParenExpr:
			expression = node.X
		case *ast.IndexExpr:
			expression = node.X
		case *ast.IndexListExpr:
			expression = node.X
		default:
			return ""
		}
	}
}

// embeddedName is the identifier an embedded field is named by: T of T, *T, pkg.T, T[K].
func embeddedName(expression ast.Expr) *ast.Ident {
	for {
		switch node := expression.(type) {
		case *ast.Ident:
			return node
		case *ast.StarExpr:
			expression = node.X
		case *ast.SelectorExpr:
			return node.Sel
		case *ast.IndexExpr:
			expression = node.X
		case *ast.IndexListExpr:
			expression = node.X
		default:
			return nil
		}
	}
}
