/**
 * The floor the relay is compared with: a bare Bun.serve doing only what any relay must
 * (read the body or frame, JSON.parse it, JSON.stringify a reply, forward by name). No auth,
 * no validation, no queues. Run in its own process like the relay:
 *   bun scripts/_baseline.ts      prints its URL on stdout, stops on SIGTERM
 * HTTP: POST /v1/messages answers 201 {id}; with BASELINE_KEEP=1 it also keeps each body it parsed in a
 * Map by that id, the least a relay that keeps its tasks does (the throughput section measures both).
 * WebSocket: /v1/ws?as=NAME; a frame
 * {op:"send", ref, message:{to}} is acknowledged with {op:"sent"} and pushed to NAME as {op:"message"};
 * a batch {op:"send", ref, messages:[…]} gets one {op:"sent", results} and goes out as {op:"messages"} to a
 * client that said {op:"hello", batch:true}.
 */
import type { Server, ServerWebSocket } from "bun";

type Data = { name: string; batch: boolean };
const byName = new Map<string, ServerWebSocket<Data>>();
let seq = 0;
const kept = process.env.BASELINE_KEEP === "1" ? new Map<string, unknown>() : undefined;

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: 0,
  routes: {
    "/v1/messages": {
      POST: async (req: Request) => {
        const msg = JSON.parse(await req.text());
        const id = `m_${seq++}`;
        kept?.set(id, msg);
        return Response.json({ id, recipients: msg.to ? 1 : 0 }, { status: 201 });
      },
    },
    "/v1/ws": (req: Request, srv: Server<Data>) => {
      const name = new URL(req.url).searchParams.get("as") ?? "";
      if (srv.upgrade(req, { data: { name, batch: false } })) return undefined;
      return new Response("websocket only", { status: 400 });
    },
  },
  websocket: {
    open(ws) {
      byName.set(ws.data.name, ws);
      ws.send(JSON.stringify({ op: "hello", agent: { id: ws.data.name, name: ws.data.name }, batch: true }));
    },
    message(ws, raw) {
      const f = JSON.parse(String(raw));
      if (f.op === "hello") ws.data.batch = f.batch === true;
      if (f.op !== "send") return;
      if (f.messages) return forwardBatch(ws, f.ref, f.messages);
      const id = `m_${seq++}`;
      ws.send(JSON.stringify({ op: "sent", ref: f.ref, id, to: f.message.to }));
      byName.get(f.message.to)?.send(JSON.stringify({ op: "message", message: { ...f.message, id, from: ws.data.name } }));
    },
    close(ws) {
      if (byName.get(ws.data.name) === ws) byName.delete(ws.data.name);
    },
  },
});

/** A batch: one confirmation, and one `messages` frame per recipient that asked for batches (single frames otherwise). */
function forwardBatch(ws: ServerWebSocket<Data>, ref: string, messages: { to: string }[]) {
  const results: { id: string; to: string }[] = [];
  const out = new Map<string, unknown[]>();
  for (const m of messages) {
    const id = `m_${seq++}`;
    results.push({ id, to: m.to });
    let list = out.get(m.to);
    if (!list) out.set(m.to, (list = []));
    list.push({ ...m, id, from: ws.data.name });
  }
  ws.send(JSON.stringify({ op: "sent", ref, results }));
  for (const [to, list] of out) {
    const peer = byName.get(to);
    if (!peer) continue;
    if (peer.data.batch) peer.send(JSON.stringify({ op: "messages", messages: list }));
    else for (const message of list) peer.send(JSON.stringify({ op: "message", message }));
  }
}

console.log(`baseline listening on http://127.0.0.1:${server.port}`);
process.once("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
