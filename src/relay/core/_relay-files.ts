/** The façade's file operations: shared files, their versions and leases, each handed to Files (`files.ts`). Relay extends this; transports see it only as Relay's. */
import type { FileDeleted, FileHistory, FileInfo, FileLock, FileWritten } from "../../protocol/schemas";
import type { AgentRecord, FileVersionRecord } from "../store/port";
import type { Files, PutOptions, Upload } from "./files";

export abstract class RelayFiles {
  /** Made by Relay's constructor, with the other parts. */
  protected declare files: Files;

  putFile(agent: AgentRecord, key: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<FileWritten> {
    return this.files.put(agent, key, bytes, opts);
  }

  /** Bytes held by uploads in progress on this relay. */
  get uploading(): number {
    return this.files.reserved;
  }

  /** Holds room for an upload of `size` bytes under `key` (0 if not known yet) while it is read; throws 413 or 429 when there is none. */
  reserveUpload(key: string, size: number): Promise<Upload> {
    return this.files.reserve(key, size);
  }

  getFile(key: string, version?: number): Promise<FileVersionRecord> {
    return this.files.get(key, version);
  }

  listFiles(prefix = ""): Promise<FileInfo[]> {
    return this.files.list(prefix);
  }

  fileHistory(key: string): Promise<FileHistory> {
    return this.files.history(key);
  }

  deleteFile(agent: AgentRecord, key: string): Promise<FileDeleted> {
    return this.files.delete(agent, key);
  }

  lockFile(agent: AgentRecord, key: string, ttlS: number): Promise<FileLock> {
    return this.files.lock(agent, key, ttlS);
  }

  unlockFile(agent: AgentRecord, key: string): Promise<FileLock> {
    return this.files.unlock(agent, key);
  }
}
