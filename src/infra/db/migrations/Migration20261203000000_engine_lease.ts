import { Migration } from '@mikro-orm/migrations';

/**
 * One owner at a time (DESIGN.md, ADR 0010): the engine that holds the lease row runs the
 * actors; every other engine waits as a standby. `epoch` grows by one at every takeover and
 * fences every write that matters (see src/infra/db/fence.ts), so an owner that stalled past
 * `expires_at` and was replaced can no longer write anything when it wakes up.
 */
export class Migration20261203000000_engine_lease extends Migration {
  override up(): void {
    this.addSql(`create table engine_lease (
      name text primary key,
      epoch bigint not null check (epoch > 0),
      holder text not null,
      acquired_at timestamptz not null default now(),
      renewed_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`);
  }

  override down(): void {
    this.addSql('drop table engine_lease');
  }
}
