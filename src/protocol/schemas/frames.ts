/** WebSocket frames both ways, and the error body every refusal carries (over HTTP too). */
import * as v from "valibot";
import { LIMIT } from "../constants";
import { Deferred, built, whenRead } from "../deferred";
import { ackFields } from "./_fields";
import { Agent } from "./agents";
import { Message, ResponseMessage } from "./messages";
import { Sent } from "./sending";
import { Task } from "./tasks";

// ---------------------------------------------------------------- client → relay

/** A `send` frame's own label, a string (up to 200 characters) or a number, echoed as given on its `sent` or `error` frame. */
export const FrameRef = new Deferred(() => v.union([v.pipe(v.string(), v.maxLength(200)), v.pipe(v.number(), v.finite())], "ref must be a string (at most 200 characters) or a number"), whenRead);
export type FrameRef = v.InferOutput<typeof FrameRef>;

/** Client → relay. `ref` is echoed on the acknowledgement so a sender can match replies. */
export const ClientFrame = new Deferred(() => v.variant(
  "op",
  [
    v.pipe(
      v.object({
        op: v.literal("send"),
        ref: v.optional(built(FrameRef)),
        message: v.optional(v.unknown()),
        messages: v.optional(
          v.pipe(v.array(v.unknown()), v.minLength(1, "a batch holds at least one message"), v.maxLength(LIMIT.sendBatch, `a batch holds at most ${LIMIT.sendBatch} messages; send the rest in another frame`)),
        ),
      }),
      v.check((f) => (f.message === undefined) !== (f.messages === undefined), "a send frame carries either `message` (one) or `messages` (a batch)"),
    ),
    v.object({ op: v.literal("ack"), ...ackFields() }),
    v.object({ op: v.literal("ping") }),
    /** Answers the relay's hello: `batch: true` asks for `messages` frames from now on. */
    v.object({ op: v.literal("hello"), batch: v.optional(v.boolean(), false) }),
  ],
  "op must be one of send, ack, ping, hello",
), whenRead);
export type ClientFrame = v.InferOutput<typeof ClientFrame>;

// ---------------------------------------------------------------- errors

export const ErrorBody = new Deferred(() => v.object({
  error: v.object({ code: v.string(), message: v.string(), hint: v.string() }),
}), whenRead);
export type ErrorBody = v.InferOutput<typeof ErrorBody>;

// ---------------------------------------------------------------- relay → client

/**
 * First on every socket: the agent as the relay holds it (on an inbox stream, once attached: `connected: true`).
 * `batch`: this relay takes batches, and sends `messages` frames to a client that answers with `{op: "hello", batch: true}`.
 */
export const HelloFrame = new Deferred(() => v.object({ op: v.literal("hello"), agent: built(Agent), batch: v.optional(v.boolean()) }), whenRead);
export const MessageFrame = new Deferred(() => v.object({ op: v.literal("message"), message: built(Message) }), whenRead);
/** To a client that asked for batches: messages pushed together, each acknowledged as if it came alone. */
export const MessagesFrame = new Deferred(() => v.object({ op: v.literal("messages"), messages: v.array(built(Message)) }), whenRead);
/** A `send` frame's message was committed; `ref` is the client's. */
export const SentFrame = new Deferred(() => v.object({ op: v.literal("sent"), ref: v.optional(built(FrameRef)), ...Sent.entries }), whenRead);
/** What a batch's confirmation says of each of its messages, in order: sent, or refused and why. */
export const BatchResult = new Deferred(() => v.union([built(Sent), built(ErrorBody)]), whenRead);
export type BatchResult = v.InferOutput<typeof BatchResult>;
/** A `send` frame's batch: one confirmation for all of it. */
export const BatchSentFrame = new Deferred(() => v.object({ op: v.literal("sent"), ref: v.optional(built(FrameRef)), results: v.array(built(BatchResult)) }), whenRead);
/** On a task watch: the task now and after every change; `response` once it is completed or failed. */
export const TaskFrame = new Deferred(() => v.object({ op: v.literal("task"), task: built(Task), response: v.nullable(built(ResponseMessage)) }), whenRead);
/** A frame the relay refused (with the `ref` of a `send`), or a task that cannot be watched. */
export const ErrorFrame = new Deferred(() => v.object({ op: v.literal("error"), ref: v.optional(built(FrameRef)), ...ErrorBody.entries }), whenRead);
export const PongFrame = new Deferred(() => v.object({ op: v.literal("pong") }), whenRead);

export const ServerFrame = new Deferred(() => v.variant("op", [built(HelloFrame), built(MessageFrame), built(MessagesFrame), built(SentFrame), built(BatchSentFrame), built(TaskFrame), built(ErrorFrame), built(PongFrame)]), whenRead);
/** What the relay sends: the schema's input, so defaults the client fills in need not be sent. */
export type ServerFrame = v.InferInput<typeof ServerFrame>;
