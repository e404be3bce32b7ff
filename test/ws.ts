/** WebSocket events as promises, so tests read top to bottom. */
export function wsConnect(url: string, secret: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers: { authorization: `Bearer ${secret}` } } as any);
    const client = new WsClient(ws);
    ws.onopen = () => resolve(client);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

export class WsClient {
  private frames: any[] = [];
  private waiters: ((f: any) => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.onmessage = (ev) => {
      const f = JSON.parse(String(ev.data));
      const w = this.waiters.shift();
      if (w) w(f);
      else this.frames.push(f);
    };
    this.closed = new Promise((r) => ws.addEventListener("close", (ev) => r({ code: ev.code, reason: ev.reason })));
  }

  /** The next frame, or an error after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<any> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no frame in time")), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** The next frame with this op, skipping others. */
  async nextOp(op: string, timeoutMs = 3000): Promise<any> {
    for (;;) {
      const f = await this.next(timeoutMs);
      if (f.op === op) return f;
    }
  }

  send(frame: unknown) {
    this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.ws.close();
  }
}
