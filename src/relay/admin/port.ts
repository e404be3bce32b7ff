/**
 * The one seam between the dashboard and the relay's core: what the dashboard reads, the changes it
 * is told of, and the three things it may do. `core/operator.ts` implements it over the relay's core; nothing
 * else in admin/ knows the core. Every method is async so that a core over an async store fits as well.
 */
import type { AdminAgent, StoreInfo, TaskCounts } from "../../protocol/admin";
import type { FileHistory, FileInfo, FileLock, Task } from "../../protocol/schemas";
import type { BusEvent } from "../bus/port";

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
  /** Calls `listener` with every event on the relay's bus (its one vocabulary of changes) until the returned function is called. */
  subscribe(listener: (event: BusEvent) => void): () => void;
  /** While relays share a store: has `subscribe` hear every relay's traffic too, from when it resolves until the returned function is called. */
  followTeam?(): Promise<() => void>;

  cancelTask(id: string, note: string): Promise<Task>;
  unregisterAgent(id: string): Promise<void>;
  releaseLease(key: string): Promise<FileLock>;
}
