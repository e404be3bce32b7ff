/** A token kept in a file rather than on a command line: how the relay (--token-file) and the client (token_file) read one. */
import { ClawlinkError } from "./errors";
import { nodeFs } from "./local-files";

/**
 * The file's content, trimmed. `label` says where the path came from (`--token-file`, `token_file in
 * config.json`); `shared` is true when other users may read the file.
 */
export function readTokenFile(path: string, label: string, code: "usage" | "bad_config" = "usage"): { token: string; shared: boolean } {
  let text: string;
  try {
    text = nodeFs().readFileSync(path, "utf8");
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    throw new ClawlinkError(
      code,
      errno === "ENOENT" ? `${label}: no such file: ${path}` : `${label}: cannot read ${path} (${errno ?? (err as Error).message})`,
      "write the token to a file (mode 0600) and give its path",
    );
  }
  const token = text.trim();
  if (!token) throw new ClawlinkError(code, `${label}: ${path} is empty`, "write the token into it, e.g. `openssl rand -hex 16 > relay.token`");
  return { token, shared: (nodeFs().statSync(path).mode & 0o077) !== 0 };
}
