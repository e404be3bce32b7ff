import * as v from "valibot";
import { renderMessage } from "../client/render";
import { ensureRegistered } from "../client/session";
import { ClawlinkError, exitCodeFor } from "../errors";
import { logger } from "../logger";
import { Message } from "../protocol/schemas";
import { defineClientCommand } from "./_shared";

const Frame = v.variant("op", [
  v.object({ op: v.literal("hello"), agent: v.object({ id: v.string(), name: v.string() }) }),
  v.object({ op: v.literal("message"), message: Message }),
  v.object({ op: v.literal("error"), error: v.object({ message: v.string(), hint: v.optional(v.string()) }) }),
]);

function killTree(proc: ReturnType<typeof Bun.spawn>) {
  try {
    if (process.platform === "win32") proc.kill();
    else process.kill(-proc.pid, "SIGTERM");
  } catch {}
}

/** Remembers the last `size` ids so a redelivered message is handled once. */
class SeenIds {
  private set = new Set<string>();
  constructor(private size: number) {}
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    this.set.add(id);
    if (this.set.size > this.size) this.set.delete(this.set.values().next().value!);
    return true;
  }
}

export default defineClientCommand({
  meta: { name: "listen", description: "Receive messages the moment they arrive; reconnects by itself. With --exec, run a command per message" },
  examples: [
    "clawlink listen",
    "clawlink listen --json",
    "clawlink listen --exec './handle.sh' --respond --type task",
  ],
  args: {
    exec: { type: "string", description: "Run this shell command per message, with the message JSON on stdin", valueHint: "cmd" },
    respond: { type: "boolean", description: "With --exec: answer each task with the command's stdout (exit 0 completed, else failed)" },
    type: { type: "string", description: "Only handle these message types (comma-separated), e.g. task", valueHint: "types" },
  },
  async run(ctx) {
    const me = ctx.me();
    const { client } = ctx;
    const only = ctx.args.type ? new Set(ctx.args.type.split(",").map((s) => s.trim())) : null;
    const seen = new SeenIds(100_000);
    /** Messages being handled now: a redelivered copy of one is acknowledged only when its handling ends. */
    const inProgress = new Set<string>();
    let pendingAcks: string[] = [];
    let ws: WebSocket | undefined;
    let stopping = false;
    let attempt = 0;
    let chain = Promise.resolve();
    let child: ReturnType<typeof Bun.spawn> | undefined;
    let stop: (code?: number) => void = () => {};
    const stopped = new Promise<number>((resolve) => {
      stop = (code = 0) => {
        stopping = true;
        flushAcks();
        clearInterval(ackTimer);
        ws?.close(1000, "listener stopped");
        // A handler still running would keep the process alive; its message is redelivered later.
        if (child) killTree(child);
        resolve(code);
      };
    });

    const flushAcks = () => {
      if (pendingAcks.length && ws?.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ op: "ack", ids: pendingAcks }));
        pendingAcks = [];
      }
    };
    const ackTimer = setInterval(flushAcks, 50);

    const handle = async (m: v.InferOutput<typeof Message>) => {
      if (ctx.args.exec) await runExec(ctx.args.exec, m, Boolean(ctx.args.respond));
      else ctx.out(m, renderMessage(m));
      pendingAcks.push(m.id);
      if (pendingAcks.length >= 500) flushAcks();
    };

    const runExec = async (cmd: string, m: v.InferOutput<typeof Message>, respond: boolean) => {
      const shell = process.platform === "win32" ? ["cmd", "/c", cmd] : ["sh", "-c", cmd];
      const proc = (child = Bun.spawn(shell, {
        stdin: new Blob([JSON.stringify(m)]),
        stdout: respond && m.type === "task" ? "pipe" : "inherit",
        stderr: respond && m.type === "task" ? "pipe" : "inherit",
        // Its own process group, so stopping the listener stops the whole handler.
        detached: process.platform !== "win32",
        env: { ...process.env, CLAWLINK_MSG_ID: m.id, CLAWLINK_MSG_TYPE: m.type, CLAWLINK_FROM: m.from },
      }));
      const [out, err, code] = await Promise.all([
        proc.stdout instanceof ReadableStream ? new Response(proc.stdout).text() : "",
        proc.stderr instanceof ReadableStream ? new Response(proc.stderr).text() : "",
        proc.exited,
      ]);
      child = undefined;
      if (stopping) return;
      logger.info(`${m.type} ${m.id}: \`${cmd}\` exited ${code}`);
      if (respond && m.type === "task") {
        await sendResponse(m.id, { type: "response", in_reply_to: m.id, status: code === 0 ? "completed" : "failed", result: code === 0 ? out.trimEnd() : (err || out).trimEnd() });
      }
    };

    // The task is acknowledged once this returns, so a relay that is away for a while is waited for, not given up on.
    const sendResponse = async (id: string, response: Parameters<typeof client.send>[0]) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.send(response);
          return;
        } catch (e) {
          const transient = e instanceof ClawlinkError && (e.code === "unreachable" || e.status === 429 || (e.status >= 500 && e.code !== "bad_response"));
          if (!transient || stopping) return logger.warn(`could not respond to ${id}: ${(e as Error).message}`);
          if (attempt === 0) logger.warn(`could not respond to ${id} yet (${e.message}); retrying`);
          await Bun.sleep(Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2));
        }
      }
    };

    const connect = () => {
      ws = client.socket();
      ws.onmessage = (ev) => {
        const parsed = v.safeParse(Frame, JSON.parse(String(ev.data)));
        if (!parsed.success) return;
        const f = parsed.output;
        if (f.op === "hello") {
          attempt = 0;
          logger.info(`listening as ${f.agent.name} (${f.agent.id}) on ${client.relay}`);
        } else if (f.op === "message") {
          const m = f.message;
          if (!seen.add(m.id)) {
            // Acking a copy whose first is still running would settle it before it is handled.
            if (!inProgress.has(m.id)) pendingAcks.push(m.id);
            return;
          }
          if (only && !only.has(m.type)) {
            pendingAcks.push(m.id);
            return;
          }
          inProgress.add(m.id);
          chain = chain
            .then(() => handle(m))
            .catch((e) => logger.warn((e as Error).message))
            .finally(() => inProgress.delete(m.id));
        } else logger.warn(`${f.error.message}${f.error.hint ? ` (${f.error.hint})` : ""}`);
      };
      ws.onclose = (ev) => {
        if (stopping) return;
        // 4001: the agent was unregistered; registering it again here would undo that.
        if (ev.code === 4001) {
          logger.info(`${me.name} (${me.id}) was unregistered; stopping`);
          return stop(0);
        }
        reconnect();
      };
    };

    // Backoff with jitter; before each try, make sure the relay (perhaps restarted) knows us.
    const reconnect = async () => {
      const delay = Math.min(10_000, 250 * 2 ** attempt++) * (0.5 + Math.random() / 2);
      if (attempt === 1) logger.warn(`connection to ${client.relay} lost; reconnecting`);
      await Bun.sleep(delay);
      if (stopping) return;
      try {
        const { reregistered } = await ensureRegistered(client, me, ctx.home);
        if (reregistered) logger.info(`the relay had forgotten ${me.name}; registered it again as ${me.id}`);
        connect();
      } catch (err) {
        if (err instanceof ClawlinkError && (err.status === 401 || err.status === 403 || err.status === 409)) {
          logger.error(`${err.message}${err.hint ? ` (${err.hint})` : ""}`);
          return stop(exitCodeFor(err));
        }
        reconnect();
      }
    };

    await ensureRegistered(client, me, ctx.home);
    connect();
    process.once("SIGINT", () => stop());
    process.once("SIGTERM", () => stop());
    return await stopped;
  },
});
