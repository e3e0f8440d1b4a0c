// What both pages build their DOM with (dashboard.js, api.js): elements from data, never from HTML strings, so
// text from the API is always shown as text.
"use strict";

// An element with attributes (class; on<event> adds a listener; true sets a boolean attribute; null, undefined
// and false leave it out) and children (nodes, or anything else as text).
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}
