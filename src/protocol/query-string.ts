/** The query string (with its `?`, or empty) that the schemas of `queries.ts` read back as `params`: true as `true`, lists joined by commas; false and undefined left out. */
export function toQuery(params: Record<string, string | number | boolean | readonly string[] | undefined>): string {
  // Made only when a parameter is given: most one-shot requests have none, and each start pays for it.
  let q: URLSearchParams | undefined;
  for (const name in params) {
    const value = params[name];
    if (value === undefined || value === false) continue;
    (q ??= new URLSearchParams()).set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  return q ? `?${q}` : "";
}
