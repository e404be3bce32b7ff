/**
 * Opening the relay's data file (`relay --data PATH`): owner-only permissions, an exclusive lock
 * that keeps a second relay out, and a real write at start, so a file the relay cannot write
 * stops it here rather than failing every request later.
 */
import { Database } from "bun:sqlite";
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ClawlinkError } from "../errors";

/** `normal`: a commit survives the relay's process dying, not the machine. `always`: each commit waits for the disk. */
export type Fsync = "normal" | "always";
export const FSYNC_MODES: readonly Fsync[] = ["normal", "always"];

export interface DataFile {
  db: Database;
  /** What the relay should tell its operator (a file whose permissions were tightened). */
  notes: string[];
  /** Closes the database and removes the pid file. */
  close(): void;
}

const startError = (message: string, hint: string) => new ClawlinkError("data_file", message, hint);
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0");

/** The error a failed write of the data file answers with: 507 when the disk is full, 503 otherwise. */
export function storeError(err: unknown): ClawlinkError {
  if (err instanceof ClawlinkError) return err;
  const code = String((err as { code?: unknown }).code ?? "");
  if (code === "SQLITE_FULL") {
    return new ClawlinkError(
      "insufficient_storage",
      "the relay's disk is full: nothing of this request was kept",
      "retry later; whoever runs the relay must free space on the disk that holds its --data file (the relay carries on by itself once there is room)",
    );
  }
  return new ClawlinkError(
    "store_unavailable",
    `the relay cannot write its data file (${code || (err as Error).message}): nothing of this request was kept`,
    "retry later; whoever runs the relay must check its log, and the disk and permissions of its --data file",
  );
}

/** Opens (or creates) the data file, takes it for this process alone, and runs `setup` (the schema). */
export function openDataFile(path: string, fsync: Fsync = "normal", setup = ""): DataFile {
  const notes: string[] = [];
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw startError(`cannot create the folder of --data ${path}: ${(err as Error).message}`, "pass a --data path in a folder this user can write");
  }
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw startError(`--data ${path} is a folder`, `pass the path of a file, such as ${path.replace(/\/$/, "")}/relay.db`);
  }
  // Owner-only: it holds secret hashes, tasks and files. SQLite gives its -wal and -shm files the mode of the database.
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, "w", 0o600));
    } catch (err) {
      throw startError(`cannot create --data ${path}: ${(err as Error).message}`, "pass a --data path in a folder this user can write");
    }
  }
  // SQLite would open a file it cannot write read-only, and fail on the first write instead.
  for (const [what, target] of [["the data file", path], ["the folder of the data file", dirname(path)]]) {
    try {
      accessSync(target!, constants.W_OK);
    } catch (err) {
      throw startError(
        `${what} ${target} cannot be written (${(err as { code?: string }).code ?? (err as Error).message})`,
        `give this user write access to ${path} and its folder (SQLite writes ${path}-wal beside it), or pass another --data path`,
      );
    }
  }
  let db: Database;
  try {
    db = new Database(path, { readwrite: true, create: true, strict: true });
  } catch (err) {
    throw startError(`cannot open --data ${path}: ${(err as Error).message}`, "pass a --data path to a file this user can read and write, in a folder it can write");
  }
  try {
    // Exclusive: the lock is taken by the first write below and held until the process ends, even by kill -9.
    db.exec("PRAGMA locking_mode = EXCLUSIVE; PRAGMA busy_timeout = 0;");
    db.exec("PRAGMA journal_mode = WAL;");
    // NORMAL in WAL mode: a commit survives the process being killed; a power cut may lose the last ones. FULL waits for the disk.
    db.exec(`PRAGMA synchronous = ${fsync === "always" ? "FULL" : "NORMAL"}; PRAGMA cache_size = -65536;`);
    db.exec("CREATE TABLE IF NOT EXISTS relay (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    db.query("INSERT OR REPLACE INTO relay (key, value) VALUES ('pid', $pid)").run({ pid: String(process.pid) });
    db.exec(setup);
  } catch (err) {
    db.close();
    throw openFailure(err, path);
  }
  // Only once it is known to be a data file: a path given by mistake keeps its mode.
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode;
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(file, 0o600);
      notes.push(`${file} was readable by others (mode ${octal(mode)}); it is now 0600`);
    } catch (err) {
      notes.push(`${file} is readable by others (mode ${octal(mode)}) and could not be changed: ${(err as Error).message}`);
    }
  }
  writeFileSync(pidFile(path), `${process.pid}\n`, { mode: 0o600 });
  return {
    db,
    notes,
    close() {
      try {
        db.close();
      } catch {
        // A checkpoint that cannot run now runs when the file is next opened.
      }
      try {
        if (readFileSync(pidFile(path), "utf8").trim() === String(process.pid)) rmSync(pidFile(path));
      } catch {}
    },
  };
}

/** Beside the data file: names the relay that holds it, for the next one that tries. */
const pidFile = (path: string) => `${path}.pid`;

function openFailure(err: unknown, path: string): ClawlinkError {
  const code = String((err as { code?: unknown }).code ?? "");
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
    const pid = holder(path);
    return startError(
      `${pid ? `another relay (pid ${pid})` : "another process"} is using the data file ${path}`,
      pid ? `stop that relay first (kill ${pid}), or give this one its own --data file` : "stop the process that holds it, or give this relay its own --data file",
    );
  }
  if (code === "SQLITE_READONLY" || code === "SQLITE_CANTOPEN" || code === "SQLITE_PERM" || code === "SQLITE_AUTH") {
    return startError(`the data file ${path} cannot be written (${code})`, `give this user write access to ${path} and its folder (SQLite writes ${path}-wal beside it), or pass another --data path`);
  }
  if (code === "SQLITE_FULL") return startError(`the disk that holds ${path} is full`, "free space on it, or pass a --data path on another disk");
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") return startError(`${path} is not a clawlink data file (${code})`, "pass the path of a file the relay made, or of a new one");
  return startError(`cannot use the data file ${path}: ${(err as Error).message}`, "check the file and its disk, or pass another --data path");
}

/** The pid the pid file names, if that process still runs. */
function holder(path: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(path), "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as { code?: string }).code === "EPERM" ? pid : undefined;
  }
}
