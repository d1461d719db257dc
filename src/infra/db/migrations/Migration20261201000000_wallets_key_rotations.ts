import { Migration } from '@mikro-orm/migrations';

/**
 * Wallet keys (ciphertext only: the plaintext never reaches the database) and
 * the progress of key rotations, so an interrupted rotation resumes where it
 * stopped. Runs unchanged on PostgreSQL and PGlite.
 */
export class Migration20261201000000_wallets_key_rotations extends Migration {
  override up(): void {
    this.addSql(`create table wallets (
      user_id text primary key,
      address text not null unique check (address ~ '^0x[0-9a-fA-F]{40}$'),
      ciphertext text not null check (ciphertext ~ '^(vault|local):v[0-9]+:'),
      key_version int not null check (key_version > 0),
      version int not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);
    this.addSql('create index wallets_key_version_idx on wallets (key_version, user_id)');
    this.addSql(`create table key_rotations (
      id bigserial primary key,
      keystore text not null,
      to_version int not null,
      status text not null check (status in ('rewrapping', 'done')),
      rewrapped int not null default 0,
      failed int not null default 0,
      last_error text null,
      started_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      finished_at timestamptz null
    )`);
    // At most one unfinished rotation per keystore: a second start resumes the first.
    this.addSql("create unique index key_rotations_one_open_idx on key_rotations (keystore) where status <> 'done'");
  }

  override down(): void {
    this.addSql('drop table key_rotations');
    this.addSql('drop table wallets');
  }
}
