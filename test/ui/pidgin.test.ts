// The plugin in Pidgin's own UI (GTK 2 under Xvfb, test/support/pidgin.ts),
// with the real plugin build and the real daemon, which the plugin starts
// itself (inside Pidgin's loopback-only namespace, without Tor).
//
// What is checked does not depend on pixels: window titles (xdotool), the
// accounts.xml Pidgin writes, and libpurple's debug log. The screenshots the
// tour takes go to build/screenshots/ here (the suite must not rewrite tracked
// files); `node dist/test/support/pidgin-screenshots.js` writes the same ones
// to docs/screenshots/.
import { readFileSync } from "node:fs";
import path from "node:path";
import { OPTION_LABEL, REPO, runPidginTour } from "../support/pidgin-screenshots.js";
import { requires } from "../support/requires.js";

const OUT = path.join(REPO, "build/screenshots");

requires("pidgin", "native", "netns").test(
  "Pidgin: the Advanced tab offers \"Federate over Tor onion service\"; ticking it signs on an onion account that can talk",
  async () => {
    const tour = { done: [] as string[], screenshots: [] as string[] };
    try {
      await runPidginTour(OUT, tour);
    } catch (err) {
      throw new Error(`after these steps:\n${tour.done.map((d) => `  ok ${d}`).join("\n")}\nthis failed: ${(err as Error).message}`);
    }
    expect(tour.done).toEqual([
      "Accounts → Modify → Advanced tab opened",
      `the Advanced tab's last option is "${OPTION_LABEL}": ticking it saved onion_federation=1`,
      expect.stringMatching(/^the onion account \w+@[a-z2-7]{56}\.onion\/onion signed on$/),
      "Tools → Purple Onion → Onion federation status… showed the daemon's state",
      expect.stringMatching(/^a conversation with bob@[a-z2-7]{56}\.onion: sent, and the reply arrived$/),
    ]);
    expect(tour.screenshots.map((f) => path.basename(f))).toEqual(["advanced-tab.png", "status-action.png", "conversation.png"]);
    for (const f of tour.screenshots) {
      // A PNG, of a window rather than a speck.
      const png = readFileSync(f);
      expect(png.subarray(1, 4).toString()).toBe("PNG");
      expect(png.readUInt32BE(16)).toBeGreaterThan(200);
      expect(png.readUInt32BE(20)).toBeGreaterThan(200);
    }
  },
  180_000,
);
