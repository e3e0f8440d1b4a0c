// The API reference: every operation of /openapi.json with its parameters, request body and responses, and every
// schema with its fields, drawn from the document by this script alone (no CDN, no inline code), so the page
// works offline under the dashboard's Content-Security-Policy.
"use strict";

// A schema in one line: a reference's name (linked), a type with its constraints, or a union of those.
function describe(schema) {
  if (!schema) return "–";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return el("a", { href: `#schema-${name}` }, name);
  }
  const union = schema.oneOf || schema.anyOf;
  if (union) return el("span", {}, ...union.flatMap((part, index) => [index ? " | " : "", describe(part)]));
  if (schema.type === "array") return el("span", {}, "array of ", describe(schema.items));
  const limits = [];
  if (schema.enum) limits.push(`one of ${schema.enum.join(", ")}`);
  for (const [key, label] of [["minimum", "≥"], ["maximum", "≤"], ["minLength", "length ≥"], ["maxLength", "length ≤"]]) {
    if (schema[key] !== undefined) limits.push(`${label} ${schema[key]}`);
  }
  if (schema.format) limits.push(schema.format);
  if (schema.pattern) limits.push(`pattern ${schema.pattern}`);
  if (schema.default !== undefined) limits.push(`default ${JSON.stringify(schema.default)}`);
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  return el("span", {}, el("code", {}, type), limits.length ? el("span", { class: "muted" }, ` (${limits.join("; ")})`) : "");
}

function operation(path, method, spec) {
  const parameters = (spec.parameters || []).map((parameter) => el("tr", {},
    el("td", {}, el("code", {}, parameter.name), parameter.required ? " *" : ""), el("td", {}, parameter.in),
    el("td", {}, describe(parameter.schema)), el("td", {}, parameter.description || "")));
  const body = spec.requestBody && spec.requestBody.content && spec.requestBody.content["application/json"];
  const responses = Object.entries(spec.responses || {}).map(([code, response]) => {
    const content = response.content && Object.values(response.content)[0];
    return el("li", {}, el("code", {}, code), ` ${response.description || ""} `, content ? describe(content.schema) : "");
  });
  return el("details", { class: "operation", "data-operation": `${method.toUpperCase()} ${path}` },
    el("summary", {}, el("span", { class: `method method-${method}` }, method.toUpperCase()), " ", el("code", {}, path),
      " ", el("span", { class: "muted" }, spec.summary || "")),
    spec.description ? el("p", {}, spec.description) : "",
    spec.security ? el("p", { class: "muted" }, "needs Authorization: Bearer <token> when a token is configured") : "",
    parameters.length ? el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "schema"), el("th", {}, "description"))),
      el("tbody", {}, ...parameters))) : "",
    body ? el("p", {}, "body: ", describe(body.schema)) : "",
    el("ul", { class: "list" }, ...responses));
}

function schemaSection(name, schema) {
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([field, inner]) => el("tr", {},
    el("td", {}, el("code", {}, field), required.has(field) ? " *" : ""), el("td", {}, describe(inner)),
    el("td", {}, inner.description || "")));
  return el("section", { id: `schema-${name}`, class: "schema" }, el("h3", {}, name),
    schema.description ? el("p", { class: "muted" }, schema.description) : "",
    fields.length ? el("div", { class: "scroll" }, el("table", {}, el("tbody", {}, ...fields))) : el("p", {}, describe(schema)));
}

async function draw() {
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET /openapi.json: ${response.status}`);
    const documentation = await response.json();
    document.getElementById("api-title").textContent = `${documentation.info.title} ${documentation.info.version}`;
    document.getElementById("api-description").textContent = documentation.info.description || "";
    document.getElementById("operations").replaceChildren(...Object.entries(documentation.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, spec]) => operation(path, method, spec))));
    const schemas = (documentation.components && documentation.components.schemas) || {};
    document.getElementById("schemas").replaceChildren(...Object.entries(schemas).map(([name, schema]) => schemaSection(name, schema)));
  } catch (error) {
    const box = document.getElementById("error");
    box.hidden = false;
    box.textContent = error.message;
  }
}

draw();
