import { Migration } from '@mikro-orm/migrations';

/** Actor snapshots and the append-only audit log. Runs unchanged on PostgreSQL and PGlite. */
export class Migration20261125000000_actor_snapshots_audit_log extends Migration {
  override up(): void {
    this.addSql(`create table actor_snapshots (
      id text primary key,
      kind text not null,
      parent text null,
      machine_version int not null,
      snapshot jsonb not null,
      status text not null default 'active' check (status in ('active', 'quarantined', 'done')),
      status_reason text null,
      version int not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);
    this.addSql('create index actor_snapshots_parent_idx on actor_snapshots (parent)');
    this.addSql('create index actor_snapshots_status_kind_idx on actor_snapshots (status, kind)');
    this.addSql(`create table audit_log (
      id bigserial primary key,
      at timestamptz not null default now(),
      actor text not null,
      action text not null,
      subject text null,
      details jsonb not null default '{}'::jsonb,
      corr_id text null
    )`);
    this.addSql('create index audit_log_subject_idx on audit_log (subject, at)');
    this.addSql(`create function audit_log_append_only() returns trigger language plpgsql as $$
      begin raise exception 'audit_log is append-only'; end $$`);
    this.addSql('create trigger audit_log_no_update before update or delete on audit_log for each row execute function audit_log_append_only()');
    this.addSql('create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_append_only()');
  }

  override down(): void {
    this.addSql('drop table audit_log');
    this.addSql('drop function audit_log_append_only');
    this.addSql('drop table actor_snapshots');
  }
}
