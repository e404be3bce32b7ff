/** The admin port over today's core: the Hub, its Tasks and Delivery, and Files. The only admin file that knows them. */
import type { AdminAgent, TaskCounts } from "../../protocol/admin";
import { emptyTaskCounts } from "../../protocol/admin";
import type { Task } from "../../protocol/schemas";
import { notFound } from "../../errors";
import type { Files } from "../files";
import type { Hub } from "../hub";
import type { AgentRecord } from "../store";
import { taskView } from "../views";
import type { AdminCore, AdminEvent } from "./port";

export function hubAdmin(hub: Hub, files: Files): AdminCore {
  const store = hub.store;

  const row = (rec: AgentRecord, now: number): AdminAgent => {
    const view = hub.view(rec, now);
    return {
      id: view.id,
      name: view.name,
      caps: view.caps,
      description: view.description,
      machine: view.machine,
      status: view.connected ? "listening" : view.status,
      registered_at: view.registered_at,
      last_seen: view.last_seen,
      queued: store.queueLength(rec.id),
      in_flight: [...store.listInflight(rec.id)].length,
      tasks_held: hub.tasks.held(rec.id),
    };
  };

  const taskCounts = (): TaskCounts => {
    const counts = emptyTaskCounts();
    for (const t of store.listAllTasks()) counts[t.state] = (counts[t.state] ?? 0) + 1;
    return counts;
  };

  return {
    version: hub.version,
    store: () => store.describe(),
    agents: async () => {
      const now = hub.clock();
      return [...store.listAgents()].map((rec) => row(rec, now));
    },
    agent: async (id) => {
      const rec = store.getAgent(id);
      return rec && row(rec, hub.clock());
    },
    tasks: async (limit) => {
      const all = [...store.listAllTasks()];
      all.sort((a, b) => b.updatedAt - a.updatedAt);
      return { tasks: all.slice(0, limit).map(taskView), counts: taskCounts() };
    },
    task: async (id): Promise<Task | undefined> => {
      const t = store.getTask(id);
      return t && taskView(t);
    },
    taskCounts: async () => taskCounts(),
    files: async () => files.list(),
    file: async (key) => files.info(key),
    fileHistory: async (key) => files.history(key),
    fileBytes: async (key, version) => files.get(key, version).bytes,
    subscribe: (listener) =>
      hub.events.on((e) => {
        const event: AdminEvent =
          e.type === "queued" ? e
          : e.type === "registered" ? { type: "agent", id: e.agent }
          : e.type === "unregistered" ? { type: "unregistered", id: e.agent }
          : e;
        listener(event);
      }),
    cancelTask: async (id, note) => hub.tasks.cancelAny(id, note),
    unregisterAgent: async (id) => {
      if (!store.getAgent(id)) throw notFound("unknown_agent", `no agent is registered with the id ${id}`, "it may have unregistered already; the agent list is up to date");
      hub.unregister(id, "it was unregistered from the dashboard");
    },
    releaseLease: async (key) => files.release(key),
  };
}
