// Watches the authority's consensus for the whole life of a private Tor network, so that a test
// that timed out can say whether the network itself was whole meanwhile: a consensus that lacked
// a relay (or its Running/HSDir flags), or a stretch without a valid consensus, makes onions
// unreachable for everyone at once.
import { fetchConsensus, lackingRelays } from "./consensus.js";

interface Gap {
  at: Date;
  what: string;
}

export class ConsensusWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly seen = new Set<number>();
  private readonly gaps: Gap[] = [];
  /** Since when the authority has served nothing valid, if it does not now. */
  private staleSince: Date | undefined;
  /** Answers looked at so far (tests wait on it). */
  polls = 0;

  constructor(
    private readonly dirPort: number,
    /** Fingerprint → name, for every relay the consensus must list. */
    private readonly relays: ReadonlyMap<string, string>,
    private readonly requiredFlags: readonly string[],
    private readonly intervalMs = 5000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.poll(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    const now = new Date();
    const consensus = await fetchConsensus(this.dirPort).catch(() => undefined);
    this.polls++;
    if (!consensus || consensus.validUntil.getTime() <= now.getTime()) {
      this.staleSince ??= now;
      return;
    }
    if (this.staleSince) {
      this.gaps.push({ at: this.staleSince, what: `no valid consensus for ${Math.round((now.getTime() - this.staleSince.getTime()) / 1000)} s` });
      this.staleSince = undefined;
    }
    const key = consensus.validAfter.getTime();
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const lacking = lackingRelays(consensus, this.relays, this.requiredFlags);
    if (lacking.length > 0) this.gaps.push({ at: consensus.validAfter, what: `consensus lacks ${lacking.join(", ")}` });
  }

  /** One line: how many consensuses were seen, and every one that was not whole. */
  summary(): string {
    const gaps = [...this.gaps];
    if (this.staleSince) gaps.push({ at: this.staleSince, what: "no valid consensus since" });
    const head = `${this.seen.size} consensuses seen`;
    if (gaps.length === 0) return `${head}, each listing every relay with ${this.requiredFlags.join(", ")}`;
    return `${head}; ${gaps.length} not whole: ${gaps.map((g) => `${g.at.toISOString().slice(11, 19)} ${g.what}`).join("; ")}`;
  }
}
