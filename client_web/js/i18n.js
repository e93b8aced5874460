// UI strings: the catalog for the page's language is embedded by the server.
const catalog = JSON.parse(document.getElementById("dewan-catalog")?.textContent || "{}");

export function t(key, params = {}) {
  let text = catalog[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

export function lang() {
  return document.documentElement.lang || "vi";
}
