/**
 * What the relay's operator sees and may do (the dashboard, through admin/port.ts): every agent with
 * its counts, the latest tasks, the files, the changes as the bus tells them, and three actions
 * no agent may take: cancel any task, unregister any agent, end any lease.
 */
import { notFound } from "../../errors";
import type { AdminAgent } from "../../protocol/admin";
import type { AdminCore } from "../admin/port";
import { FEED_TOPIC, type Bus } from "../bus/port";
import type { Clock } from "../clock";
import type { AgentRecord, Store } from "../store/port";
import type { Files } from "./files";
import type { Registry } from "./registry";
import type { Tasks } from "./tasks";
import { taskView } from "./views";

export interface OperatorParts {
  version: string;
  store: Store;
  /** The other relays sharing the store, as last seen (Redis). */
  peers?: () => readonly string[];
  bus: Bus;
  clock: Clock;
  registry: Registry;
  tasks: Tasks;
  files: Files;
}

export function operator(p: OperatorParts): AdminCore {
  const row = async (rec: AgentRecord, now: number): Promise<AdminAgent> => {
    const view = p.registry.view(rec, now);
    const [queued, inFlight, [held]] = await Promise.all([p.store.countWaiting(rec.id), p.store.countInFlight(rec.id), p.store.countHeld([rec.id])]);
    return {
      id: view.id,
      name: view.name,
      caps: view.caps,
      description: view.description,
      machine: view.machine,
      // The dashboard keeps three statuses: seen within the stale window is online there.
      status: view.status === "idle" ? "online" : view.status,
      registered_at: view.registered_at,
      last_seen: view.last_seen,
      queued,
      in_flight: inFlight,
      tasks_held: held ?? 0,
    };
  };

  return {
    version: p.version,
    store: () => ({ ...p.store.describe(), ...(p.peers ? { peers: [...p.peers()] } : {}) }),
    agents: async () => {
      const now = p.clock();
      return Promise.all((await p.store.listAgents()).map((rec) => row(rec, now)));
    },
    agent: async (id) => {
      const rec = await p.store.getAgent(id);
      return rec && row(rec, p.clock());
    },
    tasks: async (limit) => {
      const [tasks, counts] = await Promise.all([p.store.recentTasks(limit), p.store.countTasks()]);
      return { tasks: tasks.map((t) => taskView(t)), counts: { ...counts } };
    },
    task: async (id) => {
      const t = await p.store.getTask(id);
      return t && taskView(t);
    },
    taskCounts: async () => ({ ...(await p.store.countTasks()) }),
    files: () => p.files.list(),
    file: (key) => p.files.info(key),
    fileHistory: (key) => p.files.history(key),
    fileBytes: async (key, version) => (await p.files.get(key, version)).bytes,
    subscribe: (listener) => p.bus.subscribe(listener, true),
    followTeam: p.bus.follow && (() => p.bus.follow!(FEED_TOPIC)),
    cancelTask: (id, note) => p.tasks.cancelAny(id, note),
    unregisterAgent: async (id) => {
      if (!(await p.store.getAgent(id))) throw notFound("unknown_agent", `no agent is registered with the id ${id}`, "it may have unregistered already; the agent list is up to date");
      await p.registry.unregister(id, "it was unregistered from the dashboard");
    },
    releaseLease: (key) => p.files.releaseAny(key),
  };
}
