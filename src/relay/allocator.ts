/**
 * The allocator setting a relay runs with on Linux. Bun's allocator (mimalloc) hands freed memory back
 * to the OS a moment after it is freed; under a stream of requests the relay then spends about a fifth
 * of its CPU handing pages back (madvise) and faulting them in again. With MIMALLOC_PURGE_DELAY=-1 it
 * keeps them for reuse instead, and the process stays at its peak size. mimalloc reads the variable only
 * as the process starts, so the relay starts itself again in place: same pid, arguments and streams.
 */

export const PURGE_DELAY = "MIMALLOC_PURGE_DELAY";

/**
 * Runs the relay again in this process with MIMALLOC_PURGE_DELAY=-1, and so never returns, unless there is
 * nothing to do: a platform other than Linux, a runtime without `process.execve`, or a value the user set
 * (any value, such as 100, Bun's default, which keeps memory going back to the OS).
 */
export function keepFreedMemory(env: Record<string, string | undefined> = process.env) {
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never }).execve;
  if (process.platform !== "linux" || env[PURGE_DELAY] !== undefined || typeof execve !== "function") return;
  // A compiled binary is its own program; from source, bun runs the entry file again with the same flags.
  const program = Bun.main.startsWith("/$bunfs/") ? [] : [...process.execArgv, Bun.main];
  try {
    execve.call(process, process.execPath, [process.execPath, ...program, ...process.argv.slice(2)], { ...env, [PURGE_DELAY]: "-1" });
  } catch {
    // Not started again (the binary moved, or exec is refused): the relay runs with the default.
  }
}
