import { createConsola } from "consola";

/** The one logger. Human messages go to stderr when stdout carries data (`--json`, a file, a protocol). */
// Level 3 (info) always: consola would go quiet under NODE_ENV=test or CI, and agents read these lines.
export const logger = createConsola({ level: 3, defaults: { tag: "clawlink" }, formatOptions: { date: false } });

export function logToStderr() {
  logger.options.stdout = process.stderr;
}
