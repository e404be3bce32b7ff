/** Local paths the file tools may touch: anywhere the server can, except CLAWLINK_HOME, which holds every saved agent's secret. */
import { existsSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { usage } from "../../commands/_shared";

/** `path` with its symlinks resolved; a path that does not exist yet is resolved through the nearest folder that does. */
function real(path: string): string {
  const abs = resolve(path);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(real(parent), basename(abs));
}

/** Refuses a path inside `home` (symlinks followed): a model must not publish an identity's secret or overwrite one. */
export function outsideHome(path: string, home: string, what: string): string {
  const target = real(path);
  const rel = relative(real(home), target);
  if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))) {
    throw usage(`${what} ${path} is inside CLAWLINK_HOME (${home}), which holds the agents' secrets; the file tools do not read or write there`, `use a path outside ${home}`);
  }
  return path;
}

/** The mode a downloaded file gets: its current one if it exists, else 0600, since a shared file may be private to the team. */
export function outputMode(path: string): number {
  return existsSync(path) ? statSync(path).mode & 0o777 : 0o600;
}
