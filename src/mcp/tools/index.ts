/** Every tool `clawlink mcp` offers, in the order `tools/list` shows them. */
import { broadcast, discover, inbox, register, whoami } from "./agents";
import { fileGet, fileHistory, fileList, fileLock, filePut, fileUnlock } from "./files";
import { cancel, delegate, progress, respond, taskStatus, waitTask } from "./tasks";
import type { Tool } from "./_tool";

export const TOOLS: Tool[] = [
  whoami,
  register,
  discover,
  delegate,
  taskStatus,
  waitTask,
  inbox,
  respond,
  progress,
  cancel,
  broadcast,
  fileList,
  fileGet,
  filePut,
  fileHistory,
  fileLock,
  fileUnlock,
];

export type { Call, Outcome, Tool } from "./_tool";
