import { Migration } from '@mikro-orm/migrations';

/**
 * The Avantis v2 intent store (ADR 0016): one row per action (an order step), from the moment it
 * is decided to its end. The nonce and the message are chosen once and kept, the signed bytes are
 * written before they leave the process, and the batched-market lifecycle (submitted, accepted
 * with a tracking id, stream events, terminal) is recorded step by step, so that after a crash
 * the engine re-submits or replays what it has instead of signing anew.
 *
 * `(signer, nonce)` is unique over EVERY row, ended ones included: a nonce is never given to a
 * second action, even when the first expired (an old signed copy could still be executed).
 */
export class Migration20261205000000_v2_intents extends Migration {
  override up(): void {
    this.addSql(`create table v2_intents (
      action_id text primary key check (length(action_id) between 1 and 200),
      signer text not null check (signer ~ '^0x[0-9a-f]{40}$'),
      primary_type text not null,
      domain jsonb not null,
      message jsonb not null,
      nonce numeric(78, 0) not null check (nonce >= 0 and nonce < 2::numeric ^ 256),
      deadline_ms bigint null check (deadline_ms > 0),
      status text not null check (status in ('reserved', 'signed', 'submitted', 'accepted', 'executed', 'canceled', 'failed', 'rejected', 'expired', 'abandoned')),
      digest text null check (digest ~ '^0x[0-9a-f]{64}$'),
      encoded_intent text null check (encoded_intent ~ '^0x([0-9a-f]{2})+$'),
      signature text null check (signature ~ '^0x[0-9a-f]{130}$'),
      tracking_id text null,
      last_seq bigint null check (last_seq >= 0),
      submissions int not null default 0 check (submissions >= 0),
      detail text null,
      created_at timestamptz not null default now(),
      signed_at timestamptz null,
      submitted_at timestamptz null,
      accepted_at timestamptz null,
      ended_at timestamptz null,
      updated_at timestamptz not null default now(),
      check ((digest is null) = (signature is null) and (digest is null) = (signed_at is null)),
      check (status in ('reserved', 'expired', 'abandoned') or signature is not null),
      check (status not in ('submitted', 'accepted', 'executed', 'canceled', 'failed', 'rejected') or submitted_at is not null),
      check ((tracking_id is null) or status in ('accepted', 'executed', 'canceled', 'failed', 'expired'))
    )`);
    // Never partial: an expired or abandoned action keeps its nonce for ever.
    this.addSql('create unique index v2_intents_signer_nonce_uq on v2_intents (signer, nonce)');
    this.addSql('create unique index v2_intents_tracking_uq on v2_intents (tracking_id) where tracking_id is not null');
    this.addSql(`create index v2_intents_open_idx on v2_intents (created_at) where status in ('reserved', 'signed', 'submitted', 'accepted')`);
    this.addSql(`create table v2_intent_events (
      action_id text not null references v2_intents (action_id),
      seq bigint not null check (seq >= 0),
      type text not null check (length(type) between 1 and 100),
      payload jsonb not null,
      received_at timestamptz not null default now(),
      primary key (action_id, seq)
    )`);
  }

  override down(): void {
    this.addSql('drop table v2_intent_events');
    this.addSql('drop table v2_intents');
  }
}
