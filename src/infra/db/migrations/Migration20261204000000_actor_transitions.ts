import { Migration } from '@mikro-orm/migrations';

/**
 * The transition journal (ADR 0013): each persisted actor's recent steps (state value and
 * sanitised context after each), for the inspector's time travel after a restart. Unlike
 * audit_log it is pruned (the newest rows per actor are kept), so it has no append-only trigger.
 * Runs unchanged on PostgreSQL and PGlite.
 */
export class Migration20261204000000_actor_transitions extends Migration {
  override up(): void {
    this.addSql(`create table actor_transitions (
      id bigserial primary key,
      at timestamptz not null,
      actor text not null,
      event text not null,
      state jsonb not null,
      context jsonb not null
    )`);
    this.addSql('create index actor_transitions_actor_id_idx on actor_transitions (actor, id)');
  }

  override down(): void {
    this.addSql('drop table actor_transitions');
  }
}
