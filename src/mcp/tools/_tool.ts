/** What a tool is: a name, a description a model acts on, valibot arguments, and a function over the agent's session. */
import type * as v from "valibot";
import type { AgentSession } from "../agent";
import type { ArgsSchema } from "../schema";

/** The call in progress: aborted when the client cancels it; `progress` reports on a long wait. */
export interface Call {
  signal: AbortSignal;
  progress(message: string): void;
}

/** A tool's answer: `data` becomes the structured content, `text` what a model reads. */
export interface Outcome {
  data: Record<string, unknown>;
  text: string;
}

export interface Tool<S extends ArgsSchema = ArgsSchema> {
  name: string;
  description: string;
  args: S;
  /** Reads only: changes nothing on the relay (MCP's readOnlyHint). */
  readOnly?: boolean;
  run(session: AgentSession, args: v.InferOutput<S>, call: Call): Promise<Outcome>;
}

/** Keeps each tool's argument types tied to its schema inside a list of tools. */
export const defineTool = <S extends ArgsSchema>(tool: Tool<S>): Tool => tool as unknown as Tool;
