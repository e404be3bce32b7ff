/**
 * The bus of relays sharing a Redis store: each event goes to this process's subscribers at once
 * (as the local bus does) and, over Redis pub/sub, to every other relay on the same key prefix.
 * What a store operation changed its script publishes itself, in the same round trip (`sent`).
 * An event that comes back from Redis is this process's own and is dropped. Delivery across relays
 * is at most once: while the connection is down events are lost, so once it is back the bus says so
 * (`onResume`) and whoever waits looks at the store again. `flush` publishes a barrier that every other
 * relay answers once it has handled what came before it.
 */
import { RedisClient } from "bun";
import { newId } from "../ids";
import { retryUntilUp, STORE_TIMEOUT_MS } from "../store/redis/connection";
import type { Bus, BusEvent } from "./port";

const OPTIONS = { autoReconnect: false, connectionTimeout: 5000 } as const;

export class RedisBus implements Bus {
  private listeners: ((event: BusEvent) => void)[] = [];
  private resumed: (() => void)[] = [];
  private pub: RedisClient | undefined;
  private sub: RedisClient | undefined;
  private readonly channel: string;
  /** Tells this process's events from others' when they come back; the store's scripts publish as it too (`RedisStore.publishAs`). */
  readonly origin = newId("b", 8);
  private readonly own = `{"o":${JSON.stringify(this.origin)},`;
  private closed = false;
  /** Barriers this process waits on (`flush`), by id: the other relays that answered, and how many must. */
  private barriers = new Map<string, { readonly from: Set<string>; need: number; readonly done: () => void }>();

  constructor(
    private url: string,
    prefix = "clawlink:",
  ) {
    this.channel = `${prefix}bus`;
  }

  /** Connects and subscribes; rejects when the server cannot be reached. */
  async open(): Promise<this> {
    await this.connect();
    return this;
  }

  private async connect() {
    // Reconnecting is ours: a fresh pair of clients, subscribed again, so nothing waits in a queue meanwhile.
    const pub = new RedisClient(this.url, { ...OPTIONS, enableOfflineQueue: false });
    const sub = new RedisClient(this.url, OPTIONS);
    try {
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe(this.channel, (raw) => this.receive(raw));
    } catch (err) {
      pub.close();
      sub.close();
      throw err;
    }
    this.pub = pub;
    this.sub = sub;
    pub.onclose = sub.onclose = () => this.lost(pub);
  }

  private lost(pub: RedisClient) {
    if (this.closed || this.pub !== pub) return;
    this.pub = undefined;
    pub.close();
    this.sub?.close();
    void this.reconnect();
  }

  private async reconnect() {
    if (await retryUntilUp(() => this.closed, () => this.connect())) for (const l of this.resumed) l();
  }

  publish(event: BusEvent, sent = false) {
    this.dispatch(event);
    if (sent) return;
    // Lost while Redis is away: the other relays look at the store again once their bus is back.
    this.pub?.send("PUBLISH", [this.channel, JSON.stringify({ o: this.origin, e: event })]).catch(() => {});
  }

  /**
   * Resolves once every other relay has handled the events published before: Redis delivering them is not
   * enough, since a busy relay may read a request before its subscription. Waits no longer than a store
   * command would: a relay that hangs is not waited for, nor is one that cannot answer (Redis away).
   */
  async flush() {
    const pub = this.pub;
    if (!pub) return;
    const id = newId("f", 12);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<void>((done) => this.barriers.set(id, { from: new Set(), need: Infinity, done }));
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STORE_TIMEOUT_MS)));
    const counted = pub.send("PUBLISH", [this.channel, JSON.stringify({ o: this.origin, b: id })]).then(
      // Every subscriber but this process's own answers; the answers may come before this count does.
      (n) => this.answered(id, undefined, Number(n) - 1),
      () => this.answered(id, undefined, 0),
    );
    await Promise.race([counted.then(() => answered), timeout]);
    clearTimeout(timer);
    this.barriers.delete(id);
  }

  /** Counts one relay's answer to a barrier (`from`), or sets how many are due (`need`). */
  private answered(id: string, from: string | undefined, need?: number) {
    const b = this.barriers.get(id);
    if (!b) return;
    if (from !== undefined) b.from.add(from);
    if (need !== undefined) b.need = need;
    if (b.from.size >= b.need) b.done();
  }

  subscribe(listener: (event: BusEvent) => void) {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  onResume(listener: () => void) {
    this.resumed.push(listener);
  }

  /**
   * One event (`e`, published here), every event of one store operation (`es`, published by its script),
   * another relay's barrier (`b`: answered once what came before it is handled), or an answer to one (`a`).
   */
  private receive(raw: string) {
    // Its own events come back too (both writers put the origin first): skipped before they are parsed.
    if (raw.startsWith(this.own)) return;
    let parsed: { o: string; e?: BusEvent; es?: BusEvent[]; b?: string; a?: string };
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    if (parsed.o === this.origin) return;
    if (parsed.e) this.dispatch(parsed.e);
    for (const e of parsed.es ?? []) this.dispatch(e);
    if (typeof parsed.b === "string") this.pub?.send("PUBLISH", [this.channel, JSON.stringify({ o: this.origin, a: parsed.b })]).catch(() => {});
    if (typeof parsed.a === "string") this.answered(parsed.a, parsed.o);
  }

  private dispatch(event: BusEvent) {
    for (const listener of this.listeners) listener(event);
  }

  async close() {
    this.closed = true;
    this.listeners = [];
    this.pub?.close();
    this.sub?.close();
  }
}
