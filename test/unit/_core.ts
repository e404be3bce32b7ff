/** The relay's core for unit tests: a façade on a hand-driven clock, and sinks that stand in for sockets. */
import * as v from "valibot";
import { RegisterRequest, SendMessage, type Message } from "../../src/protocol/schemas";
import { Relay, type CoreOptions, type Sink } from "../../src/relay/core/relay";
import type { AgentRecord } from "../../src/relay/store/port";

/** Lets every settled promise run its continuations (the memory store never waits on I/O). */
export const settle = () => new Promise<void>((r) => setTimeout(r, 0));

export function setup(opts: CoreOptions = {}) {
  let now = 1_000_000;
  const relay = new Relay({ clock: () => now, ackWindowMs: 5000, ...opts });
  const register = async (name: string, caps: string[] = []) => {
    const r = await relay.register(v.parse(RegisterRequest, { name, caps }));
    return (await relay.authenticate(r.secret))!;
  };
  const send = (from: AgentRecord, msg: unknown) => relay.send(from, v.parse(SendMessage, msg));
  const advance = async (ms: number) => {
    now += ms;
    await relay.tick(now);
  };
  return { relay, register, send, advance, now: () => now };
}

/** A socket stand-in: `capacity` pushes succeed, then it reports backpressure. */
export interface TestSink extends Sink {
  got: Message[];
  opened: AgentRecord | null;
  closed: number | null;
  capacity: number;
  onClose: () => void;
}

export function sink(capacity = Infinity): TestSink {
  const s: TestSink = {
    got: [] as Message[],
    opened: null as AgentRecord | null,
    closed: null as number | null,
    capacity,
    onClose: () => {},
    open(agent: AgentRecord) {
      s.opened = agent;
    },
    push(m: Message) {
      s.got.push(m);
      return s.got.length < s.capacity ? 1 : -1;
    },
    close(code: number) {
      s.closed = code;
      s.onClose();
    },
  };
  return s;
}

