import type { ConsolaInstance } from "consola";

let instance: ConsolaInstance | undefined;
let stderrOnly = false;

function create(): ConsolaInstance {
  // Loaded on first use: most one-shot commands never log, and consola costs start-up time.
  const { createConsola } = require("consola") as typeof import("consola");
  // Level 3 (info) always: consola would go quiet under NODE_ENV=test or CI, and agents read these lines.
  const c = createConsola({ level: 3, defaults: { tag: "clawlink" }, formatOptions: { date: false } });
  if (stderrOnly) c.options.stdout = process.stderr;
  return c;
}

/** The one logger. Human messages go to stderr when stdout carries data (`--json`, a file, a protocol). */
export const logger = new Proxy({} as ConsolaInstance, {
  get(_, key) {
    instance ??= create();
    const value = (instance as any)[key];
    return typeof value === "function" ? value.bind(instance) : value;
  },
});

export function logToStderr() {
  stderrOnly = true;
  if (instance) instance.options.stdout = process.stderr;
}
