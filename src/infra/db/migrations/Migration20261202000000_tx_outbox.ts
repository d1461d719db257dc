import { Migration } from '@mikro-orm/migrations';

/**
 * The transaction outbox. An intent is one logical transaction of one order
 * step (open, close, approve…), keyed by an idempotency id; its nonce is
 * reserved before signing, and every signed attempt (the first and each
 * speed-up, all with the same nonce) is written before it is broadcast. After a
 * crash the engine re-broadcasts what it signed instead of signing anew, so one
 * order never becomes two transactions on chain.
 */
export class Migration20261202000000_tx_outbox extends Migration {
  override up(): void {
    this.addSql(`create table tx_intents (
      id text primary key,
      user_id text not null,
      wallet text not null check (wallet ~ '^0x[0-9a-f]{40}$'),
      chain_id int not null,
      nonce bigint not null check (nonce >= 0),
      kind text not null,
      to_address text not null check (to_address ~ '^0x[0-9a-f]{40}$'),
      data text not null check (data ~ '^0x([0-9a-f]{2})*$'),
      value text not null check (value ~ '^[0-9]+$'),
      gas_limit text not null check (gas_limit ~ '^[0-9]+$'),
      status text not null check (status in ('reserved', 'signed', 'broadcast', 'mined', 'reverted', 'superseded')),
      mined_hash text null,
      block_number bigint null,
      error text null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);
    // Two live intents can never share a wallet nonce, even across instances.
    this.addSql(`create unique index tx_intents_wallet_nonce_uq on tx_intents (wallet, chain_id, nonce) where status <> 'superseded'`);
    this.addSql(`create index tx_intents_open_idx on tx_intents (status) where status in ('reserved', 'signed', 'broadcast')`);
    this.addSql(`create table tx_attempts (
      hash text primary key check (hash ~ '^0x[0-9a-f]{64}$'),
      intent_id text not null references tx_intents (id),
      raw text not null,
      max_fee_per_gas text not null,
      max_priority_fee_per_gas text not null,
      created_at timestamptz not null default now()
    )`);
    this.addSql('create index tx_attempts_intent_idx on tx_attempts (intent_id, created_at)');
  }

  override down(): void {
    this.addSql('drop table tx_attempts');
    this.addSql('drop table tx_intents');
  }
}
