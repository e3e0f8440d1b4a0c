// Lists what the TypeScript compiler sees in every source file of a directory, as JSON:
//   declarations  from ts.createSourceFile (syntax kind, name, name position, and the context needed to map
//                 them onto the index's symbol kinds: scope, const/let/var, initializer kind),
//   imports       from ts.preProcessFile (imports, re-exports, import-equals, dynamic import(), require()),
//   resolutions   from ts.resolveModuleName with the compiler options of the file's nearest tsconfig.json
//                 (else jsconfig.json).
//
// Usage: node dump.mjs --ts-dir DIR --out FILE ROOT
//   DIR holds node_modules/typescript (installed from bench/tsc/package.json); ROOT is the repository.
//
// Workspace packages and compiler options: see project.mjs.
//
// Positions: lines are 1-based, columns are 0-based UTF-16 code units (the compiler's own convention).

import fs from "node:fs";
import path from "node:path";
import { openProject } from "./project.mjs";

function parseArgs(argv) {
  const args = { tsDir: null, out: null, root: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--ts-dir") args.tsDir = argv[++i];
    else if (argv[i] === "--out") args.out = argv[++i];
    else args.root = argv[i];
  }
  if (!args.tsDir || !args.out || !args.root) {
    console.error("usage: node dump.mjs --ts-dir DIR --out FILE ROOT");
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const { ts, root, relative, sourceFiles, workspace, host, optionsFor, parsedConfigs } = openProject(args.tsDir, args.root);

// --- declarations ------------------------------------------------------------------------------------------

const K = ts.SyntaxKind;
const DECLARATION_KINDS = new Map([
  [K.FunctionDeclaration, "FunctionDeclaration"],
  [K.FunctionExpression, "FunctionExpression"],
  [K.ClassDeclaration, "ClassDeclaration"],
  [K.ClassExpression, "ClassExpression"],
  [K.MethodDeclaration, "MethodDeclaration"],
  [K.MethodSignature, "MethodSignature"],
  [K.Constructor, "Constructor"],
  [K.GetAccessor, "GetAccessor"],
  [K.SetAccessor, "SetAccessor"],
  [K.PropertyDeclaration, "PropertyDeclaration"],
  [K.PropertySignature, "PropertySignature"],
  [K.PropertyAssignment, "PropertyAssignment"],
  [K.ShorthandPropertyAssignment, "ShorthandPropertyAssignment"],
  [K.InterfaceDeclaration, "InterfaceDeclaration"],
  [K.TypeAliasDeclaration, "TypeAliasDeclaration"],
  [K.EnumDeclaration, "EnumDeclaration"],
  [K.EnumMember, "EnumMember"],
  [K.ModuleDeclaration, "ModuleDeclaration"],
  [K.VariableDeclaration, "VariableDeclaration"],
  [K.BindingElement, "BindingElement"],
  [K.Parameter, "Parameter"],
  [K.TypeParameter, "TypeParameter"],
  [K.IndexSignature, "IndexSignature"],
  [K.CallSignature, "CallSignature"],
  [K.ConstructSignature, "ConstructSignature"],
  [K.ImportEqualsDeclaration, "ImportEqualsDeclaration"],
]);

// SyntaxKind has aliases (VariableStatement is also FirstStatement): name the ones the output uses explicitly.
const KIND_NAMES = new Map([
  [K.VariableStatement, "VariableStatement"],
  [K.ForStatement, "ForStatement"],
  [K.ForOfStatement, "ForOfStatement"],
  [K.ForInStatement, "ForInStatement"],
]);
const kindName = (kind) => KIND_NAMES.get(kind) ?? DECLARATION_KINDS.get(kind) ?? ts.SyntaxKind[kind];

const FUNCTION_LIKE = new Set([
  K.FunctionDeclaration, K.FunctionExpression, K.ArrowFunction, K.MethodDeclaration, K.Constructor,
  K.GetAccessor, K.SetAccessor, K.ClassStaticBlockDeclaration,
]);

// The scope a declaration lives in: module, namespace, class, interface, typeliteral, object (object literal),
// function (any function body or parameter list), or block (a block or loop at module or namespace level).
function scopeOf(node) {
  let blockSeen = false;
  for (let p = node.parent; p; p = p.parent) {
    if (p.kind === K.SourceFile) return blockSeen ? "block" : "module";
    if (p.kind === K.ModuleBlock) return blockSeen ? "block" : "namespace";
    if (FUNCTION_LIKE.has(p.kind)) return "function";
    if (p.kind === K.ClassDeclaration || p.kind === K.ClassExpression) return "class";
    if (p.kind === K.InterfaceDeclaration) return "interface";
    if (p.kind === K.TypeLiteral) return "typeliteral";
    if (p.kind === K.ObjectLiteralExpression) return "object";
    if (p.kind === K.Block || p.kind === K.ForStatement || p.kind === K.ForOfStatement ||
        p.kind === K.ForInStatement || p.kind === K.CaseBlock || p.kind === K.CatchClause) blockSeen = true;
  }
  return "module";
}

function nameOf(node, sf) {
  const name = node.name;
  if (!name) return null;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return { text: name.text, node: name, computed: false };
  if (ts.isStringLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name))
    return { text: name.text, node: name, computed: false, literal: true };
  if (ts.isNumericLiteral(name) || ts.isBigIntLiteral(name)) return { text: name.text, node: name, computed: false };
  if (ts.isComputedPropertyName(name)) return { text: name.getText(sf), node: name, computed: true };
  return null; // destructuring patterns: their BindingElements are listed on their own
}

// What an initializer is, through parentheses, type assertions (`<T>x`, `x as T`, `x satisfies T`) and `!`.
function skipWrappers(node) {
  while (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node)
      || ts.isTypeAssertionExpression(node) || ts.isNonNullExpression(node)) node = node.expression;
  return node;
}

function initializerKind(initializer) {
  const inner = skipWrappers(initializer);
  return ts.isArrowFunction(inner) ? "ArrowFunction" : DECLARATION_KINDS.get(inner.kind) ?? ts.SyntaxKind[inner.kind];
}

function hasModifier(node, kind) {
  return !!(ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === kind));
}

function declarationsOf(sf) {
  const out = [];
  const visit = (node) => {
    const kind = DECLARATION_KINDS.get(node.kind);
    if (kind !== undefined) {
      const name = nameOf(node, sf);
      // An anonymous `export default class/function` is named "default" by the index, at the keyword.
      const defaultKeyword = ts.canHaveModifiers(node) ? ts.getModifiers(node)?.find((m) => m.kind === K.DefaultKeyword) : undefined;
      // A constructor is named by its `constructor` keyword (or string literal), not by its modifiers.
      const keyword = node.kind === K.Constructor
        ? node.getChildren(sf).find((c) => c.kind === K.ConstructorKeyword || c.kind === K.StringLiteral)
        : undefined;
      const anchor = name ? name.node : keyword ?? defaultKeyword ?? node;
      const start = anchor.getStart(sf);
      const { line, character } = sf.getLineAndCharacterOfPosition(start);
      const record = {
        kind,
        name: name ? name.text : null,
        line: line + 1,
        column: character,
        scope: scopeOf(node),
        computed: name ? name.computed : false,
        quoted: name ? !!name.literal : false,
        exported: hasModifier(node, K.ExportKeyword),
        isDefault: hasModifier(node, K.DefaultKeyword),
        hasBody: "body" in node ? node.body !== undefined : null,
      };
      if (node.kind === K.VariableDeclaration) {
        const list = node.parent;
        const flags = ts.getCombinedNodeFlags(list);
        record.declaration = flags & ts.NodeFlags.Const ? "const"
          : flags & ts.NodeFlags.Let ? "let"
          : flags & (ts.NodeFlags.Using | ts.NodeFlags.AwaitUsing) ? "using" : "var";
        record.list = kindName(list.parent.kind);
        record.initializer = node.initializer ? initializerKind(node.initializer) : null;
      }
      if (node.kind === K.BindingElement) {
        let owner = node.parent;
        while (owner && (ts.isObjectBindingPattern(owner) || ts.isArrayBindingPattern(owner) || ts.isBindingElement(owner))) owner = owner.parent;
        record.owner = owner ? kindName(owner.kind) : null;
        if (owner && ts.isVariableDeclaration(owner)) {
          const flags = ts.getCombinedNodeFlags(owner.parent);
          record.declaration = flags & ts.NodeFlags.Const ? "const" : flags & ts.NodeFlags.Let ? "let" : "var";
          record.list = kindName(owner.parent.parent.kind);
        }
      }
      if (node.kind === K.Parameter) record.propertyParameter = ts.isParameterPropertyDeclaration(node, node.parent);
      if (node.kind === K.ModuleDeclaration) {
        record.stringName = ts.isStringLiteral(node.name);
        record.nested = node.parent.kind === K.ModuleDeclaration;
        record.global = (node.flags & ts.NodeFlags.GlobalAugmentation) !== 0;
      }
      out.push(record);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  out.push(...assignmentDeclarationsOf(sf));
  return out;
}

// CommonJS definitions, statements of the module's top level that the binder declares in JavaScript (ExportsProperty,
// PrototypeProperty and Property assignment declarations; `assignmentKind` says which, None in TypeScript files):
// `exports.x = …` / `module.exports.x = …` (form "exports"), `X.prototype.y = …` ("prototype") and `obj.y = …`
// ("property"), with the initializer's kind and whether a function, class or variable statement of the module
// declares the root name (X, obj) before it. crosscheck.py maps them onto the index's kinds.
function assignmentDeclarationsOf(sf) {
  const out = [];
  const declared = new Set();
  for (const statement of sf.statements) {
    if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
      declared.add(statement.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) declared.add(d.name.text);
    }
    if (!ts.isExpressionStatement(statement)) continue;
    const expression = statement.expression;
    if (!ts.isBinaryExpression(expression) || expression.operatorToken.kind !== K.EqualsToken) continue;
    const left = expression.left;
    if (!ts.isPropertyAccessExpression(left) || !ts.isIdentifier(left.name)) continue;
    const target = left.expression;
    let form;
    let root = null;
    if ((ts.isIdentifier(target) && target.text === "exports")
        || (ts.isPropertyAccessExpression(target) && ts.isIdentifier(target.expression)
            && target.expression.text === "module" && target.name.text === "exports")) {
      form = "exports";
    } else if (ts.isPropertyAccessExpression(target) && target.name.text === "prototype"
        && ts.isIdentifier(target.expression)) {
      form = "prototype";
      root = target.expression.text;
    } else if (ts.isIdentifier(target)) {
      form = "property";
      root = target.text;
    } else {
      continue;
    }
    const { line, character } = sf.getLineAndCharacterOfPosition(left.name.getStart(sf));
    out.push({
      kind: "AssignmentDeclaration",
      name: left.name.text,
      line: line + 1,
      column: character,
      scope: "module",
      form,
      rootDeclared: root !== null && declared.has(root),
      initializer: initializerKind(expression.right),
      rightIsName: ts.isIdentifier(expression.right),
      assignmentKind: ts.AssignmentDeclarationKind[ts.getAssignmentDeclarationKind(expression)],
    });
  }
  return out;
}

// --- module specifiers from the syntax tree ----------------------------------------------------------------
// ts.preProcessFile is a token scanner; it skips `export * as ns from "x"`. The syntax tree lists every static
// specifier, so what preProcessFile missed is added from it (and counted in the output).

function isStringLiteralLike(node) {
  return node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node));
}

function specifiersOf(sf) {
  const out = [];
  const add = (literal) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(literal.getStart(sf) + 1);
    out.push({ specifier: literal.text, line: line + 1, column: character });
  };
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && isStringLiteralLike(node.moduleSpecifier)) {
      add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)
        && isStringLiteralLike(node.moduleReference.expression)) {
      add(node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.arguments.length >= 1 && isStringLiteralLike(node.arguments[0])
        && (node.expression.kind === K.ImportKeyword
            || (ts.isIdentifier(node.expression) && node.expression.text === "require" && node.arguments.length === 1))) {
      add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && isStringLiteralLike(node.argument.literal)) {
      add(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

// --- main --------------------------------------------------------------------------------------------------

function scriptKind(file) {
  if (file.endsWith(".tsx")) return ts.ScriptKind.TSX;
  if (file.endsWith(".jsx")) return ts.ScriptKind.JSX;
  if (file.endsWith(".js") || file.endsWith(".mjs") || file.endsWith(".cjs")) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

const files = {};
for (const file of sourceFiles) {
  const absolute = path.join(root, file);
  const text = fs.readFileSync(absolute, "utf8");
  const sf = ts.createSourceFile(absolute, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const pre = ts.preProcessFile(text, true, true);
  const imports = pre.importedFiles.map((ref) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(ref.pos);
    return { specifier: ref.fileName, line: line + 1, column: character };
  });
  const seen = new Map();
  for (const { specifier, line } of imports) seen.set(`${line}:${specifier}`, (seen.get(`${line}:${specifier}`) ?? 0) + 1);
  for (const found of specifiersOf(sf)) {
    const key = `${found.line}:${found.specifier}`;
    if (seen.get(key)) seen.set(key, seen.get(key) - 1);
    else imports.push({ ...found, supplemented: true });
  }
  const { config, options, cache } = optionsFor(file);
  const resolutions = {};
  for (const { specifier } of imports) {
    if (specifier in resolutions) continue;
    const result = ts.resolveModuleName(specifier, absolute, options, host, cache).resolvedModule;
    const target = result ? relative(result.resolvedFileName) : null;
    resolutions[specifier] = result
      ? { path: target.startsWith("../") ? null : target, external: !!result.isExternalLibraryImport, extension: result.extension }
      : null;
  }
  files[file] = {
    declarations: declarationsOf(sf),
    imports,
    ambientModules: pre.ambientExternalModules ?? [],
    config,
    parseDiagnostics: sf.parseDiagnostics.length,
    resolutions,
  };
}

const configs = {};
for (const { config, options, diagnostics } of parsedConfigs.values()) {
  configs[config ?? ""] = { moduleResolution: ts.ModuleResolutionKind[ts.getEmitModuleResolutionKind(options)], diagnostics };
}

fs.writeFileSync(
  args.out,
  JSON.stringify({ typescript: ts.version, root, workspace: Object.fromEntries([...workspace].map(([n, d]) => [n, relative(d)])), configs, files }),
);
console.error(`dump: ${sourceFiles.length} files, typescript ${ts.version}`);
