// What the cross-check scripts share: the TypeScript module, the source files of a repository, a compiler host
// that shows the repository's own packages as npm workspaces would link them, and the compiler options of each
// file's nearest tsconfig.json (else jsconfig.json).
//
// Workspace packages: a monorepo's own packages are reached through node_modules links that `npm install`
// creates; a checked-out commit has none. The host therefore shows every package.json `name` found in the
// repository (outside node_modules) at ROOT/node_modules/<name>, linked to its directory, as npm workspaces
// would. Nothing else is emulated.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

export const SOURCE_EXTENSIONS = [".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts"];
const CONFIG_NAMES = ["tsconfig.json", "jsconfig.json"];

/** Load TypeScript from `tsDir` (which holds node_modules/typescript) and open the repository at `rootArg`. */
export function openProject(tsDir, rootArg) {
  const ts = createRequire(path.join(path.resolve(tsDir), "package.json"))("typescript");
  const root = fs.realpathSync(path.resolve(rootArg));


  function walk(dir, out) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === ".git" || entry.name === "node_modules") continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full, out);
      else if (entry.isFile()) out.push(full);
    }
    return out;
  }

  const allFiles = walk(root, []);
  const relative = (p) => path.relative(root, p).split(path.sep).join("/");
  const sourceFiles = allFiles
    .filter((p) => SOURCE_EXTENSIONS.some((ext) => p.endsWith(ext)))
    .map(relative)
    .sort();

  // --- workspace packages as npm would link them -------------------------------------------------------------

  const workspace = new Map();
  for (const file of allFiles
    .filter((p) => path.basename(p) === "package.json")
    .map(relative)
    .sort((a, b) => a.split("/").length - b.split("/").length || (a < b ? -1 : 1))) {
    try {
      const name = JSON.parse(fs.readFileSync(path.join(root, file), "utf8")).name;
      if (typeof name === "string" && !workspace.has(name)) workspace.set(name, path.join(root, path.dirname(file)));
    } catch {
      // A malformed package.json is simply not a workspace package.
    }
  }
  const virtualModules = path.join(root, "node_modules");

  function toReal(p) {
    if (!p.startsWith(virtualModules + path.sep)) return p;
    const rest = p.slice(virtualModules.length + 1).split(path.sep);
    for (const length of [2, 1]) {
      const name = rest.slice(0, length).join("/");
      if (workspace.has(name)) return path.join(workspace.get(name), ...rest.slice(length));
    }
    return p;
  }

  function isVirtualDirectory(p) {
    if (p === virtualModules) return workspace.size > 0;
    if (!p.startsWith(virtualModules + path.sep)) return false;
    const rest = p.slice(virtualModules.length + 1);
    return !rest.includes(path.sep) && rest.startsWith("@") && [...workspace.keys()].some((n) => n.startsWith(rest + "/"));
  }

  const host = {
    fileExists: (p) => {
      try {
        return fs.statSync(toReal(p)).isFile();
      } catch {
        return false;
      }
    },
    directoryExists: (p) => {
      if (isVirtualDirectory(p)) return true;
      try {
        return fs.statSync(toReal(p)).isDirectory();
      } catch {
        return false;
      }
    },
    readFile: (p) => {
      try {
        return fs.readFileSync(toReal(p), "utf8");
      } catch {
        return undefined;
      }
    },
    realpath: (p) => toReal(p),
    getCurrentDirectory: () => root,
    getDirectories: (p) => ts.sys.getDirectories(toReal(p)),
    useCaseSensitiveFileNames: true,
    readDirectory: (...a) => ts.sys.readDirectory(...a),
  };

  // --- compiler options per nearest config -------------------------------------------------------------------

  const nearestConfig = new Map();
  function findConfig(dir) {
    if (nearestConfig.has(dir)) return nearestConfig.get(dir);
    let found = null;
    for (const name of CONFIG_NAMES) {
      const candidate = path.join(dir, name);
      if (fs.existsSync(candidate)) {
        found = candidate;
        break;
      }
    }
    if (found === null && dir !== root && dir.startsWith(root)) found = findConfig(path.dirname(dir));
    nearestConfig.set(dir, found);
    return found;
  }

  const parsedConfigs = new Map();
  function optionsFor(file) {
    const config = findConfig(path.dirname(path.join(root, file)));
    const key = config ?? "";
    if (!parsedConfigs.has(key)) {
      let options = ts.getDefaultCompilerOptions();
      const diagnostics = [];
      if (config !== null) {
        const read = ts.readConfigFile(config, host.readFile);
        if (read.error) diagnostics.push(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"));
        const existing = path.basename(config) === "jsconfig.json"
          ? { allowJs: true, maxNodeModuleJsDepth: 2, allowSyntheticDefaultImports: true, skipLibCheck: true, noEmit: true }
          : {};
        const parsed = ts.parseJsonConfigFileContent(read.config ?? {}, host, path.dirname(config), existing, config);
        options = parsed.options;
        for (const d of parsed.errors) {
          // "No inputs were found" is irrelevant to resolution.
          if (d.code !== 18003) diagnostics.push(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
        }
      }
      const cache = ts.createModuleResolutionCache(root, (x) => x, options);
      parsedConfigs.set(key, { config: config === null ? null : relative(config), options, cache, diagnostics });
    }
    return parsedConfigs.get(key);
  }

  return { ts, root, allFiles, relative, sourceFiles, workspace, host, findConfig, optionsFor, parsedConfigs };
}
