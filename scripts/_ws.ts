/** WebSocket clients for the bench: an agent's socket, ready once the server's hello arrives. */

/** What the bench needs of a socket, whichever client implements it. */
export interface Peer {
  send(text: string): void;
  close(): Promise<void>;
  /** The server's hello frame, as text (raw clients). */
  hello?: string;
}

export type TextHandler = (text: string) => void;

/** `ws://host:port/v1/ws?query` from the server's http URL. */
export const wsUrl = (httpUrl: string, query = "") => `${httpUrl.replace(/^http/, "ws")}/v1/ws${query ? `?${query}` : ""}`;

export const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

/**
 * Opens a socket with Bun's WebSocket class and resolves on the hello frame. `onText` is in place
 * before the promise resolves, so nothing the server pushes right after the hello is missed.
 */
export function openSocket(url: string, headers: Record<string, string>, onText: TextHandler = () => {}, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // Bun's WebSocket takes headers as a second-argument option.
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    let ready = false;
    const fail = (why: string) => {
      if (ready) return;
      clearTimeout(timer);
      ws.close();
      reject(new Error(`${url}: ${why}`));
    };
    const timer = setTimeout(() => fail("no hello in time"), timeoutMs);
    ws.onmessage = (ev) => {
      const text = String(ev.data);
      if (ready) return onText(text);
      if (text.startsWith('{"op":"hello"')) {
        ready = true;
        clearTimeout(timer);
        resolve(ws);
      } else fail(`expected hello, got ${text.slice(0, 200)}`);
    };
    ws.onerror = () => fail("connection error");
    ws.onclose = (ev) => fail(`closed ${ev.code} ${ev.reason}`);
  });
}

/** Bun's WebSocket class as a Peer. */
export async function openStd(url: string, headers: Record<string, string>, onText: TextHandler): Promise<Peer> {
  const ws = await openSocket(url, headers, onText);
  return { send: (text) => ws.send(text), close: () => closeAll([ws]) };
}

/** Opens `count` sockets, `concurrency` handshakes at a time. */
export async function openMany<T>(count: number, open: (i: number) => Promise<T>, concurrency = 100): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await open(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/** Collects ids and acknowledges them in batches, as `clawlink listen` does (500 ids or every 50 ms). */
export class Acker {
  private ids: string[] = [];
  private timer: ReturnType<typeof setInterval>;
  constructor(private send: (text: string) => void) {
    this.timer = setInterval(() => this.flush(), 50);
  }
  add(id: string) {
    this.ids.push(id);
    if (this.ids.length >= 500) this.flush();
  }
  flush() {
    if (this.ids.length === 0) return;
    this.send(JSON.stringify({ op: "ack", ids: this.ids }));
    this.ids = [];
  }
  stop() {
    this.flush();
    clearInterval(this.timer);
  }
}

/** Closes sockets and waits (briefly) until they are closed. */
export async function closeAll(sockets: WebSocket[]) {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.onclose = () => resolve();
          ws.close();
          setTimeout(resolve, 2000);
        }),
    ),
  );
}
