/** The admin API over HTTP: read-only but for three actions, each one port call. */
import { AdminCancel, DiffQuery, type AdminSession } from "../../protocol/admin";
import { parseWith } from "../../protocol/codec";
import { notFound } from "../../errors";
import { readJsonBody } from "../limits";
import { fileKey, json, withKeyRoutes, type Params } from "../routes";
import type { AdminAccess } from "./access";
import { BODIES_KEPT } from "./feed";
import { fileDiff } from "./diff";
import type { AdminLive } from "./live";
import type { AdminCore } from "./port";

type Handler = (req: Request & Params) => Response | Promise<Response>;

const HISTORY = "/v1/admin/file-history/";
const DIFF = "/v1/admin/file-diff/";
const LOCKS = "/v1/admin/file-locks/";

export function createAdminRoutes(core: AdminCore, live: AdminLive, access: AdminAccess, maxBodyBytes: number) {
  /** Every admin handler starts here: the caller must be let in, whatever it asks. */
  const admin =
    (handler: Handler): Handler =>
    (req) => {
      access.request(req);
      return handler(req);
    };

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    "/v1/admin/session": {
      GET: admin(() => json({ auth: access.mode === "none" ? "none" : "token", version: core.version } satisfies AdminSession)),
    },
    "/v1/admin/state": {
      GET: admin(async () => json(await live.state())),
    },
    "/v1/admin/tasks/:id": {
      GET: admin(async (req) => {
        const task = await core.task(req.params.id!);
        if (!task) throw notFound("unknown_task", `no task has the id ${req.params.id}`, "the task list shows the tasks the relay holds");
        return json(task);
      }),
    },
    "/v1/admin/tasks/:id/cancel": {
      POST: admin(async (req) => {
        const body = parseWith(AdminCancel, await readJsonBody(req, maxBodyBytes, "cancel request"), "cancel request");
        return json(await core.cancelTask(req.params.id!, body.note || "canceled from the relay's dashboard"));
      }),
    },
    "/v1/admin/agents/:id": {
      DELETE: admin(async (req) => {
        await core.unregisterAgent(req.params.id!);
        return json({ id: req.params.id!, unregistered: true });
      }),
    },
    "/v1/admin/messages/:id": {
      GET: admin((req) => {
        const message = live.feed.body(req.params.id!);
        if (!message) {
          throw notFound(
            "message_gone",
            `the dashboard no longer holds message ${req.params.id}`,
            `it keeps the bodies of the last ${BODIES_KEPT} messages sent since a dashboard was first opened`,
          );
        }
        return json(message);
      }),
    },
    "/v1/admin/file-history/*": {
      GET: admin(async (req) => json(await core.fileHistory(fileKey(req, HISTORY)))),
    },
    "/v1/admin/file-diff/*": {
      GET: admin(async (req) => {
        const key = fileKey(req, DIFF);
        const q = parseWith(DiffQuery, Object.fromEntries(new URL(req.url).searchParams), "query");
        const [a, b] = await Promise.all([core.fileBytes(key, q.from), core.fileBytes(key, q.to)]);
        return json(fileDiff(key, q.from, q.to, a, b));
      }),
    },
    "/v1/admin/file-locks/*": {
      DELETE: admin(async (req) => json(await core.releaseLease(fileKey(req, LOCKS)))),
    },
  };
  return withKeyRoutes(routes, [HISTORY, DIFF, LOCKS]);
}
