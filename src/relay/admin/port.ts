/**
 * The one seam between the dashboard and the relay's core: what the dashboard reads, the changes it
 * is told of, and the three things it may do. `core/operator.ts` implements it over the relay's core; nothing
 * else in admin/ knows the core. Every method is async so that a core over an async store fits as well.
 */
import type { AdminAgent, StoreInfo, TaskCounts } from "../../protocol/admin";
import type { FileHistory, FileInfo, FileLock, Message, Priority, Task } from "../../protocol/schemas";

/** What changed; events carry ids (and a sent message), and the dashboard reads the rest through the port. */
export type AdminEvent =
  /** A message was queued for `agent` (a broadcast is queued once per agent, each with the same message). */
  | { readonly type: "queued"; readonly agent: string; readonly message: Message; readonly priority: Priority }
  /** A task changed, or was forgotten after its retention. */
  | { readonly type: "task"; readonly id: string }
  | { readonly type: "file"; readonly key: string }
  | { readonly type: "agent"; readonly id: string }
  | { readonly type: "unregistered"; readonly id: string };

export interface AdminCore {
  readonly version: string;
  store(): StoreInfo;
  /** Every registered agent with its queue, flight and task counts, as the agents' own API counts them. */
  agents(): Promise<AdminAgent[]>;
  agent(id: string): Promise<AdminAgent | undefined>;
  /** The `limit` most recently changed tasks, newest first, and how many there are in each state. */
  tasks(limit: number): Promise<{ tasks: Task[]; counts: TaskCounts }>;
  task(id: string): Promise<Task | undefined>;
  taskCounts(): Promise<TaskCounts>;
  files(): Promise<FileInfo[]>;
  file(key: string): Promise<FileInfo | undefined>;
  fileHistory(key: string): Promise<FileHistory>;
  fileBytes(key: string, version: number): Promise<Uint8Array>;
  /** Calls `listener` with every change until the returned function is called. */
  subscribe(listener: (event: AdminEvent) => void): () => void;

  cancelTask(id: string, note: string): Promise<Task>;
  unregisterAgent(id: string): Promise<void>;
  releaseLease(key: string): Promise<FileLock>;
}
