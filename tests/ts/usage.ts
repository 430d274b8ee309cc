// Compiled with `tsc --noEmit` (strict) against adstack-client as npm installed it. Every
// `@ts-expect-error` must be an error: were the types missing or `any`, tsc fails on them.
import { AdStackClient, AdStackError, backoffDelay, TERMINAL_CLOSE_CODES } from "adstack-client";
import type { AdStackEvent, BlockFeedMessage, StatsReply } from "adstack-client";

const client = new AdStackClient("wss://realtime.example.com/ws", { token: "jwt", maxDelay: 5000 });

const stop: () => void = client.on("event", (event: AdStackEvent) => {
  const height: number = event.blockHeight;
  const kind: string = event.type;
  console.log(kind, height, event.data);
});
client.on("block", (block: BlockFeedMessage) => console.log(block.txCount, block.timestamp));
client.on("status", (s) => { if (s.state === "closed" && s.terminal) stop(); });
client.on("recovery", (r) => r.contracts.filter((c) => c.recovered !== true));
client.connect().subscribeBlocks();

async function main(): Promise<number> {
  const reply = await client.subscribe("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
                                       { eventTypes: ["campaign_created"] });
  const history = await client.getHistory(reply.contractId, { limit: 20 });
  const stats: StatsReply = await client.getStats(reply.contractId);
  try {
    await client.ping();
  } catch (err) {
    if (err instanceof AdStackError) console.log(err.code);
  }
  return history.events.length + stats.total + backoffDelay(2, { baseDelay: 500, maxDelay: 10000 })
    + (TERMINAL_CLOSE_CODES.has(1008) ? 1 : 0);
}
void main();

// @ts-expect-error: an unknown client event
client.on("evnt", () => undefined);
// @ts-expect-error: eventTypes is a list
void client.subscribe("ST1.x", { eventTypes: "campaign_created" });
// @ts-expect-error: the payload of `block` has no `events`
client.on("block", (block) => block.events);
// @ts-expect-error: the state is a known string
const state: number = client.state;
void state;
