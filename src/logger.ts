import { createConsola } from "consola";

/** The one logger. Human messages go to stderr when stdout carries data (`--json`, a file, a protocol). */
export const logger = createConsola({ defaults: { tag: "clawlink" }, formatOptions: { date: false } });

export function logToStderr() {
  logger.options.stdout = process.stderr;
}
