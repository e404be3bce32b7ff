/**
 * Schemas built on first use. Building every valibot schema of the wire contract costs a one-shot command
 * more start-up than its request does, and a command parses with a handful of them.
 */

const BUILT = Symbol("built");

type Build = (() => object) & { schema?: object; run?: unknown };

const schemaOf = (build: Build) => (build.schema ??= build());

/** What a deferred schema does when read: build the schema once, then answer for it. */
export const whenRead: ProxyHandler<Build> = {
  get(build, key) {
    const s = schemaOf(build) as Record<PropertyKey, unknown>;
    if (key === BUILT) return s;
    // A parse calls the built schema's own ~run, so its reads of `this` skip the proxy.
    if (key === "~run") return (build.run ??= (s["~run"] as (...a: unknown[]) => unknown).bind(s));
    return s[key];
  },
  has: (build, key) => key in schemaOf(build),
  ownKeys: (build) => Reflect.ownKeys(schemaOf(build)),
  getOwnPropertyDescriptor: (build, key) => Reflect.getOwnPropertyDescriptor(schemaOf(build), key),
};

/**
 * `new Deferred(build, whenRead)`: the schema `build` makes, built the first time anything reads it, and
 * standing for it everywhere (parse, `entries`, `v.pipe`, JSON Schema). It is the native Proxy constructor,
 * so declaring one runs no JavaScript: a helper called for each of the ~70 schemas at start would be
 * compiled by the JIT, and starting the JIT costs a one-shot command more than the schemas do.
 */
export const Deferred = Proxy as unknown as new <T extends object>(build: () => T, handler: typeof whenRead) => T;

/** The schema behind a deferred one (or the schema itself): schemas built from it then parse without the proxy. */
export const built = <T extends object>(schema: T): T => ((schema as { [BUILT]?: T })[BUILT] ?? schema);
