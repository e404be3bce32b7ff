/**
 * Group commit for one kind of store call: the calls made in one turn of the event loop go to the
 * server together, as one script call, and each caller gets its own answer (or the call's failure).
 */

/** At most this many in one script call, so one call never holds the server long. */
export const MAX_BATCH = 64;

interface Waiting<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

export class Batcher<In, Out> {
  private waiting: Waiting<In, Out>[] = [];

  /** `run` answers the inputs it is given, one answer each, in their order. */
  constructor(private run: (inputs: In[]) => Promise<Out[]>) {}

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      // The first of a turn sends them all once the turn's requests were read.
      if (this.waiting.length === 0) setImmediate(() => this.send());
      this.waiting.push({ input, resolve, reject });
    });
  }

  private send() {
    const all = this.waiting;
    this.waiting = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) void this.sendOne(all.slice(i, i + MAX_BATCH));
  }

  private async sendOne(batch: Waiting<In, Out>[]) {
    try {
      const outs = await this.run(batch.map((w) => w.input));
      batch.forEach((w, i) => w.resolve(outs[i]!));
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
