// Asks the TypeScript language service where names are defined, for many positions in one run.
//
// Input (--in FILE, JSON): {"files": {"<path relative to ROOT>": [<offset>, …]}}, each offset the UTF-16 offset of
// a name's first character.
// Output (--out FILE, JSON): {"typescript": version, "files": {"<path>": [answer, …]}}, one answer per offset:
//   [definitions, root, qualifierType]
//   definitions    [[file, start, kind], …] from languageService.getDefinitionAtPosition: file relative to ROOT
//                  ("" when outside ROOT, in a node_modules directory or a default library file), start the
//                  UTF-16 offset of the definition's textSpan, kind the language service's ScriptElementKind.
//   root           for a name after a dot (`a.b.c()` at `c`, `ns.T` in a type, `<ns.X/>`), what the first name of
//                  the expression before it is, from the type checker: "this", "super", "parameter", "local" (a
//                  variable inside a function), "module variable", "import→<kind>" (an import alias and what it
//                  names), "class", "function", "namespace", "enum", "commonjs exports" (`module.exports = …`),
//                  "unresolved", or the syntax kind that starts the expression ("ParenthesizedExpression", …);
//                  null for a name without a qualifier.
//   qualifierType  for the same names outside types, the type checker's type of the expression before the dot:
//                  "any", "unknown", "primitive", "union", "<declaration kind>@root" (the type's declaration lies in
//                  ROOT: class, interface, type literal, object literal, …), "<declaration kind>@external",
//                  "anonymous"; null in types (`ns.T`: the qualifier is a namespace).
//
// Each file is in the program of its nearest tsconfig.json (else jsconfig.json; see project.mjs), with allowJs set
// so that JavaScript files are part of it.
//
// Usage: node links.mjs --ts-dir DIR --in FILE --out FILE ROOT

import fs from "node:fs";
import path from "node:path";
import { openProject } from "./project.mjs";

function parseArgs(argv) {
  const args = { tsDir: null, in: null, out: null, root: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--ts-dir") args.tsDir = argv[++i];
    else if (argv[i] === "--in") args.in = argv[++i];
    else if (argv[i] === "--out") args.out = argv[++i];
    else args.root = argv[i];
  }
  if (!args.tsDir || !args.in || !args.out || !args.root) {
    console.error("usage: node links.mjs --ts-dir DIR --in FILE --out FILE ROOT");
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const { ts, root, relative, host, findConfig, optionsFor } = openProject(args.tsDir, args.root);
const K = ts.SyntaxKind;
const wanted = JSON.parse(fs.readFileSync(args.in, "utf8")).files;

// --- one language service per nearest config -----------------------------------------------------------------

const registry = ts.createDocumentRegistry(true, root);
const snapshots = new Map();
function snapshot(fileName) {
  if (!snapshots.has(fileName)) {
    const text = host.readFile(fileName);
    snapshots.set(fileName, text === undefined ? undefined : ts.ScriptSnapshot.fromString(text));
  }
  return snapshots.get(fileName);
}

const groups = new Map();
for (const file of Object.keys(wanted)) {
  const key = findConfig(path.dirname(path.join(root, file))) ?? "";
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(file);
}

function languageService(files) {
  const options = { ...optionsFor(files[0]).options, allowJs: true, noEmit: true };
  const rootNames = files.map((f) => path.join(root, f));
  return ts.createLanguageService(
    {
      getScriptFileNames: () => rootNames,
      getScriptVersion: () => "1",
      getScriptSnapshot: snapshot,
      getCurrentDirectory: () => root,
      getCompilationSettings: () => options,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: host.fileExists,
      readFile: host.readFile,
      readDirectory: host.readDirectory,
      directoryExists: host.directoryExists,
      getDirectories: host.getDirectories,
      realpath: host.realpath,
      useCaseSensitiveFileNames: () => true,
    },
    registry,
  );
}

// --- what precedes a dotted name -----------------------------------------------------------------------------

function qualifierOf(name) {
  const parent = name.parent;
  if (!parent) return null;
  if (ts.isPropertyAccessExpression(parent) && parent.name === name) return parent.expression;
  if (ts.isQualifiedName(parent) && parent.right === name) return parent.left;
  return null;
}

function rootOf(expression) {
  let node = expression;
  for (;;) {
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isCallExpression(node)
        || ts.isNonNullExpression(node) || ts.isTaggedTemplateExpression(node)) {
      node = ts.isTaggedTemplateExpression(node) ? node.tag : node.expression;
    } else if (ts.isQualifiedName(node)) {
      node = node.left;
    } else {
      return node;
    }
  }
}

function insideFunction(node) {
  for (let p = node.parent; p; p = p.parent) {
    if (ts.isFunctionLike(p) || ts.isClassStaticBlockDeclaration(p)) return true;
    if (ts.isSourceFile(p) || ts.isModuleBlock(p)) return false;
  }
  return false;
}

function declarationLabel(symbol) {
  const declaration = symbol.valueDeclaration ?? symbol.declarations?.[0];
  if (!declaration) return "unresolved";
  if (ts.isParameter(declaration)) return "parameter";
  if (ts.isVariableDeclaration(declaration) || ts.isBindingElement(declaration)) {
    return insideFunction(declaration) ? "local" : "module variable";
  }
  if (ts.isClassLike(declaration)) return "class";
  if (ts.isFunctionDeclaration(declaration)) return "function";
  if (ts.isModuleDeclaration(declaration) || ts.isSourceFile(declaration)) return "namespace";
  if (ts.isEnumDeclaration(declaration)) return "enum";
  if (ts.isBinaryExpression(declaration) || ts.isPropertyAccessExpression(declaration)) return "commonjs exports";
  return K[declaration.kind];
}

function rootLabel(checker, rootNode) {
  if (rootNode.kind === K.ThisKeyword) return "this";
  if (rootNode.kind === K.SuperKeyword) return "super";
  if (!ts.isIdentifier(rootNode)) return K[rootNode.kind];
  const symbol = checker.getSymbolAtLocation(rootNode);
  if (!symbol) return "unresolved";
  if (symbol.flags & ts.SymbolFlags.Alias) {
    const target = checker.getAliasedSymbol(symbol);
    return `import→${target && !(target.flags & ts.SymbolFlags.Alias) ? declarationLabel(target) : "unresolved"}`;
  }
  return declarationLabel(symbol);
}

const PRIMITIVE = ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike | ts.TypeFlags.BigIntLike
  | ts.TypeFlags.ESSymbolLike | ts.TypeFlags.Void | ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Never;

function isOurs(fileName) {
  const rel = relative(fileName);
  return !rel.startsWith("../") && !path.isAbsolute(rel) && !rel.split("/").includes("node_modules");
}

function typeLabel(checker, expression) {
  const type = checker.getTypeAtLocation(expression);
  if (type.flags & ts.TypeFlags.Any) return "any";
  if (type.flags & ts.TypeFlags.Unknown) return "unknown";
  if (type.flags & PRIMITIVE) return "primitive";
  if (type.isUnion()) return "union";
  const symbol = type.aliasSymbol ?? type.getSymbol();
  const declaration = symbol?.declarations?.[0];
  if (!declaration) return "anonymous";
  const kind = {
    [K.ClassDeclaration]: "class", [K.ClassExpression]: "class", [K.InterfaceDeclaration]: "interface",
    [K.TypeLiteral]: "type literal", [K.ObjectLiteralExpression]: "object literal", [K.SourceFile]: "module",
    [K.ModuleDeclaration]: "namespace", [K.FunctionDeclaration]: "function", [K.EnumDeclaration]: "enum",
    [K.TypeAliasDeclaration]: "type alias", [K.MappedType]: "mapped type", [K.TypeParameter]: "type parameter",
  }[declaration.kind] ?? K[declaration.kind];
  return `${kind}@${isOurs(declaration.getSourceFile().fileName) ? "root" : "external"}`;
}

// --- main ----------------------------------------------------------------------------------------------------

const files = {};
let asked = 0;
for (const group of groups.values()) {
  const service = languageService(group);
  const program = service.getProgram();
  const checker = program.getTypeChecker();
  for (const file of group) {
    const fileName = path.join(root, file);
    const sf = program.getSourceFile(fileName);
    files[file] = wanted[file].map((position) => {
      asked += 1;
      let definitions = [];
      try {
        definitions = (service.getDefinitionAtPosition(fileName, position) ?? []).map((d) => [
          isOurs(d.fileName) ? relative(d.fileName) : "",
          d.textSpan.start,
          d.kind,
        ]);
      } catch {
        // A compiler crash on one position leaves it without definitions rather than failing the run.
      }
      let rootAnswer = null;
      let typeAnswer = null;
      const name = sf ? ts.getTouchingPropertyName(sf, position) : undefined;
      const qualifier = name ? qualifierOf(name) : null;
      if (qualifier) {
        try {
          rootAnswer = rootLabel(checker, rootOf(qualifier));
          // In a type (`ns.T`) the qualifier is a namespace, which has no type worth naming.
          if (!ts.isQualifiedName(name.parent)) typeAnswer = typeLabel(checker, qualifier);
        } catch {
          rootAnswer = rootAnswer ?? "unresolved";
        }
      }
      return [definitions, rootAnswer, typeAnswer];
    });
  }
}

fs.writeFileSync(args.out, JSON.stringify({ typescript: ts.version, files }));
console.error(`links: ${asked} positions in ${Object.keys(files).length} files, ${groups.size} programs, typescript ${ts.version}`);
