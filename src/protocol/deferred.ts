/**
 * Schemas built on first use. Building every valibot schema of the wire contract costs a one-shot command
 * more start-up than its request does, and a command parses with a handful of them.
 */

const BUILT = Symbol("built");

/**
 * A schema built the first time anything reads it. It stands for the schema everywhere (parse, `entries`,
 * `v.pipe`, JSON Schema); a parse calls the built schema's own `~run`, so it pays one call, not a proxy per read.
 */
export function deferred<T extends object>(build: () => T): T {
  let schema: T | undefined;
  let run: unknown;
  const get = (): T => (schema ??= build());
  return new Proxy({} as T, {
    get(_, key) {
      const s = get();
      if (key === BUILT) return s;
      if (key === "~run") return (run ??= (s as Record<string, (...a: unknown[]) => unknown>)["~run"]!.bind(s));
      return Reflect.get(s, key);
    },
    has: (_, key) => Reflect.has(get(), key),
    ownKeys: () => Reflect.ownKeys(get()),
    getOwnPropertyDescriptor: (_, key) => Reflect.getOwnPropertyDescriptor(get(), key),
  });
}

/** The schema behind a deferred one (or the schema itself): schemas built from it then parse without the proxy. */
export const built = <T extends object>(schema: T): T => ((schema as { [BUILT]?: T })[BUILT] ?? schema);
