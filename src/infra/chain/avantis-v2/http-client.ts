/**
 * A small HTTP client for the Avantis v2 (Veranta) services (AVANTIS-V2.md §2, §6, §7, §9):
 *
 *   - `TxBuilderClient`: `GET /v2/meta`, the five intent builders we use, `/v2/delegation`,
 *     `/v2/nonce`, `/v2/positions`. Every intent answer goes through `unwrapEnvelope` and then
 *     `verifyIntentAnswer` against what we asked: this client NEVER returns an unverified intent.
 *   - `BatchedMarketClient`: `POST …/market/execute-batched` read as a Server-Sent-Events stream,
 *     and the tracking-id replay; `submit` joins the two so a dropped connection is
 *     recovered without ever resending an accepted order (§9.1: a new attempt needs a new intent).
 *   - `CoreApiClient`: `PUT …/price-triggers/global-{tp|sl}-{trader}-{pairIndex}-{index}`, `GET /user-data`.
 *   - `BlitzClient`: `POST …/relays`, `GET …/relays/{requestId}`.
 *
 * Base URLs are always passed in; `V2_DEFAULT_HOSTS` only documents the published ones (§2).
 * Timeouts, retries and logging: see http-transport.ts.
 */
export * from './http-transport.ts';
export * from './tx-builder-client.ts';
export * from './batched-market-client.ts';
export * from './core-api-client.ts';
export * from './blitz-client.ts';
export { randomNonce } from './intents.ts';
