/**
 * The floor the relay is compared with: a bare Bun.serve doing only what any relay must
 * (read the body or frame, JSON.parse it, JSON.stringify a reply, forward by name). No auth,
 * no validation, no queues. Run in its own process like the relay:
 *   bun scripts/_baseline.ts      prints its URL on stdout, stops on SIGTERM
 * HTTP: POST /v1/messages answers 201 {id}. WebSocket: /v1/ws?as=NAME; a frame
 * {op:"send", ref, message:{to}} is acknowledged with {op:"sent"} and pushed to NAME as {op:"message"}.
 */
import type { Server, ServerWebSocket } from "bun";

type Data = { name: string };
const byName = new Map<string, ServerWebSocket<Data>>();
let seq = 0;

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: 0,
  routes: {
    "/v1/messages": {
      POST: async (req: Request) => {
        const msg = JSON.parse(await req.text());
        return Response.json({ id: `m_${seq++}`, recipients: msg.to ? 1 : 0 }, { status: 201 });
      },
    },
    "/v1/ws": (req: Request, srv: Server<Data>) => {
      const name = new URL(req.url).searchParams.get("as") ?? "";
      if (srv.upgrade(req, { data: { name } })) return undefined;
      return new Response("websocket only", { status: 400 });
    },
  },
  websocket: {
    open(ws) {
      byName.set(ws.data.name, ws);
      ws.send(JSON.stringify({ op: "hello", agent: { id: ws.data.name, name: ws.data.name } }));
    },
    message(ws, raw) {
      const f = JSON.parse(String(raw));
      if (f.op !== "send") return;
      const id = `m_${seq++}`;
      ws.send(JSON.stringify({ op: "sent", ref: f.ref, id, to: f.message.to }));
      byName.get(f.message.to)?.send(JSON.stringify({ op: "message", message: { ...f.message, id, from: ws.data.name } }));
    },
    close(ws) {
      if (byName.get(ws.data.name) === ws) byName.delete(ws.data.name);
    },
  },
});

console.log(`baseline listening on http://127.0.0.1:${server.port}`);
process.once("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
