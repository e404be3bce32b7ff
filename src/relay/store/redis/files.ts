/**
 * Files kept in the Redis store (heads, versions, leases; bytes in chunks of at most `CHUNK`, written
 * before the script that keeps them), and the limits every relay on the store counts together.
 */
import { newId } from "../../ids";
import type { FileDeleted, FileEntry, FileHeadRecord, FileLockRecord, FilePut, FileRules, FileVersionRecord, Held, Hit, LeaseReleased, LeaseTaken, NewFileVersion } from "../port";
import { frozen } from "../rules";
import { list, metaOf, type RawVersion } from "./_decode";
import { RedisBase } from "./base";

/** The largest value the store writes: file bytes go in chunks of this size. */
export const CHUNK = 1 << 20;
/** Chunks written ahead of the script that keeps them vanish on their own if it never runs. */
const STAGED_MS = 10 * 60_000;

export class RedisFiles extends RedisBase {
  // ---------------------------------------------------------------- files

  async getFileHead(key: string) {
    const head = await this.hgetJson<FileHeadRecord>("fh", key);
    return head && frozen(head);
  }

  private async versions(key: string, min: number | string = "-inf", max: number | string = "+inf"): Promise<RawVersion[]> {
    return list<string>(await this.cmd("ZRANGEBYSCORE", [this.k("fv", key), min, max])).map((j) => JSON.parse(j));
  }

  async getFileVersion(key: string, version: number): Promise<FileVersionRecord | undefined> {
    const raw = (await this.versions(key, version, version))[0];
    if (!raw) return undefined;
    const chunks = await this.guard(() => Promise.all(Array.from({ length: raw.n ?? 0 }, (_, i) => this.client.getBuffer(this.k("blob", raw.blob!, String(i))))), raw.size);
    // A version dropped between the two reads is gone.
    if (chunks.some((c) => c === null)) return undefined;
    const bytes = new Uint8Array(Buffer.concat(chunks as Buffer[]));
    return frozen({ ...metaOf(raw), bytes });
  }

  async listFileVersions(key: string) {
    return (await this.versions(key)).map(metaOf);
  }

  async listFiles(prefix: string, now: number): Promise<readonly FileEntry[]> {
    const r = await this.run<{ files: unknown }>("list_files", { prefix, now });
    return list<{ latest: RawVersion; lock: FileLockRecord | null }>(r.files)
      .map((f) => ({ latest: metaOf(f.latest), lock: f.lock && frozen(f.lock) }))
      .sort((a, b) => (a.latest.key < b.latest.key ? -1 : a.latest.key > b.latest.key ? 1 : 0));
  }

  async pinnedBytes(key: string) {
    return (await this.run<{ n: number }>("pinned_bytes", { key })).n;
  }

  async putFileVersionIf(key: string, expected: number, file: NewFileVersion, rules: FileRules): Promise<FilePut> {
    const blob = newId("b");
    const n = Math.ceil(file.bytes.byteLength / CHUNK);
    const chunk = (i: number) => Buffer.from(file.bytes.subarray(i * CHUNK, (i + 1) * CHUNK)) as unknown as string;
    await this.guard(() => Promise.all(Array.from({ length: n }, (_, i) => this.client.send("SET", [this.k("blob", blob, String(i)), chunk(i), "PX", String(STAGED_MS)]))), file.bytes.byteLength);
    const { bytes, ...meta } = file;
    const r = await this.run<{ ok: boolean; version?: RawVersion; latest?: RawVersion | null; head?: FileHeadRecord | null }>("put_file_version_if", { key, expected, file: { ...meta, size: bytes.byteLength, blob, n }, rules });
    if (r.ok) return { ok: true, version: metaOf(r.version!) };
    if (n > 0) await this.cmd("DEL", Array.from({ length: n }, (_, i) => this.k("blob", blob, String(i))));
    if ("latest" in r) return { ...r, latest: r.latest ? metaOf(r.latest) : null } as FilePut;
    return r as FilePut;
  }

  async deleteFileIf(key: string, actorId: string, actorName: string, now: number) {
    return this.run<FileDeleted>("delete_file_if", { key, actorId, actorName, now });
  }

  async getLease(key: string, now: number) {
    const lock = await this.hgetJson<FileLockRecord>("locks", key);
    if (!lock || lock.until <= now) return undefined;
    return (await this.cmd("HEXISTS", [this.k("agents"), lock.holderId])) ? frozen(lock) : undefined;
  }

  async takeLease(key: string, holderId: string, holderName: string, now: number, until: number) {
    return this.run<LeaseTaken>("take_lease", { key, holderId, holderName, now, until });
  }

  async releaseLease(key: string, holderId: string | null, now: number) {
    return this.run<LeaseReleased>("release_lease", { key, holderId, now });
  }

  async expireLeases(now: number) {
    return list<FileLockRecord>((await this.run<{ locks: unknown }>("expire_leases", { now })).locks);
  }

  // ---------------------------------------------------------------- limits of every relay on the store together

  async hit(key: string, windowMs: number, max: number, now: number) {
    return this.run<Hit>("hit", { key, windowMs, max, now });
  }

  async holdConnection(identity: string, conn: string, max: number) {
    return this.run<Held>("hold_connection", { identity, conn, max });
  }

  async releaseConnection(identity: string, conn: string) {
    await this.run("release_connection", { identity, conn });
  }
}
