/**
 * The bus of relays sharing a Redis store: each event goes to this process's subscribers at once
 * (as the local bus does) and, over Redis pub/sub, to the other relays on the same key prefix that
 * listen for it: an agent's `queued` events go on its topic's channel (`<prefix>bus:a:<agent>`), a task's
 * changes on the task's (`<prefix>bus:t:<id>`), the rest on `<prefix>bus`, which every relay hears; a
 * relay follows a topic while it holds a socket, long poll or watch on it, so a relay holding nobody of an
 * agent never wakes for its traffic. The topics' events go once more on `<prefix>bus:all` (`FEED_TOPIC`),
 * followed only while a dashboard is open here. What a store operation changed its script publishes itself, in the same round
 * trip (`sent`). An event that comes back from Redis is this process's own and is dropped. Delivery across
 * relays is at most once: while the connection is down events are lost, so once it is back (every topic
 * followed again) the bus says so (`onResume`) and whoever waits looks at the store again. `flush` publishes
 * a barrier that every other relay answers once it has handled what came before it.
 */
import { RedisClient } from "bun";
import { newId } from "../ids";
import { retryUntilUp, STORE_TIMEOUT_MS } from "../store/redis/connection";
import { agentTopic, taskTopic, type Bus, type BusEvent } from "./port";

const OPTIONS = { autoReconnect: false, connectionTimeout: 5000 } as const;
/** How long a topic nobody follows any more is still heard: an agent polling again, or a socket reconnecting, costs no SUBSCRIBE. */
const LINGER_MS = 5000;

/** A topic followed here: by how many, and the timer that stops hearing it once nobody does. */
interface Follow {
  n: number;
  linger?: ReturnType<typeof setTimeout>;
}

export class RedisBus implements Bus {
  private listeners: ((event: BusEvent) => void)[] = [];
  /** Listeners to every event (`subscribe(…, true)`): other relays' topics reach them through the feed, while it is followed. */
  private everything: ((event: BusEvent) => void)[] = [];
  private follows = new Map<string, Follow>();
  /** The channels the current subscriber connection has subscribed (or is subscribing), each resolved once it hears them. */
  private heard = new Map<string, Promise<void>>();
  /** Unsubscribes not answered yet, by channel. */
  private unheard = new Map<string, Promise<void>>();
  private resumed: (() => void)[] = [];
  private pub: RedisClient | undefined;
  private sub: RedisClient | undefined;
  private readonly channel: string;
  private readonly feed: string;
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
    this.feed = `${prefix}bus:all`;
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
      await sub.subscribe(this.channel, this.onMain);
    } catch (err) {
      pub.close();
      sub.close();
      throw err;
    }
    this.pub = pub;
    this.sub = sub;
    this.heard = new Map([[this.channel, Promise.resolve()]]);
    this.unheard = new Map();
    pub.onclose = sub.onclose = () => this.lost(pub);
    // Every topic followed, and the feed, heard again before `onResume` has anyone read the store again.
    await Promise.all([...this.follows.keys()].map((ch) => this.hear(ch)));
  }

  /** Subscribes the current connection to `channel` once; resolves when it is heard (or the connection is gone: the reconnect hears it). */
  private hear(channel: string): Promise<void> {
    const handler = channel === this.feed ? this.onFeed : this.onTopic;
    const sub = this.sub;
    if (!sub) return Promise.resolve();
    let heard = this.heard.get(channel);
    if (heard) return heard;
    // After an unsubscribe of the same channel has been answered, so it cannot drop the listener added now.
    const before = this.unheard.get(channel) ?? Promise.resolve();
    // A server that does not answer is waited for no longer than a store command: what follows goes on, and the reconnect hears the channel.
    const subscribed = before.then(() => (this.sub === sub ? sub.subscribe(channel, handler) : undefined));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, STORE_TIMEOUT_MS)));
    heard = Promise.race([subscribed, late]).then(() => {}, () => {}).finally(() => clearTimeout(timer));
    this.heard.set(channel, heard);
    return heard;
  }

  private unhear(channel: string) {
    const sub = this.sub;
    if (!this.heard.delete(channel) || !sub) return;
    const done: Promise<void> = sub.unsubscribe(channel).then(() => {}, () => {}).finally(() => {
      if (this.unheard.get(channel) === done) this.unheard.delete(channel);
    });
    this.unheard.set(channel, done);
  }

  async follow(topic: string): Promise<() => void> {
    const channel = `${this.channel}:${topic}`;
    let f = this.follows.get(channel);
    if (f) {
      f.n++;
      clearTimeout(f.linger);
      f.linger = undefined;
    } else this.follows.set(channel, (f = { n: 1 }));
    await this.hear(channel);
    let followed = true;
    return () => {
      if (!followed) return;
      followed = false;
      this.unfollow(channel, f);
    };
  }

  private unfollow(channel: string, f: Follow) {
    if (--f.n > 0 || this.closed) return;
    f.linger = setTimeout(() => {
      if (f.n > 0 || this.follows.get(channel) !== f) return;
      this.follows.delete(channel);
      this.unhear(channel);
    }, LINGER_MS);
    f.linger.unref?.();
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
    this.dispatchEverything(event);
    if (sent || !this.pub) return;
    // Lost while Redis is away: the other relays look at the store again once their bus is back.
    const raw = JSON.stringify({ o: this.origin, e: event });
    const topic = event.type === "queued" ? agentTopic(event.agent) : event.type === "task" ? taskTopic(event.id) : undefined;
    this.pub.send("PUBLISH", [topic ? `${this.channel}:${topic}` : this.channel, raw]).catch(() => {});
    if (topic) this.pub.send("PUBLISH", [this.feed, raw]).catch(() => {});
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

  subscribe(listener: (event: BusEvent) => void, everything = false) {
    const list = everything ? "everything" : "listeners";
    this[list] = [...this[list], listener];
    return () => {
      this[list] = this[list].filter((l) => l !== listener);
    };
  }

  onResume(listener: () => void) {
    this.resumed.push(listener);
  }

  /**
   * One event (`e`, published here), every event of one store operation (`es`, published by its script),
   * another relay's barrier (`b`: answered once what came before it is handled), or an answer to one (`a`).
   */
  private onMain = (raw: string) => this.receive(raw, true, true);
  private onTopic = (raw: string) => this.receive(raw, true, false);
  private onFeed = (raw: string) => this.receive(raw, false, true);

  /** `followed`: for the listeners to what is followed here; `all`: for those to everything (the feed carries the topics' events to them alone). */
  private receive(raw: string, followed: boolean, all: boolean) {
    // Its own events come back too (both writers put the origin first): skipped before they are parsed.
    if (raw.startsWith(this.own)) return;
    let parsed: { o: string; e?: BusEvent; es?: BusEvent[]; b?: string; a?: string };
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    if (parsed.o === this.origin) return;
    if (parsed.e) this.deliver(parsed.e, followed, all);
    for (const e of parsed.es ?? []) this.deliver(e, followed, all);
    if (typeof parsed.b === "string") this.pub?.send("PUBLISH", [this.channel, JSON.stringify({ o: this.origin, a: parsed.b })]).catch(() => {});
    if (typeof parsed.a === "string") this.answered(parsed.a, parsed.o);
  }

  private deliver(event: BusEvent, followed: boolean, all: boolean) {
    if (followed) this.dispatch(event);
    if (all) this.dispatchEverything(event);
  }

  private dispatch(event: BusEvent) {
    for (const listener of this.listeners) listener(event);
  }

  private dispatchEverything(event: BusEvent) {
    for (const listener of this.everything) listener(event);
  }

  async close() {
    this.closed = true;
    this.listeners = [];
    this.everything = [];
    for (const f of this.follows.values()) clearTimeout(f.linger);
    this.pub?.close();
    this.sub?.close();
  }
}
